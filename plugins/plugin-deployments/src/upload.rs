//! `POST /api/upload`: multipart `path`, `files[]` and `paths[]`, each file streamed to a hidden
//! staging folder and `.zip` files extracted there (safely, capped). Only when every file arrived
//! and every archive checked out are the files renamed into place, one at a time under the write
//! lock: a failed upload leaves the tree as it was, and concurrent uploads to one version each
//! land whole, the later one winning file by file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::Multipart;
use axum::extract::multipart::{MultipartError, MultipartRejection};
use http::StatusCode;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::State;
use crate::error::{ApiError, ApiResult};
use crate::ops::{self, Touched};
use crate::paths::{self, Target};
use crate::unzip;

/// One received file, staged.
struct Staged {
    /// Where it was written.
    file: PathBuf,
    /// Its client-side name (`filename` of the part).
    file_name: String,
}

fn multipart_error(e: &MultipartError, limit: u64) -> ApiError {
    // The runtime caps the body before axum sees it; its error arrives wrapped.
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE || buntime_core::body::is_limit_error(e) {
        ApiError { status: StatusCode::PAYLOAD_TOO_LARGE, code: "PAYLOAD_TOO_LARGE", message: format!("uploads are limited to {limit} bytes (`maxUploadSize`)") }
    } else {
        ApiError::bad("INVALID_UPLOAD", format!("the multipart body cannot be read: {}", e.body_text()))
    }
}

/// Receives the multipart body into `staging`.
async fn receive(mut multipart: Multipart, staging: &Path, limit: u64) -> ApiResult<(Option<String>, Vec<Staged>, Vec<String>)> {
    let mut path = None;
    let mut files = Vec::new();
    let mut names = Vec::new();
    let mut total = 0u64;
    while let Some(mut field) = multipart.next_field().await.map_err(|e| multipart_error(&e, limit))? {
        let field_name = field.name().unwrap_or_default().to_owned();
        match field_name.as_str() {
            "path" => path = Some(field.text().await.map_err(|e| multipart_error(&e, limit))?),
            "paths" | "paths[]" => names.push(field.text().await.map_err(|e| multipart_error(&e, limit))?),
            "files" | "files[]" | "file" => {
                let file_name = field.file_name().unwrap_or_default().to_owned();
                let file = staging.join(format!("part-{}", files.len()));
                let mut out = tokio::fs::File::create(&file).await.map_err(|e| ApiError::internal("UPLOAD_FAILED", format!("cannot stage `{file_name}`: {}", e.kind())))?;
                while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(&e, limit))? {
                    total += chunk.len() as u64;
                    if total > limit {
                        return Err(ApiError { status: StatusCode::PAYLOAD_TOO_LARGE, code: "PAYLOAD_TOO_LARGE", message: format!("uploads are limited to {limit} bytes (`maxUploadSize`)") });
                    }
                    out.write_all(&chunk).await.map_err(|e| ApiError::internal("UPLOAD_FAILED", format!("cannot stage `{file_name}`: {}", e.kind())))?;
                }
                out.flush().await.map_err(|e| ApiError::internal("UPLOAD_FAILED", format!("cannot stage `{file_name}`: {}", e.kind())))?;
                files.push(Staged { file, file_name });
            }
            // Unknown fields are drained and ignored.
            _ => while field.chunk().await.map_err(|e| multipart_error(&e, limit))?.is_some() {},
        }
    }
    Ok((path, files, names))
}

/// A file to put in place: the staged file and its path below the upload's target folder.
struct Planned {
    from: PathBuf,
    rel: Vec<String>,
}

/// Turns the staged parts into the files to place, extracting zips (blocking).
fn plan(st: &State, staging: &Path, files: &[Staged], names: &[String]) -> ApiResult<Vec<Planned>> {
    let mut out = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let (rel_raw, field) = match names.get(i).filter(|n| !n.is_empty()) {
            Some(n) => (n.as_str(), "paths[]"),
            None => (f.file_name.as_str(), "files[]"),
        };
        if rel_raw.is_empty() {
            return Err(ApiError::bad("INVALID_NAME", format!("file {} has no name: send its `filename` or a `paths[]` entry", i + 1)));
        }
        let rel = paths::relative_segments(rel_raw, field)?;
        for seg in &rel {
            paths::check_name(seg, field)?;
        }
        if rel.last().is_some_and(|n| n.to_ascii_lowercase().ends_with(".zip")) {
            let dir = staging.join(format!("zip-{i}"));
            std::fs::create_dir(&dir).map_err(|e| ApiError::internal("UPLOAD_FAILED", format!("cannot stage `{rel_raw}`: {}", e.kind())))?;
            let reader = std::fs::File::open(&f.file).map_err(|e| ApiError::internal("UPLOAD_FAILED", format!("cannot read `{rel_raw}`: {}", e.kind())))?;
            let limits = unzip::Limits { max_bytes: st.config.zip_max_bytes, max_entries: st.config.zip_max_entries };
            let parent = &rel[..rel.len() - 1];
            for entry in unzip::extract(std::io::BufReader::new(reader), rel_raw, &dir, limits)? {
                let mut r: Vec<String> = parent.to_vec();
                r.extend(entry.components().map(|c| c.as_os_str().to_string_lossy().into_owned()));
                out.push(Planned { from: dir.join(&entry), rel: r });
            }
        } else {
            out.push(Planned { from: f.file.clone(), rel });
        }
    }
    Ok(out)
}

/// Moves `from` to `to`, replacing a file there in one step; across filesystems it copies next to
/// `to` first, so the replacement is still one rename.
fn place(from: &Path, to: &Path) -> std::io::Result<()> {
    match std::fs::rename(from, to) {
        Err(e) if e.kind() == std::io::ErrorKind::CrossesDevices => {
            let parent = to.parent().unwrap_or(Path::new("."));
            let tmp = tempfile::Builder::new().prefix(crate::STAGING_PREFIX).tempfile_in(parent)?;
            std::fs::copy(from, tmp.path())?;
            tmp.persist(to).map_err(|e| e.error)?;
            Ok(())
        }
        other => other,
    }
}

/// Checks every destination before anything moves: a file may not land where a folder is, nor
/// below a file.
fn check_conflicts(target: &Target<'_>, planned: &[Planned]) -> ApiResult<()> {
    for p in planned {
        let mut t = target.clone();
        for (i, seg) in p.rel.iter().enumerate() {
            t = t.child(seg, "paths[]")?;
            let last = i + 1 == p.rel.len();
            let Some(abs) = paths::existing(&t)? else { break };
            let is_dir = abs.is_dir();
            if last && is_dir {
                return Err(ApiError { status: StatusCode::CONFLICT, code: "NOT_A_FILE", message: format!("`{}` is a folder; a file cannot replace it", t.display()) });
            }
            if !last && !is_dir {
                return Err(ApiError { status: StatusCode::CONFLICT, code: "NOT_A_DIRECTORY", message: format!("`{}` is a file, not a folder", t.display()) });
            }
        }
    }
    Ok(())
}

/// Places the planned files below `target` (blocking, under the write lock).
fn commit(target: &Target<'_>, planned: &[Planned]) -> ApiResult<Vec<String>> {
    check_conflicts(target, planned)?;
    let mut written = Vec::new();
    for p in planned {
        let mut file = target.clone();
        for seg in &p.rel {
            file = file.child(seg, "paths[]")?;
        }
        let parent = file.parent().unwrap_or_else(|| target.clone());
        let dir = paths::create_dirs(&parent)?;
        place(&p.from, &dir.join(file.name())).map_err(|e| paths::io_error(&file, &e))?;
        written.push(file.display());
    }
    Ok(written)
}

/// The handler.
pub(crate) async fn upload(st: Arc<State>, multipart: Result<Multipart, MultipartRejection>) -> ApiResult<Value> {
    let multipart = multipart.map_err(|_| ApiError::bad("NO_FILES_PROVIDED", "send multipart/form-data with `path` and one or more `files[]`"))?;
    // Staged in the first root until `path` is known (fields may come in any order); `place`
    // copies when the target root is on another filesystem.
    let first = st.roots.first().ok_or_else(|| ApiError::bad("CANNOT_UPLOAD_TO_ROOT", "no roots are configured"))?;
    std::fs::create_dir_all(&first.real).map_err(|e| ApiError::internal("UPLOAD_FAILED", format!("cannot prepare the upload: {}", e.kind())))?;
    let staging = tempfile::Builder::new()
        .prefix(crate::STAGING_PREFIX)
        .tempdir_in(&first.real)
        .map_err(|e| ApiError::internal("UPLOAD_FAILED", format!("cannot prepare the upload: {}", e.kind())))?;
    let (path, files, names) = receive(multipart, staging.path(), st.config.max_upload_bytes).await?;
    if files.is_empty() {
        return Err(ApiError::bad("NO_FILES_PROVIDED", "no `files[]` in the upload"));
    }
    let raw = path.unwrap_or_default();
    let to_root = || ApiError::bad("CANNOT_UPLOAD_TO_ROOT", "`path` must name a folder inside a root, such as `apps/my-app/1.0.0`");
    if paths::parse(&st.roots, &raw, "path")?.is_none() {
        return Err(to_root());
    }
    // Zips are extracted (and refused) before the write lock is taken: only placing files waits.
    let planner = st.clone();
    let staging_dir = staging.path().to_owned();
    let planned = tokio::task::spawn_blocking(move || plan(&planner, &staging_dir, &files, &names))
        .await
        .map_err(|_| ApiError::internal("UPLOAD_FAILED", "the upload failed unexpectedly; the runtime log has details"))??;
    ops::write(&st, move |st: &State| {
        let target = paths::parse(&st.roots, &raw, "path")?.ok_or_else(to_root)?;
        let written = commit(&target, &planned)?;
        drop(staging);
        // What changed is each top-level entry written below the target, not the target itself:
        // an upload of a new app into the root must not retire every app's workers.
        let mut touched: Vec<Touched> = Vec::new();
        for p in &planned {
            let top = target.child(&p.rel[0], "paths[]")?;
            if !touched.iter().any(|t| t.real == top.abs()) {
                touched.push(Touched::of(&top));
            }
        }
        Ok((json!({"success": true, "data": {"path": target.display(), "files": written}}), touched))
    })
    .await
}
