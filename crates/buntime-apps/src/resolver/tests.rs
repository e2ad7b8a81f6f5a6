#![allow(clippy::type_complexity)]

use super::*;

fn mk(root: &Path, rel: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = root.join(rel);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, body) in files {
        std::fs::write(dir.join(name), body).unwrap();
    }
    dir
}

const PKG: (&str, &str) = ("package.json", "{}");

#[test]
fn app_paths_parse_names_ranges_and_scopes() {
    let cases: &[(&str, Option<(&str, Option<&str>, &str)>)] = &[
        ("/todo", Some(("todo", None, "/todo"))),
        ("/todo/", Some(("todo", None, "/todo"))),
        ("/todo/a/b", Some(("todo", None, "/todo"))),
        ("/todo@1/a", Some(("todo", Some("1"), "/todo@1"))),
        ("/todo@%5E1.4/x", Some(("todo", Some("^1.4"), "/todo@%5E1.4"))),
        ("/todo%401.2.3", Some(("todo", Some("1.2.3"), "/todo%401.2.3"))),
        ("/todo@", Some(("todo", None, "/todo@"))),
        ("/todo@1@2", Some(("todo", Some("1"), "/todo@1@2"))),
        ("/@acme/todo/x", Some(("@acme/todo", None, "/@acme/todo"))),
        ("/%40acme/todo@2", Some(("@acme/todo", Some("2"), "/%40acme/todo@2"))),
        ("/", None),
        ("", None),
        ("/.hidden", None),
        ("/..", None),
        ("/%2e%2e/x", None),
        ("/..%2fetc", None),
        ("/a%2fb", None),
        ("/a%5cb", None),
        ("/%ff", None),
        ("/@scope", None),
        ("/@scope/", None),
        ("/@../x", None),
        ("/@acme/..", None),
        ("/@acme/%2e%2e", None),
        ("/@version", None),
        ("/a b", None),
    ];
    for (path, expected) in cases {
        let got = parse_app_path(path).map(|a| (a.full_name(), a.range.clone(), a.base_path.clone()));
        let expected = expected.map(|(n, r, b)| (n.to_owned(), r.map(str::to_owned), b.to_owned()));
        assert_eq!(got, expected, "path {path}");
    }
}

#[test]
fn layouts_and_ranges_select_the_expected_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let wd1 = tmp.path().join("wd1");
    let wd2 = tmp.path().join("wd2");
    mk(&wd1, "flat@1.2.0", &[PKG]);
    mk(&wd1, "flat@1.10.0", &[PKG]);
    mk(&wd1, "flat@2.0.0", &[PKG]);
    mk(&wd1, "nest/1.0.0", &[]);
    mk(&wd1, "nest/1.4.2", &[]);
    mk(&wd1, "nest/1.5.0-beta.1", &[]);
    mk(&wd1, "nest/not-a-version", &[]);
    mk(&wd1, "simple", &[PKG]);
    mk(&wd1, "spa", &[("index.html", "<html>")]);
    mk(&wd1, "manifestonly", &[("manifest.yaml", "ttl: 1")]);
    mk(&wd1, "empty", &[]);
    mk(&wd1, "both@latest", &[]);
    mk(&wd1, "both@3.0.0", &[]);
    mk(&wd1, "mixed@1.0.0", &[]);
    mk(&wd2, "mixed/2.0.0", &[]);
    mk(&wd2, "mixed@1.0.0", &[]);
    mk(&wd2, "flat@9.0.0-rc.1", &[]);
    mk(&wd1, "@acme/todo@1.0.0", &[]);
    mk(&wd2, "@acme/todo/2.0.0", &[]);
    let r = Resolver::new(vec![wd1.clone(), wd2.clone()], Duration::ZERO);
    let cases: &[(&str, Option<&str>)] = &[
        ("/flat", Some("wd2/flat@9.0.0-rc.1")),
        ("/flat@2", Some("wd1/flat@2.0.0")),
        ("/flat@1", Some("wd1/flat@1.10.0")),
        ("/flat@1.2", Some("wd1/flat@1.2.0")),
        ("/flat@1.2.0", Some("wd1/flat@1.2.0")),
        ("/flat@~1.2.0", Some("wd1/flat@1.2.0")),
        ("/flat@%5E1.3", Some("wd1/flat@1.10.0")),
        ("/flat@>=2", Some("wd2/flat@9.0.0-rc.1")),
        ("/flat@3", None),
        ("/flat@latest", None),
        ("/flat@garbage", None),
        ("/nest", Some("wd1/nest/1.5.0-beta.1")),
        ("/nest@1.4", Some("wd1/nest/1.4.2")),
        ("/nest@^1.4", Some("wd1/nest/1.5.0-beta.1")),
        ("/nest@1.0.0/deep/path", Some("wd1/nest/1.0.0")),
        ("/simple", Some("wd1/simple")),
        ("/simple@latest", Some("wd1/simple")),
        ("/simple@1", None),
        ("/spa", Some("wd1/spa")),
        ("/manifestonly", Some("wd1/manifestonly")),
        ("/empty", None),
        ("/missing", None),
        ("/both", Some("wd1/both@latest")),
        ("/both@3", Some("wd1/both@3.0.0")),
        ("/mixed@1", Some("wd1/mixed@1.0.0")),
        ("/mixed", Some("wd2/mixed/2.0.0")),
        ("/@acme/todo", Some("wd2/@acme/todo/2.0.0")),
        ("/@acme/todo@1/x", Some("wd1/@acme/todo@1.0.0")),
        ("/@other/todo", None),
    ];
    for (path, expected) in cases {
        let got = r.resolve(path).unwrap().map(|res| res.dir.strip_prefix(tmp.path()).unwrap().to_string_lossy().into_owned());
        assert_eq!(got.as_deref(), *expected, "path {path}");
    }
}

#[test]
fn keys_prefer_the_package_version_and_name_the_app() {
    let tmp = tempfile::tempdir().unwrap();
    mk(tmp.path(), "todo/latest", &[]);
    mk(tmp.path(), "other/latest", &[]);
    mk(tmp.path(), "pkg@1.0.0", &[("package.json", r#"{"version":"1.0.7"}"#)]);
    mk(tmp.path(), "@acme/ui", &[PKG]);
    let r = Resolver::new(vec![tmp.path().to_owned()], Duration::ZERO);
    let key = |p: &str| r.resolve(p).unwrap().unwrap().key.clone();
    assert_eq!(key("/todo"), "todo@latest");
    assert_eq!(key("/other"), "other@latest");
    assert_eq!(key("/pkg@1"), "pkg@1.0.7");
    assert_eq!(key("/@acme/ui"), "@acme/ui@latest");
}

#[test]
fn key_collisions_name_both_directories() {
    let tmp = tempfile::tempdir().unwrap();
    mk(tmp.path(), "todo@1.0.0", &[]);
    mk(tmp.path(), "todo", &[("package.json", r#"{"version":"1.0.0"}"#)]);
    let r = Resolver::new(vec![tmp.path().to_owned()], Duration::ZERO);
    let err = r.resolve("/todo").unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("todo@1.0.0"), "{msg}");
    assert!(msg.contains(&tmp.path().join("todo").display().to_string()), "{msg}");
    assert!(msg.contains(&tmp.path().join("todo@1.0.0").display().to_string()), "{msg}");
}

#[test]
fn a_flat_and_a_nested_dir_with_one_version_collide_in_the_same_worker_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let wd = tmp.path().join("wd");
    let flat = mk(&wd, "dup@1.0.0", &[("index.ts", "")]);
    let nested = mk(&wd, "dup/1.0.0", &[("index.ts", "")]);
    let r = Resolver::new(vec![wd.clone()], Duration::ZERO);
    for path in ["/dup", "/dup@1", "/dup@1.0.0"] {
        let msg = r.resolve(path).unwrap_err().to_string();
        assert!(msg.contains("`dup@1.0.0`"), "{path}: {msg}");
        assert!(msg.contains(&flat.display().to_string()) && msg.contains(&nested.display().to_string()), "{path}: {msg}");
    }
    assert_eq!(list_apps(std::slice::from_ref(&wd))[0].versions, ["1.0.0"]);
    // Across worker dirs the earlier one still shadows the later one.
    let wd2 = tmp.path().join("wd2");
    mk(&wd2, "other@1.0.0", &[]);
    mk(&wd2, "other/1.0.0", &[]);
    let first = mk(&tmp.path().join("wd1"), "other@1.0.0", &[]);
    let r = Resolver::new(vec![tmp.path().join("wd1"), wd2], Duration::ZERO);
    assert_eq!(r.resolve("/other").unwrap().unwrap().dir, first);
}

#[test]
fn hits_and_misses_are_cached_until_the_ttl_or_an_invalidation() {
    let tmp = tempfile::tempdir().unwrap();
    let r = Resolver::new(vec![tmp.path().to_owned()], Duration::from_secs(60));
    assert!(r.resolve("/late").unwrap().is_none());
    assert_eq!(r.cached("/late").map(|m| m.is_none()), Some(true), "a miss is answered from the cache, no disk scan");
    mk(tmp.path(), "late", &[PKG]);
    assert!(r.resolve("/late").unwrap().is_none(), "misses are cached");
    r.invalidate();
    assert!(r.resolve("/late").unwrap().is_some(), "an upload's invalidation shows the new app at once");
    std::fs::remove_dir_all(tmp.path().join("late")).unwrap();
    assert!(r.resolve("/late").unwrap().is_some(), "hits are cached");
    r.invalidate();
    assert!(r.resolve("/late").unwrap().is_none());

    // With a short TTL an app copied in by hand shows up once the miss expires.
    let r = Resolver::new(vec![tmp.path().to_owned()], Duration::from_millis(30));
    assert!(r.resolve("/copied").unwrap().is_none());
    mk(tmp.path(), "copied", &[PKG]);
    std::thread::sleep(Duration::from_millis(40));
    assert!(r.cached("/copied").is_none(), "the miss expired");
    assert!(r.resolve("/copied").unwrap().is_some());
}

#[test]
fn zero_ttl_disables_the_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let r = Resolver::new(vec![tmp.path().to_owned()], Duration::ZERO);
    mk(tmp.path(), "gone", &[PKG]);
    assert!(r.resolve("/gone").unwrap().is_some());
    std::fs::remove_dir_all(tmp.path().join("gone")).unwrap();
    assert!(r.resolve("/gone").unwrap().is_none());
}

#[test]
fn listing_matches_routing() {
    let tmp = tempfile::tempdir().unwrap();
    mk(tmp.path(), "flat@1.2.0", &[]);
    mk(tmp.path(), "flat@1.10.0", &[]);
    mk(tmp.path(), "nest/2.0.0", &[]);
    mk(tmp.path(), "nest/latest", &[]);
    mk(tmp.path(), "spa", &[("manifest.yaml", "injectBase: true")]);
    mk(tmp.path(), "@acme/ui/1.0.0", &[]);
    mk(tmp.path(), ".hidden", &[PKG]);
    mk(tmp.path(), "notanapp", &[]);
    let list = list_apps(&[tmp.path().to_owned()]);
    let got: Vec<(&str, Vec<&str>)> =
        list.iter().map(|a| (a.name.as_str(), a.versions.iter().map(String::as_str).collect())).collect();
    assert_eq!(
        got,
        vec![
            ("@acme/ui", vec!["1.0.0"]),
            ("flat", vec!["1.10.0", "1.2.0"]),
            ("nest", vec!["latest", "2.0.0"]),
            ("spa", vec!["latest"]),
        ]
    );
}
