//! `GET /api/list`: the roots, or one folder's entries with sizes, visibility (inherited
//! downward; an app folder takes its most restrictive version's) and config validation.

use std::path::Path;
use std::time::SystemTime;

use serde_json::{Map, Value, json};

use crate::State;
use crate::download::skipped;
use crate::error::{ApiError, ApiResult};
use crate::layout::{is_version, version_folder};
use crate::meta::{self, Visibility};
use crate::paths::{self, Target};
use crate::roots::RootKind;

/// ISO 8601 in UTC with milliseconds, as JavaScript's `Date.toJSON` writes it.
pub(crate) fn iso8601(t: SystemTime) -> String {
    let t = jiff::Timestamp::try_from(t).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The names hidden below `t`: the configured ones and its version manifest's `excludes`.
pub(crate) fn excludes_for(st: &State, t: &Target<'_>) -> Vec<String> {
    let mut ex = st.config.excludes.clone();
    if let Some(v) = version_folder(t) {
        ex.extend(meta::read(&v.abs()).excludes);
    }
    ex
}

/// The version folders directly in `dir` (when it is an app folder).
fn version_dirs(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
    rd.flatten().filter(|e| is_version(&e.file_name().to_string_lossy()) && e.path().is_dir()).map(|e| e.path()).collect()
}

/// A folder's visibility: its manifest's, else (for an app folder) its most restrictive
/// version's, else `inherited`.
fn visibility_of(dir: &Path, own: Option<Visibility>, inherited: Option<Visibility>) -> Option<Visibility> {
    own.or_else(|| version_dirs(dir).iter().filter_map(|v| meta::read(v).visibility.or(inherited)).max()).or(inherited)
}

/// The visibility `t` has, walking its ancestors from the root down.
fn current_visibility(t: &Target<'_>) -> Option<Visibility> {
    let mut inherited = None;
    let mut dir = t.root.real.clone();
    for seg in &t.segments {
        dir.push(seg);
        inherited = meta::read(&dir).visibility.or(inherited);
    }
    if t.is_root() {
        return None;
    }
    visibility_of(&dir, meta::read(&dir).visibility, inherited)
}

fn dir_entry(st: &State, name: &str, path: &str, dir: &Path, excludes: &[String]) -> Map<String, Value> {
    let info = st.sizes.get(dir, &|n| skipped(n, excludes));
    let mut m = Map::new();
    m.insert("name".into(), json!(name));
    m.insert("path".into(), json!(path));
    m.insert("isDirectory".into(), json!(true));
    m.insert("size".into(), json!(info.size));
    m.insert("updatedAt".into(), json!(iso8601(info.updated)));
    m.insert("files".into(), json!(info.files));
    m
}

/// Lists `raw`.
pub(crate) fn list(st: &State, raw: &str) -> ApiResult<Value> {
    let not_found = |e: ApiError| if e.status == http::StatusCode::NOT_FOUND { e.with_code(http::StatusCode::NOT_FOUND, "DIR_NOT_FOUND") } else { e };
    let Some(t) = paths::parse(&st.roots, raw, "path").map_err(not_found)? else {
        let entries: Vec<Value> = st
            .roots
            .iter()
            .filter(|r| !r.hidden())
            .map(|r| Value::Object(dir_entry(st, &r.name, &r.name, &r.real, &st.config.excludes)))
            .collect();
        return Ok(json!({"success": true, "data": {"entries": entries, "path": ""}}));
    };
    let dir = paths::existing(&t)?.filter(|p| p.is_dir()).ok_or_else(|| ApiError::not_found("DIR_NOT_FOUND", format!("`path`: no folder `{}`", t.display())))?;
    let excludes = excludes_for(st, &t);
    let apps_root = t.root.kind == RootKind::Apps;
    let current = if apps_root { current_visibility(&t) } else { None };
    let rd = std::fs::read_dir(&dir).map_err(|e| paths::io_error(&t, &e))?;
    let mut entries: Vec<(bool, String, Value)> = Vec::new();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if skipped(&name, &excludes) {
            continue;
        }
        let child = format!("{}/{name}", t.display());
        let path = e.path();
        // Links are shown as what they point to, when that stays inside the root.
        let Ok(meta) = std::fs::metadata(&path) else { continue };
        if paths::existing(&Target { root: t.root, segments: [t.segments.clone(), vec![name.clone()]].concat() }).is_err() {
            continue;
        }
        if meta.is_dir() {
            let mut m = dir_entry(st, &name, &child, &path, &excludes);
            if apps_root {
                let folder = meta::read(&path);
                let vis = visibility_of(&path, folder.visibility, current);
                if vis == Some(Visibility::Internal) {
                    continue;
                }
                if let Some(v) = vis {
                    m.insert("visibility".into(), json!(v));
                }
                if let Some(v) = folder.validation {
                    m.insert("configValidation".into(), json!(v));
                }
            }
            entries.push((true, name, Value::Object(m)));
        } else {
            let updated = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            let v = json!({"name": name, "path": child, "isDirectory": false, "size": meta.len(), "updatedAt": iso8601(updated)});
            entries.push((false, name, v));
        }
    }
    entries.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.to_lowercase().cmp(&b.1.to_lowercase())).then_with(|| a.1.cmp(&b.1)));
    let entries: Vec<Value> = entries.into_iter().map(|(_, _, v)| v).collect();
    Ok(json!({"success": true, "data": {"currentVisibility": current.unwrap_or(Visibility::Public), "entries": entries, "path": t.display()}}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_iso_8601_utc_with_milliseconds() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123);
        assert_eq!(iso8601(t), "2023-11-14T22:13:20.123Z");
    }
}
