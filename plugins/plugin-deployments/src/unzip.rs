//! Safe extraction of an uploaded `.zip` into a staging folder: entries that would escape it
//! (zip-slip: `..`, absolute paths, backslashes), links and special files are refused, and the
//! total uncompressed size and entry count are capped (zip bombs) — counted as bytes actually
//! written, so a lying header cannot get past the cap.

use std::fs::{self, OpenOptions};
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

use http::StatusCode;

use crate::error::ApiError;
use crate::paths::relative_segments;

/// Caps for one archive.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Total uncompressed bytes.
    pub max_bytes: u64,
    /// Entries (files and folders).
    pub max_entries: usize,
}

fn unsafe_entry(archive: &str, entry: &str, why: &str) -> ApiError {
    ApiError::bad("ZIP_UNSAFE_ENTRY", format!("`{archive}`: entry `{}` {why}; nothing was written", entry.escape_debug()))
}

fn too_large(archive: &str, what: String) -> ApiError {
    ApiError { status: StatusCode::PAYLOAD_TOO_LARGE, code: "ZIP_TOO_LARGE", message: format!("`{archive}`: {what}; nothing was written") }
}

/// Extracts `reader` (a zip) into `dest`, returning the files written (relative to `dest`).
///
/// # Errors
/// `INVALID_ZIP` (400) when it cannot be read, `ZIP_UNSAFE_ENTRY` (400), `ZIP_TOO_LARGE` (413);
/// the caller discards `dest`.
pub fn extract<R: Read + Seek>(reader: R, archive: &str, dest: &Path, limits: Limits) -> Result<Vec<PathBuf>, ApiError> {
    let corrupt = |e: &dyn std::fmt::Display| ApiError::bad("INVALID_ZIP", format!("`{archive}` is not a readable zip archive: {e}"));
    let mut zip = zip::ZipArchive::new(reader).map_err(|e| corrupt(&e))?;
    if zip.len() > limits.max_entries {
        return Err(too_large(archive, format!("{} entries, more than the {} allowed (`zipMaxEntries`)", zip.len(), limits.max_entries)));
    }
    let declared: u64 = (0..zip.len()).filter_map(|i| zip.by_index_raw(i).ok().map(|f| f.size())).fold(0u64, u64::saturating_add);
    if declared > limits.max_bytes {
        return Err(too_large(archive, format!("expands to {declared} bytes, more than the {} allowed (`zipMaxBytes`)", limits.max_bytes)));
    }
    let mut written = 0u64;
    let mut files = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| corrupt(&e))?;
        let name = entry.name().map_err(|e| corrupt(&e))?.into_owned();
        if name.contains('\\') || name.contains('\0') {
            return Err(unsafe_entry(archive, &name, "has a backslash or NUL in its name"));
        }
        let segments = relative_segments(&name, "zip entry").map_err(|_| unsafe_entry(archive, &name, "escapes the upload folder"))?;
        if entry.enclosed_name().is_none() {
            return Err(unsafe_entry(archive, &name, "escapes the upload folder"));
        }
        const S_IFMT: u32 = 0o170_000;
        if entry.is_symlink() || entry.unix_mode().is_some_and(|m| !matches!(m & S_IFMT, 0 | 0o100_000 | 0o040_000)) {
            return Err(unsafe_entry(archive, &name, "is a symbolic link or a special file"));
        }
        let rel: PathBuf = segments.iter().collect();
        let path = dest.join(&rel);
        let io = |e: std::io::Error| ApiError::internal("UPLOAD_FAILED", format!("`{archive}`: cannot write `{name}`: {}", e.kind()));
        if entry.is_dir() {
            fs::create_dir_all(&path).map_err(io)?;
            continue;
        }
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io)?;
        }
        let mut out = OpenOptions::new().write(true).create_new(true).open(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => unsafe_entry(archive, &name, "appears twice"),
            _ => io(e),
        })?;
        let remaining = limits.max_bytes - written;
        let n = std::io::copy(&mut (&mut entry).take(remaining + 1), &mut out).map_err(|e| corrupt(&e))?;
        if n > remaining {
            return Err(too_large(archive, format!("expands past the {} bytes allowed (`zipMaxBytes`)", limits.max_bytes)));
        }
        written += n;
        files.push(rel);
    }
    Ok(files)
}
