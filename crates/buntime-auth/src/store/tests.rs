use std::os::unix::fs::PermissionsExt as _;

use super::*;
use crate::secret::counter;

fn new_key(name: &str, role: Role, expires_in_secs: Option<u64>) -> NewKey {
    NewKey {
        name: name.to_owned(),
        role,
        permissions: role
            .permissions()
            .unwrap_or_else(|| vec![Permission::AppsRead]),
        description: None,
        expires_in_secs,
        created_by: None,
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn open_creates_missing_state_dir_and_a_private_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a/b/state");
    let store = KeyStore::open(&dir).unwrap();
    assert_eq!(store.path(), dir.join("api-keys.db"));
    assert_eq!(mode(store.path()), 0o600);
    assert!(!store.has_active_keys().unwrap());
}

#[test]
fn create_stores_only_the_hash_and_shows_the_prefix() {
    let tmp = tempfile::tempdir().unwrap();
    let store = KeyStore::open(tmp.path()).unwrap();
    let created = store
        .create_at(&new_key("ci", Role::Editor, None), 1_000)
        .unwrap();
    assert!(created.secret.starts_with("btk_"));
    assert_eq!(created.key.key_prefix, &created.secret[..12]);
    assert_eq!(created.key.id, 1);
    assert_eq!(created.key.created_at, 1_000);
    let raw = std::fs::read(store.path()).unwrap();
    let secret_tail = &created.secret.as_bytes()[12..];
    assert!(
        !raw.windows(secret_tail.len()).any(|w| w == secret_tail),
        "secret must not be stored"
    );
    let hash = crate::secret::hash_key(&created.secret);
    assert!(raw.windows(64).any(|w| w == hash.as_bytes()));
    assert_eq!(mode(store.path()), 0o600);
}

#[test]
fn ids_continue_after_the_highest_even_when_revoked() {
    let tmp = tempfile::tempdir().unwrap();
    let store = KeyStore::open(tmp.path()).unwrap();
    store
        .create_at(&new_key("a", Role::Viewer, None), 1)
        .unwrap();
    let b = store
        .create_at(&new_key("b", Role::Viewer, None), 1)
        .unwrap();
    assert!(store.revoke_at(b.key.id, 2).unwrap());
    let c = store
        .create_at(&new_key("c", Role::Viewer, None), 3)
        .unwrap();
    assert_eq!(c.key.id, 3);
    assert_eq!(
        store
            .list()
            .unwrap()
            .iter()
            .map(|k| k.id)
            .collect::<Vec<_>>(),
        vec![1, 3]
    );
    assert_eq!(store.list_all().unwrap().len(), 3);
}

#[test]
fn verify_accepts_the_secret_and_rejects_others() {
    let tmp = tempfile::tempdir().unwrap();
    let store = KeyStore::open(tmp.path()).unwrap();
    let created = store
        .create_at(&new_key("a", Role::Viewer, None), 100)
        .unwrap();
    let key = store.verify_at(&created.secret, 200).unwrap().unwrap();
    assert_eq!(key.id, created.key.id);
    let mut wrong = created.secret.clone();
    wrong.pop();
    wrong.push('!');
    assert_eq!(store.verify_at(&wrong, 200).unwrap(), None);
    assert_eq!(store.verify_at("not-a-key", 200).unwrap(), None);
    assert_eq!(store.verify_at("", 200).unwrap(), None);
}

#[test]
fn verify_compares_hashes_with_the_constant_time_function() {
    let tmp = tempfile::tempdir().unwrap();
    let store = KeyStore::open(tmp.path()).unwrap();
    let created = store
        .create_at(&new_key("a", Role::Viewer, None), 100)
        .unwrap();
    let before = counter::calls();
    assert!(store.verify_at(&created.secret, 100).unwrap().is_some());
    assert_eq!(counter::calls(), before + 1);
}

#[test]
fn expired_keys_are_invalid_but_still_count_as_active() {
    let tmp = tempfile::tempdir().unwrap();
    let store = KeyStore::open(tmp.path()).unwrap();
    let created = store
        .create_at(&new_key("a", Role::Viewer, Some(86_400)), 1_000)
        .unwrap();
    assert_eq!(created.key.expires_at, Some(87_400));
    assert!(store.verify_at(&created.secret, 87_399).unwrap().is_some());
    assert!(store.verify_at(&created.secret, 87_400).unwrap().is_none());
    assert!(store.has_active_keys().unwrap());
    assert_eq!(store.list().unwrap().len(), 1);
}

#[test]
fn revoked_keys_are_invalid_and_do_not_count() {
    let tmp = tempfile::tempdir().unwrap();
    let store = KeyStore::open(tmp.path()).unwrap();
    let created = store
        .create_at(&new_key("a", Role::Admin, None), 1)
        .unwrap();
    assert!(store.revoke_at(created.key.id, 5).unwrap());
    assert!(
        !store.revoke_at(created.key.id, 6).unwrap(),
        "second revoke finds nothing"
    );
    assert!(!store.revoke_at(999, 6).unwrap());
    assert!(store.verify_at(&created.secret, 7).unwrap().is_none());
    assert!(!store.has_active_keys().unwrap());
    assert_eq!(
        store.get(created.key.id).unwrap().unwrap().revoked_at,
        Some(5)
    );
}

#[test]
fn last_used_is_written_at_most_every_sixty_seconds() {
    let tmp = tempfile::tempdir().unwrap();
    let store = KeyStore::open(tmp.path()).unwrap();
    let created = store
        .create_at(&new_key("a", Role::Viewer, None), 0)
        .unwrap();
    let id = created.key.id;
    store.verify_at(&created.secret, 100).unwrap();
    assert_eq!(store.get(id).unwrap().unwrap().last_used_at, Some(100));
    store.verify_at(&created.secret, 159).unwrap();
    assert_eq!(store.get(id).unwrap().unwrap().last_used_at, Some(100));
    store.verify_at(&created.secret, 160).unwrap();
    assert_eq!(store.get(id).unwrap().unwrap().last_used_at, Some(160));
}

#[test]
fn store_survives_reopening() {
    let tmp = tempfile::tempdir().unwrap();
    let created = KeyStore::open(tmp.path())
        .unwrap()
        .create_at(&new_key("a", Role::Viewer, None), 1)
        .unwrap();
    let again = KeyStore::open(tmp.path()).unwrap();
    assert!(again.verify_at(&created.secret, 2).unwrap().is_some());
}

#[test]
fn group_readable_file_is_refused_with_the_fix_and_recovers_after_chmod() {
    let tmp = tempfile::tempdir().unwrap();
    let store = KeyStore::open(tmp.path()).unwrap();
    std::fs::set_permissions(store.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = store.has_active_keys().unwrap_err();
    assert!(
        matches!(err, StoreError::Permissions { mode: 0o644, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("api-keys.db") && msg.contains("chmod 600"),
        "{msg}"
    );
    assert_eq!(
        err.to_response().status(),
        http::StatusCode::SERVICE_UNAVAILABLE
    );
    assert!(KeyStore::open(tmp.path()).is_err());
    std::fs::set_permissions(store.path(), std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(!store.has_active_keys().unwrap());
}

#[test]
fn garbage_content_is_a_corrupt_store_error_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(STORE_FILE);
    std::fs::write(&path, b"{\"keys\":[], \"version\": 1} definitely not sqlite ......................................................................").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let store = KeyStore::new(tmp.path());
    for err in [
        store.has_active_keys().unwrap_err(),
        store.verify("btk_whatever").unwrap_err(),
        store.list().unwrap_err(),
    ] {
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
        assert!(err.to_string().contains("move it aside"), "{err}");
    }
    assert!(KeyStore::open(tmp.path()).is_err());
}

#[test]
fn a_directory_in_place_of_the_file_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join(STORE_FILE)).unwrap();
    let err = KeyStore::open(tmp.path()).unwrap_err();
    assert!(matches!(err, StoreError::NotAFile { .. }), "{err:?}");
}

#[test]
fn a_newer_schema_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let store = KeyStore::open(tmp.path()).unwrap();
    drop(store);
    let c = Connection::open(tmp.path().join(STORE_FILE)).unwrap();
    c.pragma_update(None, "user_version", 7).unwrap();
    drop(c);
    let err = KeyStore::open(tmp.path()).unwrap_err();
    assert!(
        matches!(err, StoreError::NewerSchema { found: 7, .. }),
        "{err:?}"
    );
}

#[test]
fn a_tampered_role_is_corruption_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let store = KeyStore::open(tmp.path()).unwrap();
    let created = store
        .create_at(&new_key("a", Role::Viewer, None), 1)
        .unwrap();
    let c = Connection::open(store.path()).unwrap();
    c.execute(
        "UPDATE api_keys SET role = 'root', permissions = 'oops'",
        [],
    )
    .unwrap();
    drop(c);
    assert!(matches!(
        store.list().unwrap_err(),
        StoreError::Corrupt { .. }
    ));
    assert!(matches!(
        store.verify_at(&created.secret, 2).unwrap_err(),
        StoreError::Corrupt { .. }
    ));
}

#[test]
fn state_dir_that_cannot_be_created_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let blocker = tmp.path().join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let err = KeyStore::open(&blocker.join("state")).unwrap_err();
    assert!(matches!(err, StoreError::StateDir { .. }), "{err:?}");
    assert!(err.to_string().contains("RUNTIME_STATE_DIR"));
}

#[test]
fn unreadable_file_is_reported_with_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let store = KeyStore::open(tmp.path()).unwrap();
    drop(store);
    let path = tmp.path().join(STORE_FILE);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::File::open(&path).is_ok() {
        return; // running as root: the OS ignores the mode, nothing to observe
    }
    let err = KeyStore::open(tmp.path()).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Unreadable { .. } | StoreError::Corrupt { .. }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("api-keys.db"));
}

#[test]
fn legacy_json_keys_are_imported_once_and_keep_working() {
    let tmp = tempfile::tempdir().unwrap();
    let secret = "btk_legacy-secret-0123456789";
    let legacy = serde_json::json!({
        "keys": [
            {"id": 4, "name": "old", "keyHash": crate::secret::hash_key(secret), "keyPrefix": &secret[..12], "role": "viewer",
             "permissions": ["apps:read"], "createdAt": 100, "expiresAt": null},
            {"id": 7, "name": "gone", "keyHash": "a".repeat(64), "keyPrefix": "btk_gone0000", "role": "custom",
             "permissions": ["keys:read", "keys:read"], "createdAt": 100, "revokedAt": 150}
        ],
        "version": 1
    });
    std::fs::write(tmp.path().join("api-keys.json"), format!("{legacy:#}\n")).unwrap();
    let store = KeyStore::open(tmp.path()).unwrap();
    let key = store.verify_at(secret, 200).unwrap().unwrap();
    assert_eq!((key.id, key.role), (4, Role::Viewer));
    assert_eq!(key.permissions, Role::Viewer.permissions().unwrap());
    assert_eq!(
        store.get(7).unwrap().unwrap().permissions,
        vec![Permission::KeysRead]
    );
    assert_eq!(
        store
            .create_at(&new_key("next", Role::Viewer, None), 300)
            .unwrap()
            .key
            .id,
        8
    );
    drop(store);
    // Reopening does not import again (the table is no longer empty).
    assert_eq!(
        KeyStore::open(tmp.path())
            .unwrap()
            .list_all()
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn a_broken_legacy_file_keeps_the_store_closed() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("api-keys.json"), b"{\"keys\": [oops").unwrap();
    let store = KeyStore::new(tmp.path());
    let err = store.has_active_keys().unwrap_err();
    assert!(matches!(err, StoreError::Legacy { .. }), "{err:?}");
    assert!(err.to_string().contains("api-keys.json"));
    std::fs::remove_file(tmp.path().join("api-keys.json")).unwrap();
    assert!(!store.has_active_keys().unwrap());
}
