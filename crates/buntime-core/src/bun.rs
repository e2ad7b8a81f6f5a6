//! Bun as the runtime meets it: locating the binary that runs JS/TS plugins and apps
//! (`BUNTIME_BUN`, then the project's copy installed by `scripts/setup.sh`, then `PATH`), and the
//! HTTP methods its server accepts.

use std::path::{Path, PathBuf};

use crate::config::Env;

/// The methods Bun's HTTP server parses (Node's `http.METHODS`, case-sensitive; checked against
/// Bun 1.3.10 and 1.4.5 by `crates/buntime-pool/quirks/methods.ts`). On any other it drops the
/// connection without a response, which must never look like a dead worker or plugin host, so
/// the runtime answers 501 itself.
pub const SERVABLE_METHODS: &[&str] = &[
    "ACL", "BIND", "CHECKOUT", "CONNECT", "COPY", "DELETE", "GET", "HEAD", "LINK", "LOCK", "M-SEARCH", "MERGE", "MKACTIVITY", "MKCALENDAR", "MKCOL",
    "MOVE", "NOTIFY", "OPTIONS", "PATCH", "POST", "PROPFIND", "PROPPATCH", "PURGE", "PUT", "QUERY", "REBIND", "REPORT", "SEARCH", "SOURCE",
    "SUBSCRIBE", "TRACE", "UNBIND", "UNLINK", "UNLOCK", "UNSUBSCRIBE",
];

/// Returns whether Bun's HTTP server accepts `method` (see [`SERVABLE_METHODS`]).
pub fn serves_method(method: &http::Method) -> bool {
    SERVABLE_METHODS.contains(&method.as_str())
}

/// Where `scripts/setup.sh` installs Bun, relative to the project root.
pub const PROJECT_BUN: &str = ".tools/node_modules/bun/bin/bun.exe";

/// Why Bun was not found, with how to install it.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("Bun was not found ({searched}); install it with `scripts/setup.sh` (npm install --prefix .tools bun), or set BUNTIME_BUN to the bun binary")]
pub struct BunNotFound {
    /// The places searched.
    pub searched: String,
}

/// Finds Bun for a runtime started in `base_dir`.
///
/// # Errors
/// Returns what was searched and how to install Bun.
pub fn find_bun(env: &Env, base_dir: &Path) -> Result<PathBuf, BunNotFound> {
    let mut searched = Vec::new();
    if let Some(explicit) = env.get_non_blank("BUNTIME_BUN") {
        let p = PathBuf::from(explicit);
        if p.is_file() {
            return Ok(p);
        }
        return Err(BunNotFound { searched: format!("BUNTIME_BUN={explicit} does not exist") });
    }
    let mut roots = vec![base_dir.to_path_buf()];
    if let Ok(exe) = std::env::current_exe() {
        // target/{debug,release}/buntime → the project root two levels up.
        roots.extend(exe.ancestors().skip(1).take(4).map(Path::to_path_buf));
    }
    for root in roots {
        let candidate = root.join(PROJECT_BUN);
        if candidate.is_file() {
            return Ok(candidate);
        }
        searched.push(candidate.display().to_string());
    }
    if let Some(path) = env.get("PATH") {
        for dir in std::env::split_paths(path) {
            let candidate = dir.join("bun");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
        searched.push("PATH".to_owned());
    }
    Err(BunNotFound { searched: searched.join(", ") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_methods_bun_accepts_are_servable() {
        for m in ["GET", "POST", "PROPFIND", "M-SEARCH", "QUERY"] {
            assert!(serves_method(&m.parse().unwrap()), "{m}");
        }
        for m in ["FOO", "get", "Post", "BREW"] {
            assert!(!serves_method(&m.parse().unwrap()), "{m}");
        }
    }

    #[test]
    fn explicit_path_wins_and_a_missing_one_says_so() {
        let t = tempfile::tempdir().unwrap();
        let bun = t.path().join("bun");
        std::fs::write(&bun, "").unwrap();
        let env = Env::from_pairs([("BUNTIME_BUN", bun.to_str().unwrap())]);
        assert_eq!(find_bun(&env, t.path()).unwrap(), bun);
        let env = Env::from_pairs([("BUNTIME_BUN", "/nope/bun")]);
        let err = find_bun(&env, t.path()).unwrap_err();
        assert!(err.to_string().contains("BUNTIME_BUN=/nope/bun") && err.to_string().contains("scripts/setup.sh"));
    }

    #[test]
    fn the_project_copy_is_found() {
        let t = tempfile::tempdir().unwrap();
        let bun = t.path().join(PROJECT_BUN);
        std::fs::create_dir_all(bun.parent().unwrap()).unwrap();
        std::fs::write(&bun, "").unwrap();
        assert_eq!(find_bun(&Env::default(), t.path()).unwrap(), bun);
    }
}
