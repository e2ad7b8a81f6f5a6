//! The tree changes behind mkdir, delete, rename and move: each one rename (or one `mkdir`), so it
//! happens whole or not at all, run one at a time, and announced to the app resolver after.

use std::path::PathBuf;
use std::sync::Arc;

use http::StatusCode;
use serde_json::{Value, json};

use crate::State;
use crate::error::{ApiError, ApiResult};
use crate::layout::{inside_version, version_folder};
use crate::paths::{self, Target};

/// A path a change touched: where the plugin sees it, and how the app resolver spells it.
#[derive(Debug, Clone)]
pub(crate) struct Touched {
    pub(crate) real: PathBuf,
    pub(crate) configured: PathBuf,
}

impl Touched {
    pub(crate) fn of(t: &Target<'_>) -> Self {
        Self { real: t.abs(), configured: t.configured() }
    }
}

/// Runs `f` on a blocking thread while holding the write lock, then drops the size caches of
/// what it touched and tells the app backend (new versions route at once; workers of changed or
/// removed apps retire gracefully).
pub(crate) async fn write<T: Send + 'static>(
    st: &Arc<State>,
    f: impl FnOnce(&State) -> ApiResult<(T, Vec<Touched>)> + Send + 'static,
) -> ApiResult<T> {
    let guard = st.writes.lock().await;
    let inner = st.clone();
    let (out, touched) = tokio::task::spawn_blocking(move || f(&inner))
        .await
        .map_err(|_| ApiError::internal("INTERNAL_SERVER_ERROR", "the file operation failed unexpectedly; the runtime log has details"))??;
    drop(guard);
    announce(st, &touched).await;
    Ok(out)
}

/// Drops caches for `touched` and tells the app backend.
pub(crate) async fn announce(st: &State, touched: &[Touched]) {
    for t in touched {
        st.sizes.invalidate(&t.real);
    }
    if let Some(apps) = &st.apps
        && !touched.is_empty()
    {
        let configured: Vec<PathBuf> = touched.iter().map(|t| t.configured.clone()).collect();
        let retired = apps.files_changed(&configured).await;
        if !retired.is_empty() {
            tracing::info!(keys = ?retired, "Deployment change retired workers.");
        }
    }
}

fn required<'a>(st: &'a State, raw: Option<&str>, field: &str, code: &'static str, root_code: &'static str, what: &str) -> ApiResult<Target<'a>> {
    let raw = raw.filter(|s| !s.trim().is_empty()).ok_or_else(|| ApiError::bad(code, format!("`{field}` is required")))?;
    match paths::parse(&st.roots, raw, field)? {
        Some(t) if !t.is_root() => Ok(t),
        _ => Err(ApiError::bad(root_code, format!("`{field}` `{raw}` is a root; {what}"))),
    }
}

fn not_found(t: &Target<'_>) -> ApiError {
    ApiError::not_found("FILE_NOT_FOUND", format!("`{}` does not exist", t.display()))
}

fn already_exists(t: &Target<'_>) -> ApiError {
    ApiError { status: StatusCode::CONFLICT, code: "ALREADY_EXISTS", message: format!("`{}` already exists", t.display()) }
}

/// `POST /api/mkdir {path}`: creates the folder and missing parents; an existing folder is fine.
pub(crate) fn mkdir(st: &State, raw: Option<&str>) -> ApiResult<(Value, Vec<Touched>)> {
    let t = required(st, raw, "path", "PATH_REQUIRED", "CANNOT_CREATE_AT_ROOT", "create folders inside a root, such as `apps/my-app`")?;
    paths::create_dirs(&t)?;
    Ok((json!({"success": true, "data": {"path": t.display()}}), vec![Touched::of(&t)]))
}

/// `DELETE /api/delete {path}`: moves the entry into a hidden staging folder (one rename: it
/// vanishes from routing at once), then removes it.
pub(crate) fn delete(st: &State, raw: Option<&str>) -> ApiResult<(Value, Vec<Touched>)> {
    let t = required(st, raw, "path", "PATH_REQUIRED", "CANNOT_DELETE_ROOT", "roots cannot be deleted")?;
    let abs = paths::entry(&t)?;
    let meta = std::fs::symlink_metadata(&abs).map_err(|_| not_found(&t))?;
    if meta.is_dir() {
        let trash = tempfile::Builder::new().prefix(crate::STAGING_PREFIX).tempdir_in(&t.root.real).map_err(|e| paths::io_error(&t, &e))?;
        match std::fs::rename(&abs, trash.path().join("removed")) {
            Ok(()) => drop(trash),
            // Another filesystem mounted below the root: remove in place.
            Err(e) if e.kind() == std::io::ErrorKind::CrossesDevices => std::fs::remove_dir_all(&abs).map_err(|e| paths::io_error(&t, &e))?,
            Err(e) => return Err(paths::io_error(&t, &e)),
        }
    } else {
        std::fs::remove_file(&abs).map_err(|e| paths::io_error(&t, &e))?;
    }
    Ok((json!({"success": true}), vec![Touched::of(&t)]))
}

/// `POST /api/rename {path, newName}`: renames in place; never replaces an existing entry.
pub(crate) fn rename(st: &State, raw: Option<&str>, new_name: Option<&str>) -> ApiResult<(Value, Vec<Touched>)> {
    let (Some(raw), Some(new_name)) = (raw.filter(|s| !s.trim().is_empty()), new_name.filter(|s| !s.is_empty())) else {
        return Err(ApiError::bad("PATH_AND_NAME_REQUIRED", "`path` and `newName` are required"));
    };
    let t = required(st, Some(raw), "path", "PATH_AND_NAME_REQUIRED", "CANNOT_RENAME_ROOT", "roots are named after their directories")?;
    let parent = t.parent().ok_or_else(|| ApiError::bad("CANNOT_RENAME_ROOT", "roots cannot be renamed"))?;
    let dest = parent.child(new_name, "newName")?;
    let from = paths::entry(&t)?;
    if std::fs::symlink_metadata(&from).is_err() {
        return Err(not_found(&t));
    }
    if dest.segments == t.segments {
        return Ok((json!({"success": true, "data": {"path": dest.display()}}), Vec::new()));
    }
    let to = paths::entry(&dest)?;
    if std::fs::symlink_metadata(&to).is_ok() {
        return Err(already_exists(&dest));
    }
    std::fs::rename(&from, &to).map_err(|e| paths::io_error(&t, &e))?;
    Ok((json!({"success": true, "data": {"path": dest.display()}}), vec![Touched::of(&t), Touched::of(&dest)]))
}

/// `POST /api/move {path, destPath}`: an item inside a version folder into a version folder (or a
/// folder inside one) of the same root.
pub(crate) fn move_to(st: &State, raw: Option<&str>, dest_raw: Option<&str>) -> ApiResult<(Value, Vec<Touched>)> {
    let raw = raw.filter(|s| !s.trim().is_empty()).ok_or_else(|| ApiError::bad("PATH_REQUIRED", "`path` is required"))?;
    let dest_raw = dest_raw.filter(|s| !s.trim().is_empty()).ok_or_else(|| ApiError::bad("DEST_PATH_REQUIRED", "`destPath` is required"))?;
    let t = required(st, Some(raw), "path", "PATH_REQUIRED", "CANNOT_MOVE_ROOT", "roots cannot be moved")?;
    let dest = paths::parse(&st.roots, dest_raw, "destPath")?
        .ok_or_else(|| ApiError::bad("CROSS_DIR_MOVE_NOT_SUPPORTED", "`destPath` must be a folder inside the same root"))?;
    if !std::ptr::eq(t.root, dest.root) {
        return Err(ApiError::bad("CROSS_DIR_MOVE_NOT_SUPPORTED", format!("`{}` and `{}` are in different roots", t.display(), dest.display())));
    }
    if !inside_version(&t) {
        return Err(ApiError::bad("NOT_IN_VERSION", format!("`{}` is not inside a version folder (`app/1.0.0/…`); only a version's files and folders move", t.display())));
    }
    if version_folder(&dest).is_none() {
        return Err(ApiError::bad("DEST_NOT_IN_VERSION", format!("`destPath` `{}` is not a version folder or inside one", dest.display())));
    }
    if t.contains(&dest) {
        return Err(ApiError::bad("CANNOT_MOVE_INTO_ITSELF", format!("`{}` cannot move into itself (`{}`)", t.display(), dest.display())));
    }
    let from = paths::entry(&t)?;
    if std::fs::symlink_metadata(&from).is_err() {
        return Err(not_found(&t));
    }
    let dest_dir = paths::existing(&dest)?.filter(|p| p.is_dir()).ok_or_else(|| ApiError::not_found("DEST_NOT_FOUND", format!("`destPath`: no folder `{}`", dest.display())))?;
    let target = dest.child(t.name(), "path")?;
    if t.parent().is_some_and(|p| p.segments == dest.segments) {
        return Ok((json!({"success": true, "data": {"path": target.display()}}), Vec::new()));
    }
    let to = dest_dir.join(t.name());
    if std::fs::symlink_metadata(&to).is_ok() {
        return Err(already_exists(&target));
    }
    std::fs::rename(&from, &to).map_err(|e| ApiError::internal("MOVE_FAILED", format!("`{}` → `{}`: {}", t.display(), target.display(), e.kind())))?;
    Ok((json!({"success": true, "data": {"path": target.display()}}), vec![Touched::of(&t), Touched::of(&target)]))
}

/// Reads `paths` (a non-empty list of strings).
pub(crate) fn path_list(body: &Value) -> ApiResult<Vec<String>> {
    let bad = || ApiError::bad("PATHS_REQUIRED", "`paths` must be a non-empty list of paths");
    let list = body.get("paths").and_then(Value::as_array).filter(|l| !l.is_empty()).ok_or_else(bad)?;
    list.iter().map(|v| v.as_str().map(str::to_owned).ok_or_else(bad)).collect()
}

/// Runs `one` for every path, collecting `{path, code, message}` for the failures.
pub(crate) fn batch(
    st: &State,
    paths: &[String],
    one: impl Fn(&State, &str) -> ApiResult<(Value, Vec<Touched>)>,
) -> (Value, Vec<Touched>) {
    let mut errors = Vec::new();
    let mut touched = Vec::new();
    for p in paths {
        match one(st, p) {
            Ok((_, t)) => touched.extend(t),
            Err(e) => errors.push(json!({"path": p, "code": e.code, "message": e.message})),
        }
    }
    let body = if errors.is_empty() { json!({"success": true}) } else { json!({"success": false, "errors": errors}) };
    (body, touched)
}
