//! Which permission each API route needs, and which API paths are public (spec §10.1, §6.2).

use http::Method;

use crate::permission::Permission;

/// Returns whether a path relative to the API path is public: `/health`, `/health/*`,
/// `/plugins/loaded`, `/openapi.json` and `/docs`.
pub fn is_public(rel_path: &str) -> bool {
    matches!(
        rel_path,
        "/health" | "/plugins/loaded" | "/openapi.json" | "/docs"
    ) || rel_path.starts_with("/health/")
}

/// Returns the permission a route needs, or `None` when any authenticated caller may use it.
///
/// `rel_path` is relative to the API path (`/plugins/reload`). `HEAD` and public paths never
/// need a permission.
/// `/workers` is matched as a plain prefix (no segment boundary), as in the original.
pub fn required_permission(method: &Method, rel_path: &str) -> Option<Permission> {
    use Permission as P;
    // Public routes answer everyone, whatever key is sent.
    if *method == Method::HEAD || is_public(rel_path) {
        return None;
    }
    let under = |base: &str| {
        rel_path == base
            || rel_path
                .strip_prefix(base)
                .is_some_and(|rest| rest.starts_with('/'))
    };
    if under("/apps") {
        return match *method {
            Method::GET => Some(P::AppsRead),
            Method::POST => Some(P::AppsInstall),
            Method::DELETE => Some(P::AppsRemove),
            _ => None,
        };
    }
    if under("/plugins") {
        return match *method {
            Method::GET => Some(P::PluginsRead),
            Method::POST | Method::PUT | Method::PATCH => Some(P::PluginsInstall),
            Method::DELETE => Some(P::PluginsRemove),
            _ => None,
        };
    }
    if under("/keys") {
        return match *method {
            Method::GET => Some(P::KeysRead),
            Method::POST => Some(P::KeysCreate),
            Method::DELETE => Some(P::KeysRevoke),
            _ => None,
        };
    }
    if rel_path.starts_with("/workers") {
        return Some(if *method == Method::GET {
            P::WorkersRead
        } else {
            P::WorkersRestart
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_paths_are_exact_except_health_children() {
        for p in [
            "/health",
            "/health/ready",
            "/health/live",
            "/plugins/loaded",
            "/openapi.json",
            "/docs",
        ] {
            assert!(is_public(p), "{p}");
        }
        for p in [
            "/healthz",
            "/health2",
            "/docs/",
            "/plugins/loaded/",
            "/plugins",
            "/",
            "",
            "/openapi.json/x",
        ] {
            assert!(!is_public(p), "{p}");
        }
    }

    #[test]
    fn segment_boundaries_apply_except_for_workers() {
        assert_eq!(required_permission(&Method::GET, "/appsx"), None);
        assert_eq!(required_permission(&Method::GET, "/keysmeta"), None);
        assert_eq!(
            required_permission(&Method::GET, "/workersx"),
            Some(Permission::WorkersRead)
        );
        assert_eq!(
            required_permission(&Method::OPTIONS, "/workers"),
            Some(Permission::WorkersRestart)
        );
        assert_eq!(required_permission(&Method::HEAD, "/workers"), None);
        assert_eq!(required_permission(&Method::HEAD, "/keys"), None);
    }
}
