//! Shared fixtures for the integration tests: stores with keys of each role, header builders.
#![allow(dead_code, unreachable_pub)]

use std::path::Path;
use std::sync::Arc;

use buntime_auth::{AccessControl, KeyStore, NewKey, Permission, Role};
use http::{HeaderMap, HeaderValue};

/// A temporary state dir plus the gate over it.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub access: Arc<AccessControl>,
}

impl Fixture {
    pub fn new(master: Option<&str>, trust_proxy: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(KeyStore::open(dir.path()).unwrap());
        let access = Arc::new(dev_gate(AccessControl::new(
            store,
            master.map(str::to_owned),
            trust_proxy,
        )));
        Self { dir, access }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Creates a key with `role` (and `perms` for custom) and returns its secret.
    pub fn key(&self, role: Role, perms: &[Permission]) -> String {
        self.key_with(role, perms, None, buntime_auth::store::now())
    }

    pub fn key_with(
        &self,
        role: Role,
        perms: &[Permission],
        expires_in_secs: Option<u64>,
        now: u64,
    ) -> String {
        let new = NewKey {
            name: format!("{role}-key"),
            role,
            permissions: role.permissions().unwrap_or_else(|| perms.to_vec()),
            description: None,
            expires_in_secs,
            created_by: None,
        };
        self.access.store().create_at(&new, now).unwrap().secret
    }
}

/// Configures `access` as `buntime` does in development on port 8000: local callers may use the
/// API without credentials, and the listener's loopback origins pass CSRF.
pub fn dev_gate(access: AccessControl) -> AccessControl {
    let access = access.with_local_access_without_credentials(true);
    access.set_listener("0.0.0.0:8000".parse().unwrap());
    access
}

/// Builds headers from pairs.
pub fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(*k, HeaderValue::from_str(v).unwrap());
    }
    h
}

/// Headers presenting `key` via `X-API-Key`.
pub fn with_key(key: &str) -> HeaderMap {
    headers(&[("x-api-key", key)])
}

/// Writes `bytes` as the store file with `mode`.
pub fn write_store(dir: &Path, bytes: &[u8], mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join("api-keys.db");
    std::fs::write(&path, bytes).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Reads a response body as a string.
pub async fn body_string(res: buntime_core::Response) -> String {
    use http_body_util::BodyExt as _;
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// Reads a response body as JSON.
pub async fn body_json(res: buntime_core::Response) -> serde_json::Value {
    serde_json::from_str(&body_string(res).await).unwrap()
}
