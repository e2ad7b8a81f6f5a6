//! The plugin's manifest keys: `excludes` (or `DEPLOYMENTS_EXCLUDES`), the upload and zip caps,
//! and the optional `workerDirs` / `pluginDirs` that replace the runtime's roots.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// Names never listed, moved into or downloaded, whatever the manifest says.
pub const BUILTIN_EXCLUDES: &[&str] = &[".git", "node_modules"];

/// What the manifest configures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Entry names hidden from listings and downloads (built-ins included).
    pub excludes: Vec<String>,
    /// Largest upload request body, in bytes.
    pub max_upload_bytes: u64,
    /// Largest total uncompressed size of one uploaded `.zip`.
    pub zip_max_bytes: u64,
    /// Most entries in one uploaded `.zip`.
    pub zip_max_entries: usize,
    /// Replaces `RUNTIME_WORKER_DIRS` when set.
    pub worker_dirs: Option<Vec<PathBuf>>,
    /// Replaces `RUNTIME_PLUGIN_DIRS` when set.
    pub plugin_dirs: Option<Vec<PathBuf>>,
}

/// Default `maxUploadSize`: the runtime's body ceiling.
pub const DEFAULT_MAX_UPLOAD: u64 = 100 * 1024 * 1024;
/// Default `zipMaxBytes`.
pub const DEFAULT_ZIP_MAX_BYTES: u64 = 500 * 1024 * 1024;
/// Default `zipMaxEntries`.
pub const DEFAULT_ZIP_MAX_ENTRIES: usize = 20_000;

/// Reads the options; `excludes_env` is `DEPLOYMENTS_EXCLUDES` when set (a comma list, which wins
/// over the manifest's `excludes`); relative `workerDirs`/`pluginDirs` are taken from `base`.
///
/// # Errors
/// A key of the wrong type or a bad size, naming the key and what is accepted.
pub fn parse(options: &Map<String, Value>, excludes_env: Option<&str>, base: &Path) -> Result<Config, String> {
    let mut excludes: Vec<String> = BUILTIN_EXCLUDES.iter().map(|s| (*s).to_owned()).collect();
    let listed = match (excludes_env, options.get("excludes")) {
        (Some(env), _) => env.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect(),
        (None, None | Some(Value::Null)) => vec![".cache".to_owned(), "lost+found".to_owned()],
        (None, Some(v)) => string_list(v).ok_or("key `excludes`: use a list of names, such as [\".cache\", \"lost+found\"]")?,
    };
    for name in listed {
        if !excludes.contains(&name) {
            excludes.push(name);
        }
    }
    let size = |key: &str, default: u64| -> Result<u64, String> {
        match options.get(key) {
            None => Ok(default),
            Some(v) => buntime_apps::parse::size_bytes(v)
                .map(|b| b.unwrap_or(default))
                .map_err(|e| format!("key `{key}`: {e}; use bytes (`1048576`) or a string such as \"100mb\"")),
        }
    };
    let max_upload_bytes = size("maxUploadSize", DEFAULT_MAX_UPLOAD)?;
    let zip_max_bytes = size("zipMaxBytes", DEFAULT_ZIP_MAX_BYTES)?;
    let zip_max_entries = match options.get("zipMaxEntries") {
        None | Some(Value::Null) => DEFAULT_ZIP_MAX_ENTRIES,
        Some(v) => v
            .as_u64()
            .filter(|n| *n > 0)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| format!("key `zipMaxEntries`: `{v}` is not a positive whole number"))?,
    };
    let dirs = |key: &str| -> Result<Option<Vec<PathBuf>>, String> {
        match options.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => {
                let list = string_list(v).ok_or_else(|| format!("key `{key}`: use a list of directories"))?;
                Ok(Some(list.into_iter().map(|d| base.join(d)).collect()))
            }
        }
    };
    Ok(Config {
        excludes,
        max_upload_bytes,
        zip_max_bytes,
        zip_max_entries,
        worker_dirs: dirs("workerDirs")?,
        plugin_dirs: dirs("pluginDirs")?,
    })
}

/// A list of strings, or one string with a colon- or comma-separated list.
fn string_list(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::Array(items) => items.iter().map(|i| i.as_str().map(str::to_owned)).collect(),
        Value::String(s) => Some(s.split([',', ':']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn opts(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn excludes_merge_the_builtins_and_the_env_list_wins_over_the_manifest() {
        let c = parse(&opts(json!({})), None, Path::new("/")).unwrap();
        assert_eq!(c.excludes, [".git", "node_modules", ".cache", "lost+found"]);
        let c = parse(&opts(json!({"excludes": ["tmp"]})), None, Path::new("/")).unwrap();
        assert_eq!(c.excludes, [".git", "node_modules", "tmp"]);
        let c = parse(&opts(json!({"excludes": ["tmp"]})), Some(" a, b ,,"), Path::new("/")).unwrap();
        assert_eq!(c.excludes, [".git", "node_modules", "a", "b"]);
    }

    #[test]
    fn sizes_and_counts_accept_units_and_bad_values_name_the_key() {
        let c = parse(&opts(json!({"maxUploadSize": "2mb", "zipMaxBytes": 1000, "zipMaxEntries": 5})), None, Path::new("/")).unwrap();
        assert_eq!((c.max_upload_bytes, c.zip_max_bytes, c.zip_max_entries), (2 * 1024 * 1024, 1000, 5));
        for (key, bad) in [("maxUploadSize", json!("lots")), ("zipMaxBytes", json!(-3)), ("zipMaxEntries", json!(0)), ("excludes", json!(3)), ("workerDirs", json!(true))] {
            let e = parse(&opts(json!({ key: bad })), None, Path::new("/")).unwrap_err();
            assert!(e.contains(key), "{e}");
        }
    }

    #[test]
    fn relative_dirs_are_taken_from_the_base() {
        let c = parse(&opts(json!({"workerDirs": ["apps", "/abs"]})), None, Path::new("/srv")).unwrap();
        assert_eq!(c.worker_dirs.unwrap(), [PathBuf::from("/srv/apps"), PathBuf::from("/abs")]);
        assert!(c.plugin_dirs.is_none());
    }
}
