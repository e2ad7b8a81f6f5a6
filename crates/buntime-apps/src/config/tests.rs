#![allow(clippy::type_complexity)]

use super::*;

fn yaml(text: &str) -> Map<String, Value> {
    match serde_yaml_ng::from_str::<Value>(text).unwrap() {
        Value::Object(m) => m,
        Value::Null => Map::new(),
        other => panic!("not a map: {other}"),
    }
}

fn parse(text: &str) -> Result<(WorkerConfig, Vec<String>), Vec<Problem>> {
    WorkerConfig::from_manifest(&yaml(text), BTreeMap::new())
}

#[test]
fn defaults_apply_with_no_manifest() {
    let (c, w) = parse("").unwrap();
    assert_eq!(c, WorkerConfig::default());
    assert!(w.is_empty());
    assert_eq!(c.timeout_ms, 30_000.0);
    assert_eq!(c.idle_timeout_ms, 60_000.0);
    assert_eq!(c.ttl_ms, 0.0);
    assert_eq!(c.max_requests, 1000);
    assert_eq!(c.max_body_bytes, 10 * 1024 * 1024);
    assert_eq!(c.env_prefix, ["PUBLIC_", "VITE_"]);
    assert!(c.env.is_empty());
}

#[test]
fn every_key_parses() {
    let (c, _) = parse(
        "entrypoint: dist/index.html\nautoInstall: true\nlowMemory: \"1\"\ninjectBase: 'true'\ntimeout: 10\nidleTimeout: 1m\nttl: \"5m\"\nmaxRequests: \"0\"\nmaxBodySize: 50mb\nenv: {PORT: 9000, DEBUG: true, NAME: x}\nenvPrefix: [APP_]\npublicRoutes: {GET: [\"/feed\"]}\nname: ignored\nvisibility: public\n",
    )
    .unwrap();
    assert_eq!(c.entrypoint.as_deref(), Some("dist/index.html"));
    assert!(c.auto_install && c.low_memory && c.inject_base);
    assert_eq!(c.timeout_ms, 10_000.0);
    assert_eq!(c.idle_timeout_ms, 60_000.0);
    assert_eq!(c.ttl_ms, 300_000.0);
    assert_eq!(c.max_requests, 0);
    assert_eq!(c.max_body_bytes, 50 * 1024 * 1024);
    assert_eq!(c.env.get("PORT").map(String::as_str), Some("9000"));
    assert_eq!(c.env.get("DEBUG").map(String::as_str), Some("true"));
    assert_eq!(c.env_prefix, ["APP_"]);
    assert!(c.public_routes.is_some());
}

#[test]
fn yaml_zero_max_requests_means_the_default() {
    assert_eq!(parse("maxRequests: 0").unwrap().0.max_requests, 1000);
}

#[test]
fn body_size_is_capped_with_a_warning() {
    let (c, w) = parse("maxBodySize: 1gb").unwrap();
    assert_eq!(c.max_body_bytes, 100 * 1024 * 1024);
    assert_eq!(w.len(), 1);
}

#[test]
fn idle_longer_than_ttl_is_clamped_with_a_warning() {
    let (c, w) = parse("ttl: 40\ntimeout: 10\nidleTimeout: 100").unwrap();
    assert_eq!(c.idle_timeout_ms, 40_000.0);
    assert!(w[0].contains("idleTimeout"), "{w:?}");
}

#[test]
fn relationship_rules_are_skipped_for_ephemeral_apps() {
    assert!(parse("ttl: 0\ntimeout: 100\nidleTimeout: 1").is_ok());
    assert!(parse("ttl: \"0s\"\ntimeout: 100\nidleTimeout: 1").is_ok());
}

#[test]
fn every_invalid_value_is_an_error_naming_the_key_and_a_fix() {
    let cases: &[(&str, &str)] = &[
        ("timeout: 0", "timeout"),
        ("timeout: abc", "timeout"),
        ("timeout: -5", "timeout"),
        ("timeout: [1]", "timeout"),
        ("idleTimeout: 0", "idleTimeout"),
        ("idleTimeout: \"\"", "idleTimeout"),
        ("ttl: \"-1s\"", "ttl"),
        ("ttl: 10\ntimeout: 30", "ttl"),
        ("ttl: 60\ntimeout: 30\nidleTimeout: 10", "idleTimeout"),
        ("maxRequests: -1", "maxRequests"),
        ("maxRequests: abc", "maxRequests"),
        ("maxRequests: [1]", "maxRequests"),
        ("lowMemory: maybe", "lowMemory"),
        ("isolated: sure", "isolated"),
        ("autoInstall: 2", "autoInstall"),
        ("injectBase: [true]", "injectBase"),
        ("maxMemory: 1mb", "maxMemory"),
        ("maxMemory: lots", "maxMemory"),
        ("maxBodySize: 5tb", "maxBodySize"),
        ("maxBodySize: -1", "maxBodySize"),
        ("env: [a, b]", "env"),
        ("env: {A: [1]}", "env.A"),
        ("envPrefix: PUBLIC_", "envPrefix"),
        ("envPrefix: [1]", "envPrefix"),
        ("publicRoutes: \"/x\"", "publicRoutes"),
        ("publicRoutes: {FETCH: [\"/a\"]}", "publicRoutes"),
        ("entrypoint: 5", "entrypoint"),
    ];
    for (text, key) in cases {
        let problems = parse(text).unwrap_err();
        assert!(problems.iter().any(|p| p.key == *key && !p.fix.is_empty()), "{text}: {problems:?}");
    }
}

#[test]
fn boolean_keys_take_true_false_and_their_string_forms() {
    let c = parse("lowMemory: \"0\"\nisolated: 'false'\nautoInstall: 1\ninjectBase: false").unwrap().0;
    assert!(!c.low_memory && !c.isolated && c.auto_install && !c.inject_base);
}

#[test]
fn max_memory_is_a_size_and_falsy_means_the_runtime_default() {
    assert_eq!(parse("maxMemory: 256mb").unwrap().0.max_memory_bytes, Some(256 << 20));
    assert_eq!(parse("maxMemory: 0").unwrap().0.max_memory_bytes, None);
    assert_eq!(parse("").unwrap().0.max_memory_bytes, None);
}

#[test]
fn a_mistyped_value_names_the_file_and_key() {
    let bad = app_dir(&[("manifest.yaml", "lowMemory: maybe\nmaxRequests: abc")]);
    let msg = load_app("todo", bad.path(), None).unwrap_err().to_string();
    assert!(msg.contains("manifest.yaml") && msg.contains("`lowMemory` `maybe` is not a boolean") && msg.contains("`maxRequests`"), "{msg}");
}

#[test]
fn all_problems_are_reported_at_once() {
    let problems = parse("timeout: abc\nmaxBodySize: huge\nenvPrefix: x").unwrap_err();
    assert_eq!(problems.len(), 3, "{problems:?}");
}

#[test]
fn dotenv_overrides_manifest_env() {
    let dotenv: BTreeMap<String, String> = [("A".to_owned(), "from-dotenv".to_owned())].into();
    let (c, _) = WorkerConfig::from_manifest(&yaml("env: {A: manifest, B: kept}"), dotenv).unwrap();
    assert_eq!(c.env.get("A").map(String::as_str), Some("from-dotenv"));
    assert_eq!(c.env.get("B").map(String::as_str), Some("kept"));
}

#[test]
fn info_json_reports_seconds() {
    let (c, _) = parse("timeout: 1500ms\nttl: 2\nidleTimeout: 2").unwrap();
    let info = c.to_info_json("index.ts");
    assert_eq!(info["timeout"], json!(1.5));
    assert_eq!(info["ttl"], json!(2));
    assert_eq!(info["entrypoint"], json!("index.ts"));
    assert!(info.get("env").is_none());
    let worker = c.to_json("index.ts");
    assert_eq!(worker["timeoutMs"], json!(1500));
}

fn app_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for (name, body) in files {
        let p = tmp.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
    tmp
}

#[test]
fn entrypoint_detection_prefers_configured_then_html_ts_js_mjs() {
    let cases: &[(&[(&str, &str)], Option<&str>, &str)] = &[
        (&[("index.ts", ""), ("index.html", "")], None, "index.html"),
        (&[("index.ts", ""), ("index.js", "")], None, "index.ts"),
        (&[("index.js", ""), ("index.mjs", "")], None, "index.js"),
        (&[("index.mjs", "")], None, "index.mjs"),
        (&[], None, "index.html"),
        (&[("src/app.ts", ""), ("index.html", "")], Some("src/app.ts"), "src/app.ts"),
        (&[("index.ts", "")], Some("missing.ts"), "index.ts"),
    ];
    for (files, configured, expected) in cases {
        let tmp = app_dir(files);
        let dir = std::fs::canonicalize(tmp.path()).unwrap();
        let (abs, rel) = find_entrypoint(&dir, *configured).unwrap();
        assert_eq!(rel, *expected, "{files:?} {configured:?}");
        assert!(abs.starts_with(&dir));
    }
}

#[test]
fn entrypoints_outside_the_app_dir_are_rejected() {
    let outer = tempfile::tempdir().unwrap();
    std::fs::write(outer.path().join("evil.ts"), "").unwrap();
    let dir = outer.path().join("app");
    std::fs::create_dir(&dir).unwrap();
    std::os::unix::fs::symlink(outer.path().join("evil.ts"), dir.join("index.ts")).unwrap();
    let dir = std::fs::canonicalize(&dir).unwrap();
    assert_eq!(find_entrypoint(&dir, Some("../evil.ts")).unwrap_err().key, "entrypoint");
    assert_eq!(find_entrypoint(&dir, Some(outer.path().join("evil.ts").to_str().unwrap())).unwrap_err().key, "entrypoint");
    assert_eq!(find_entrypoint(&dir, None).unwrap_err().key, "entrypoint", "symlinked index.ts escapes");
}

#[test]
fn load_app_reads_yaml_before_yml_and_reports_the_file() {
    let tmp = app_dir(&[("manifest.yaml", "ttl: 5\ntimeout: 1\nidleTimeout: 2"), ("manifest.yml", "timeout: bad"), ("package.json", r#"{"version":"2.1.0"}"#), (".env", "A=1")]);
    let app = load_app("todo", tmp.path(), None).unwrap();
    assert_eq!(app.config.ttl_ms, 5000.0);
    assert_eq!(app.version, "2.1.0");
    assert_eq!(app.config.env.get("A").map(String::as_str), Some("1"));
    assert!(app.is_static() || app.entrypoint_rel == "index.html");

    let bad = app_dir(&[("manifest.yml", "timeout: bad")]);
    let err = load_app("todo@1", bad.path(), None).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("`todo@1`") && msg.contains("manifest.yml") && msg.contains("`timeout`") && msg.contains("fix:"), "{msg}");

    let broken = app_dir(&[("manifest.yaml", "timeout: [unclosed")]);
    assert!(load_app("x", broken.path(), None).unwrap_err().to_string().contains("YAML"));
    let scalar = app_dir(&[("manifest.yaml", "just a string")]);
    assert!(load_app("x", scalar.path(), None).is_err());
}

#[test]
fn failures_are_rechecked_every_time_and_successes_kept_for_the_ttl() {
    let tmp = app_dir(&[("manifest.yaml", "timeout: bad")]);
    let cache = ConfigCache::new(Duration::from_secs(60));
    assert!(cache.get("a", tmp.path()).is_err());
    std::fs::write(tmp.path().join("manifest.yaml"), "timeout: 5").unwrap();
    assert_eq!(cache.get("a", tmp.path()).unwrap().config.timeout_ms, 5000.0);
    std::fs::write(tmp.path().join("manifest.yaml"), "timeout: 7").unwrap();
    assert_eq!(cache.get("a", tmp.path()).unwrap().config.timeout_ms, 5000.0);
    cache.invalidate();
    assert_eq!(cache.get("a", tmp.path()).unwrap().config.timeout_ms, 7000.0);
}

#[test]
fn configs_are_parsed_again_only_when_their_files_change() {
    let tmp = app_dir(&[("manifest.yaml", "timeout: bad"), ("index.ts", "")]);
    // A zero ttl compares the files on every lookup: only a change makes it parse again.
    let cache = ConfigCache::new(Duration::ZERO);
    for _ in 0..5 {
        assert!(cache.get("a", tmp.path()).is_err());
    }
    assert_eq!(cache.loads(), 1, "an unchanged broken manifest must not be parsed on every request");
    std::fs::write(tmp.path().join("manifest.yaml"), "timeout: 5").unwrap();
    assert_eq!(cache.get("a", tmp.path()).unwrap().config.timeout_ms, 5000.0);
    assert_eq!(cache.get("a", tmp.path()).unwrap().config.timeout_ms, 5000.0);
    assert_eq!(cache.loads(), 2);
    std::fs::write(tmp.path().join(".env"), "A=1").unwrap();
    assert_eq!(cache.get("a", tmp.path()).unwrap().config.env.get("A").map(String::as_str), Some("1"));
    std::fs::write(tmp.path().join("manifest.yml"), "timeout: 9").unwrap();
    assert_eq!(cache.get("a", tmp.path()).unwrap().config.timeout_ms, 5000.0, "manifest.yaml still wins");
    assert_eq!(cache.loads(), 4, "the .env and the new manifest.yml each count as a change");
    // The error names the app of this lookup, not the one that filled the cache.
    std::fs::write(tmp.path().join("manifest.yaml"), "timeout: bad").unwrap();
    assert!(cache.get("a", tmp.path()).is_err());
    assert_eq!(cache.get("a@1", tmp.path()).unwrap_err().app, "a@1");
}

#[test]
fn manifest_mistakes_name_the_file_and_key() {
    let deep = format!("timeout: 1\nx: {}\n", "[".repeat(100_000));
    let cases: &[(&[(&str, &str)], &str, &str, &str)] = &[
        (&[("manifest.yaml/keep", "")], "manifest.yaml", "(file)", "is a directory, not a file"),
        (&[("manifest.yaml", "env:\n  PORT: 1\n  PORT: 2\n")], "manifest.yaml", "env.PORT", "appears twice"),
        (&[("manifest.yml", "ttl: 1\nttl: 2\n")], "manifest.yml", "ttl", "appears twice"),
        (&[("manifest.yaml", &deep)], "manifest.yaml", "(file)", "nests deeper than 64 levels"),
        (&[("manifest.yaml", "timeout: [unclosed")], "manifest.yaml", "(file)", "is not valid YAML"),
        (&[("manifest.yaml", "- a\n")], "manifest.yaml", "(file)", "must be a mapping of keys, found a list"),
    ];
    for (files, file, key, needle) in cases {
        let tmp = app_dir(files);
        let started = Instant::now();
        let err = load_app("todo", tmp.path(), None).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
        assert!(err.file.ends_with(file), "{}", err.file.display());
        assert_eq!(err.problems[0].key, *key, "{err}");
        assert!(err.problems[0].message.contains(needle), "{err}");
        assert!(err.to_string().contains(file) && err.to_string().contains("fix:"), "{err}");
    }
}

#[test]
fn likely_typos_of_known_keys_warn() {
    let cases: &[(&str, Option<&str>)] = &[
        ("idle_timeout", Some("idleTimeout")),
        ("TTL", Some("ttl")),
        ("timout", Some("timeout")),
        ("maxBodySise", Some("maxBodySize")),
        ("name", None),
        ("base", None),
        ("custom", None),
        ("ttl", None),
    ];
    for (key, expected) in cases {
        assert_eq!(likely_typo(key), *expected, "{key}");
    }
    let (_, warnings) = parse("idle_timeout: 5").unwrap();
    assert!(warnings[0].contains("did you mean `idleTimeout`"), "{warnings:?}");
}
