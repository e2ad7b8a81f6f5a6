//! The one place request paths become filesystem paths: `"<root>/<relative>"` parsed, checked
//! for traversal (`..`, encoded or not, NUL, backslashes) and resolved inside its root, following
//! symlinks only where they stay below the root.
//!
//! A check and the operation after it are not atomic: a local user who can swap a directory for a
//! symlink in between wins the race. Only the runtime's own operators write these trees.

use std::path::{Component, Path, PathBuf};

use http::StatusCode;
use percent_encoding::percent_decode_str;

use crate::error::ApiError;
use crate::roots::Root;

/// A path inside one root, not yet checked against the filesystem.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// The root it is in.
    pub root: &'a Root,
    /// The segments below the root, each a plain name.
    pub segments: Vec<String>,
}

impl Target<'_> {
    /// The path below the root's real directory.
    pub fn abs(&self) -> PathBuf {
        let mut p = self.root.real.clone();
        p.extend(&self.segments);
        p
    }

    /// The same path below the directory as configured (how the app resolver spells it).
    pub fn configured(&self) -> PathBuf {
        let mut p = self.root.dir.clone();
        p.extend(&self.segments);
        p
    }

    /// Whether this is the root directory itself.
    pub fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    /// `"<root>/<relative>"`, as clients write it.
    pub fn display(&self) -> String {
        let mut s = self.root.name.clone();
        for seg in &self.segments {
            s.push('/');
            s.push_str(seg);
        }
        s
    }

    /// The last segment (the root's name for the root itself).
    pub fn name(&self) -> &str {
        self.segments.last().map_or(self.root.name.as_str(), String::as_str)
    }

    /// The parent inside the same root (`None` for the root).
    pub fn parent(&self) -> Option<Self> {
        let mut segments = self.segments.clone();
        segments.pop()?;
        Some(Self { root: self.root, segments })
    }

    /// A child of this path.
    ///
    /// # Errors
    /// `INVALID_NAME` when `name` is not a plain name.
    pub fn child(&self, name: &str, field: &str) -> Result<Self, ApiError> {
        check_name(name, field)?;
        let mut segments = self.segments.clone();
        segments.push(name.to_owned());
        Ok(Self { root: self.root, segments })
    }

    /// Whether `other` is this path or below it.
    pub fn contains(&self, other: &Target<'_>) -> bool {
        std::ptr::eq(self.root, other.root) && other.segments.starts_with(&self.segments)
    }
}

/// Parses `raw` (`"apps/todo/1.0.0"`); `Ok(None)` is the virtual root that lists the roots.
/// Leading, trailing and doubled slashes are ignored.
///
/// # Errors
/// `INVALID_PATH` (400) for `.`/`..` segments (also percent-encoded), NUL, backslashes or control
/// characters; `NOT_FOUND` (404) for an unknown root name (routes give it their own code).
pub fn parse<'a>(roots: &'a [Root], raw: &str, field: &str) -> Result<Option<Target<'a>>, ApiError> {
    let mut segments = Vec::new();
    for seg in raw.split('/').filter(|s| !s.is_empty()) {
        check_segment(seg, raw, field)?;
        segments.push(seg.to_owned());
    }
    let Some(first) = segments.first() else { return Ok(None) };
    let root = roots
        .iter()
        .find(|r| r.name == *first)
        .ok_or_else(|| ApiError::not_found("NOT_FOUND", format!("`{field}`: no root named `{first}` (roots: {})", names(roots))))?;
    segments.remove(0);
    Ok(Some(Target { root, segments }))
}

fn names(roots: &[Root]) -> String {
    roots.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(", ")
}

fn invalid(field: &str, raw: &str, why: &str) -> ApiError {
    ApiError::bad("INVALID_PATH", format!("`{field}` `{}`: {why}", raw.escape_debug()))
}

fn check_segment(seg: &str, raw: &str, field: &str) -> Result<(), ApiError> {
    if seg == "." || seg == ".." {
        return Err(invalid(field, raw, "`.` and `..` segments are not allowed"));
    }
    if seg.contains('\\') || seg.chars().any(char::is_control) {
        return Err(invalid(field, raw, "backslashes, NUL and control characters are not allowed"));
    }
    // Refuse what a later decoding would turn into traversal, so no layer can be walked around.
    if seg.contains('%') {
        let decoded = percent_decode_str(seg).decode_utf8_lossy();
        if decoded == "." || decoded == ".." || decoded.contains(['/', '\\', '\0']) {
            return Err(invalid(field, raw, "percent-encoded `.`, `..`, separators and NUL are not allowed"));
        }
    }
    Ok(())
}

/// Checks a single entry name (`newName`, an upload's file name).
///
/// # Errors
/// `INVALID_NAME` (400) for empty names, `.`, `..`, separators, NUL or control characters.
pub fn check_name(name: &str, field: &str) -> Result<(), ApiError> {
    let bad = |why: &str| ApiError::bad("INVALID_NAME", format!("`{field}` `{}`: {why}", name.escape_debug()));
    if name.is_empty() || name == "." || name == ".." {
        return Err(bad("must be a file or folder name"));
    }
    if name.contains(['/', '\\']) || name.chars().any(char::is_control) {
        return Err(bad("slashes, backslashes, NUL and control characters are not allowed"));
    }
    Ok(())
}

/// Splits a relative path from an upload (`paths[]`, a zip entry) into plain names.
///
/// # Errors
/// `INVALID_PATH` for absolute paths, `..`, NUL or backslashes.
pub fn relative_segments(rel: &str, field: &str) -> Result<Vec<String>, ApiError> {
    if rel.starts_with('/') {
        return Err(invalid(field, rel, "absolute paths are not allowed"));
    }
    let mut out = Vec::new();
    for seg in rel.split('/').filter(|s| !s.is_empty()) {
        check_segment(seg, rel, field)?;
        out.push(seg.to_owned());
    }
    if out.is_empty() {
        return Err(invalid(field, rel, "names no file"));
    }
    Ok(out)
}

fn outside(t: &Target<'_>) -> ApiError {
    ApiError { status: StatusCode::FORBIDDEN, code: "PATH_OUTSIDE_ROOT", message: format!("`{}` leads outside its root through a symbolic link", t.display()) }
}

/// Whether `p` is below the root's real directory once every symlink is resolved. `Ok(None)`
/// when `p` does not exist.
fn resolved_inside(root: &Root, p: &Path) -> std::io::Result<Option<bool>> {
    match std::fs::canonicalize(p) {
        Ok(real) => Ok(Some(real.starts_with(&root.real))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Resolves an existing path to read or write through (symlinks followed, and they must stay
/// inside the root). `Ok(None)` when nothing is there.
///
/// # Errors
/// `PATH_OUTSIDE_ROOT` (403) when a symlink leads out; `IO_ERROR` when the path cannot be read.
pub fn existing(t: &Target<'_>) -> Result<Option<PathBuf>, ApiError> {
    let abs = t.abs();
    match resolved_inside(t.root, &abs) {
        Ok(Some(true)) => Ok(Some(abs)),
        Ok(Some(false)) => Err(outside(t)),
        Ok(None) => {
            // A dangling link is still an entry (it can be deleted or renamed).
            if std::fs::symlink_metadata(&abs).is_ok() { entry(t).map(Some) } else { Ok(None) }
        }
        Err(e) => Err(io_error(t, &e)),
    }
}

/// Resolves the entry itself (a symlink is not followed), for deletes and renames: its parent must
/// resolve inside the root.
///
/// # Errors
/// `PATH_OUTSIDE_ROOT` when the parent leads out; `IO_ERROR`.
pub fn entry(t: &Target<'_>) -> Result<PathBuf, ApiError> {
    let abs = t.abs();
    let parent = abs.parent().map(Path::to_owned).unwrap_or_else(|| t.root.real.clone());
    match resolved_inside(t.root, &parent) {
        Ok(Some(true) | None) => Ok(abs),
        Ok(Some(false)) => Err(outside(t)),
        Err(e) => Err(io_error(t, &e)),
    }
}

/// Creates the directory `t` and any missing parents, one level at a time, refusing to pass
/// through anything but directories that resolve inside the root. Returns its path.
///
/// # Errors
/// `PATH_OUTSIDE_ROOT`; `NOT_A_DIRECTORY` (409) when a file is in the way; `IO_ERROR`.
pub fn create_dirs(t: &Target<'_>) -> Result<PathBuf, ApiError> {
    let mut at = t.root.real.clone();
    std::fs::create_dir_all(&at).map_err(|e| io_error(t, &e))?;
    for (i, seg) in t.segments.iter().enumerate() {
        at.push(seg);
        let partial = Target { root: t.root, segments: t.segments[..=i].to_vec() };
        match std::fs::metadata(&at) {
            Ok(m) if m.is_dir() => {
                if resolved_inside(t.root, &at).map_err(|e| io_error(t, &e))? != Some(true) {
                    return Err(outside(&partial));
                }
            }
            Ok(_) => {
                return Err(ApiError {
                    status: StatusCode::CONFLICT,
                    code: "NOT_A_DIRECTORY",
                    message: format!("`{}` is a file, not a folder", partial.display()),
                });
            }
            Err(_) if std::fs::symlink_metadata(&at).is_ok() => return Err(outside(&partial)),
            Err(_) => match std::fs::create_dir(&at) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && at.is_dir() => {}
                Err(e) => return Err(io_error(&partial, &e)),
            },
        }
    }
    Ok(at)
}

/// An I/O failure on `t`, as a 500 naming the path (never the host's absolute path).
pub fn io_error(t: &Target<'_>, e: &std::io::Error) -> ApiError {
    ApiError::internal("IO_ERROR", format!("`{}`: {}", t.display(), e.kind()))
}

/// Whether `p` is made only of plain names (no `..`, root or prefix).
pub fn is_plain_relative(p: &Path) -> bool {
    p.components().all(|c| matches!(c, Component::Normal(_)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roots::{Root, RootKind};

    fn roots(dir: &Path) -> Vec<Root> {
        let apps = dir.join("apps");
        std::fs::create_dir_all(&apps).unwrap();
        vec![Root { name: "apps".into(), real: apps.canonicalize().unwrap(), dir: apps, kind: RootKind::Apps }]
    }

    #[test]
    fn paths_split_into_root_and_plain_segments_ignoring_edge_slashes() {
        let t = tempfile::tempdir().unwrap();
        let r = roots(t.path());
        assert!(parse(&r, "", "path").unwrap().is_none());
        assert!(parse(&r, "///", "path").unwrap().is_none());
        let p = parse(&r, "/apps//todo/1.0.0/", "path").unwrap().unwrap();
        assert_eq!(p.segments, ["todo", "1.0.0"]);
        assert_eq!(p.display(), "apps/todo/1.0.0");
        assert!(parse(&r, "apps", "path").unwrap().unwrap().is_root());
        let e = parse(&r, "nope/x", "path").unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (404, "NOT_FOUND"));
    }

    #[test]
    fn traversal_nul_backslashes_and_encoded_dots_are_refused_naming_the_field() {
        let t = tempfile::tempdir().unwrap();
        let r = roots(t.path());
        for bad in ["apps/../etc", "apps/x/..", "../apps", "apps/.", "apps/a\0b", "apps/a\\..\\b", "apps/%2e%2e/x", "apps/%2E%2e", "apps/a%2fb", "apps/a%00", "apps/\u{1b}x"] {
            let e = parse(&r, bad, "destPath").unwrap_err();
            assert_eq!((e.status.as_u16(), e.code), (400, "INVALID_PATH"), "{bad}");
            assert!(e.message.contains("destPath"), "{}", e.message);
        }
        // A literal percent that decodes to nothing dangerous is just a name.
        assert!(parse(&r, "apps/100%25", "path").is_ok());
        for bad in ["../x", "/abs", "a/../../b", "a\\b"] {
            assert!(relative_segments(bad, "paths[]").is_err(), "{bad}");
        }
        assert_eq!(relative_segments("a//b/", "paths[]").unwrap(), ["a", "b"]);
        for bad in ["", ".", "..", "a/b", "a\\b", "a\0"] {
            assert_eq!(check_name(bad, "newName").unwrap_err().code, "INVALID_NAME", "{bad:?}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_that_leave_the_root_are_refused_and_inner_ones_followed() {
        let t = tempfile::tempdir().unwrap();
        let r = roots(t.path());
        let outside_dir = t.path().join("secret");
        std::fs::create_dir_all(&outside_dir).unwrap();
        std::fs::write(outside_dir.join("key"), "x").unwrap();
        std::os::unix::fs::symlink(&outside_dir, r[0].real.join("escape")).unwrap();
        std::fs::create_dir_all(r[0].real.join("real")).unwrap();
        std::os::unix::fs::symlink(r[0].real.join("real"), r[0].real.join("inner")).unwrap();

        let esc = parse(&r, "apps/escape/key", "path").unwrap().unwrap();
        assert_eq!(existing(&esc).unwrap_err().code, "PATH_OUTSIDE_ROOT");
        assert_eq!(entry(&esc).unwrap_err().code, "PATH_OUTSIDE_ROOT");
        assert_eq!(create_dirs(&parse(&r, "apps/escape/new", "path").unwrap().unwrap()).unwrap_err().code, "PATH_OUTSIDE_ROOT");
        assert!(!outside_dir.join("new").exists());
        // The link itself may be deleted: its parent is inside.
        assert!(entry(&parse(&r, "apps/escape", "path").unwrap().unwrap()).is_ok());
        assert!(existing(&parse(&r, "apps/inner", "path").unwrap().unwrap()).unwrap().is_some());
        assert!(existing(&parse(&r, "apps/missing", "path").unwrap().unwrap()).unwrap().is_none());
        let made = create_dirs(&parse(&r, "apps/inner/a/b", "path").unwrap().unwrap()).unwrap();
        assert!(made.is_dir() && r[0].real.join("real/a/b").is_dir());
    }
}
