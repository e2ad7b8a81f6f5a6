//! The client commands against a real runtime started by the test: `remote`, `apps`, `plugins`,
//! `keys --remote`, `status`, their output, exit codes, and what goes wrong (wrong URL, wrong
//! token, a runtime that drops the upload, an archive over the limit).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod support;

use support::{BIN, PLUGINS_DIR, Started, buntime};

const MASTER: &str = "test-master-key-0123456789abcdef";

/// A runtime with a master key, its own app dir, and a plugin dir of its own before the repo's.
struct Rt {
    started: Started,
    dir: tempfile::TempDir,
}

impl Rt {
    fn start(extra: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("apps")).unwrap();
        std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
        let plugins = format!("{}:{PLUGINS_DIR}", dir.path().join("plugins").display());
        let apps = dir.path().join("apps").display().to_string();
        let mut env = vec![
            ("RUNTIME_MASTER_KEY", MASTER),
            ("RUNTIME_PLUGIN_DIRS", plugins.as_str()),
            ("RUNTIME_WORKER_DIRS", apps.as_str()),
        ];
        env.extend_from_slice(extra);
        let started = support::start(buntime(dir.path(), &env));
        Self { started, dir }
    }

    fn url(&self) -> &str {
        &self.started.url
    }
}

/// The client binary with a private config dir and nothing else of the test's environment.
struct Cli {
    config: tempfile::TempDir,
}

impl Cli {
    fn new() -> Self {
        Self {
            config: tempfile::tempdir().unwrap(),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("BUNTIME_CONFIG_DIR", self.config.path())
            .args(args)
            .output()
            .unwrap()
    }

    /// Runs and asserts the exit code; returns stdout and stderr.
    fn expect(&self, code: i32, args: &[&str]) -> (String, String) {
        let out = self.run(args);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        assert_eq!(
            out.status.code(),
            Some(code),
            "buntime {args:?}\nstdout: {stdout}\nstderr: {stderr}"
        );
        (stdout, stderr)
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let (out, _) = self.expect(0, args);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {out}"))
    }

    fn add(&self, name: &str, url: &str, token: &str) {
        self.expect(0, &["remote", "add", name, "--url", url, "--token", token]);
    }
}

fn curl(url: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-o", "-", "-w", "\n%{http_code}", url])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

fn app_dir(root: &Path, name: &str, version: &str, body: &str) -> PathBuf {
    let dir = root.join(format!("{name}-{version}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("manifest.yaml"),
        format!("name: {name}\nversion: {version}\nentrypoint: index.html\n"),
    )
    .unwrap();
    std::fs::write(dir.join("index.html"), body).unwrap();
    dir
}

#[test]
fn remote_profiles_add_list_use_remove_with_a_private_token() {
    let rt = Rt::start(&[]);
    let cli = Cli::new();
    let (out, _) = cli.expect(
        0,
        &[
            "remote",
            "add",
            "prod",
            "--url",
            &format!("{}/", rt.url()),
            "--token",
            MASTER,
        ],
    );
    assert!(
        out.contains("Added remote `prod` (current)") && out.contains("API at /api"),
        "{out}"
    );
    cli.add("staging", rt.url(), "other-token");
    let (list, _) = cli.expect(0, &["remote", "list"]);
    let lines: Vec<&str> = list.lines().collect();
    assert!(
        lines[0].contains("NAME") && lines[0].contains("URL"),
        "{list}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with('*') && l.contains("prod") && l.contains(rt.url())),
        "{list}"
    );
    assert!(!list.contains(MASTER), "tokens are never printed: {list}");

    let token = cli.config.path().join("tokens/prod");
    assert_eq!(std::fs::read_to_string(&token).unwrap(), MASTER);
    assert_eq!(
        std::fs::metadata(&token).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(
        !std::fs::read_to_string(cli.config.path().join("remotes.json"))
            .unwrap()
            .contains(MASTER)
    );

    cli.expect(0, &["remote", "use", "staging"]);
    let list = cli.json(&["remote", "list", "--json"]);
    let current: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["current"] == true)
        .map(|r| r["name"].clone())
        .collect();
    assert_eq!(current, ["staging"]);
    cli.expect(0, &["remote", "remove", "staging"]);
    assert!(!cli.config.path().join("tokens/staging").exists());
    let (_, err) = cli.expect(5, &["remote", "use", "staging"]);
    assert!(err.contains("no remote named `staging`"), "{err}");
    let (_, err) = cli.expect(2, &["apps", "list"]);
    assert!(
        err.contains("no remote selected"),
        "the current remote was removed: {err}"
    );
    // `--token -` reads it from stdin, so it shows neither in the shell history nor in `ps`.
    let mut child = Command::new(BIN)
        .env_clear()
        .env("BUNTIME_CONFIG_DIR", cli.config.path())
        .args(["remote", "add", "piped", "--url", rt.url(), "--token", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"from-stdin\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(
        std::fs::read_to_string(cli.config.path().join("tokens/piped")).unwrap(),
        "from-stdin"
    );
    let (_, err) = cli.expect(
        2,
        &["remote", "add", "e", "--url", rt.url(), "--token", " "],
    );
    assert!(err.contains("--token is empty"), "{err}");
    let (_, err) = cli.expect(
        2,
        &["remote", "add", "../x", "--url", rt.url(), "--token", "t"],
    );
    assert!(err.contains("not a valid remote name"), "{err}");
}

#[test]
fn the_api_base_is_discovered_so_a_prefixed_api_works() {
    let rt = Rt::start(&[("RUNTIME_API_PREFIX", "/_")]);
    let cli = Cli::new();
    let (out, _) = cli.expect(
        0,
        &["remote", "add", "p", "--url", rt.url(), "--token", MASTER],
    );
    assert!(out.contains("API at /_/api"), "{out}");
    assert_eq!(cli.json(&["apps", "list", "--json"]), serde_json::json!([]));
    let (status, _) = cli.expect(0, &["status"]);
    assert!(status.contains("status      ready"), "{status}");
}

#[test]
fn apps_deploy_a_directory_and_an_archive_list_and_remove() {
    let rt = Rt::start(&[]);
    let cli = Cli::new();
    cli.add("rt", rt.url(), MASTER);
    let work = tempfile::tempdir().unwrap();
    let v1 = app_dir(work.path(), "site", "1.0.0", "<p>one</p>");
    let (out, _) = cli.expect(0, &["apps", "deploy", v1.to_str().unwrap()]);
    assert!(out.contains("Deployed site 1.0.0 to `rt`"), "{out}");
    assert_eq!(
        curl(&format!("{}/site/", rt.url())),
        (200, "<p>one</p>".to_owned())
    );

    // --version replaces the manifest's version in the packed archive; the directory is untouched.
    std::fs::write(v1.join("index.html"), "<p>two</p>").unwrap();
    let res = cli.json(&[
        "apps",
        "deploy",
        v1.to_str().unwrap(),
        "--version",
        "2.0.0",
        "--json",
    ]);
    assert_eq!(res["data"]["app"]["version"], "2.0.0");
    assert!(
        std::fs::read_to_string(v1.join("manifest.yaml"))
            .unwrap()
            .contains("1.0.0")
    );
    assert_eq!(
        curl(&format!("{}/site/", rt.url())),
        (200, "<p>two</p>".to_owned()),
        "the newest version is served"
    );

    // A ready-made archive goes up as it is.
    let archive = work.path().join("other.tar.gz");
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&archive).unwrap(),
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    let v = app_dir(work.path(), "other", "0.1.0", "<p>other</p>");
    tar.append_dir_all(".", &v).unwrap();
    tar.into_inner().unwrap().finish().unwrap();
    let (out, _) = cli.expect(0, &["apps", "deploy", archive.to_str().unwrap()]);
    assert!(out.contains("Deployed other 0.1.0"), "{out}");
    let (_, err) = cli.expect(
        2,
        &["apps", "deploy", archive.to_str().unwrap(), "--name", "x"],
    );
    assert!(
        err.contains("--name and --version work with a directory"),
        "{err}"
    );

    let (table, _) = cli.expect(0, &["apps", "list"]);
    let site = table
        .lines()
        .find(|l| l.starts_with("site"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(site.contains("2.0.0, 1.0.0"), "{table}");
    let list = cli.json(&["apps", "list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");

    cli.expect(0, &["apps", "remove", "site", "--version", "2.0.0"]);
    assert_eq!(
        curl(&format!("{}/site/", rt.url())),
        (200, "<p>one</p>".to_owned())
    );
    let (_, err) = cli.expect(5, &["apps", "remove", "site", "--version", "2.0.0"]);
    assert!(err.contains("VERSION_NOT_FOUND"), "{err}");
    cli.expect(0, &["apps", "remove", "site"]);
    let (_, err) = cli.expect(5, &["apps", "remove", "site"]);
    assert!(err.contains("APP_NOT_FOUND"), "{err}");
}

#[test]
fn plugins_deploy_disable_enable_and_remove_each_reload() {
    let rt = Rt::start(&[]);
    let cli = Cli::new();
    cli.add("rt", rt.url(), MASTER);
    let work = tempfile::tempdir().unwrap();
    let p = work.path().join("static");
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(
        p.join("manifest.yaml"),
        "name: \"@acme/plugin-static\"\nversion: 0.2.0\nbase: /stat\nentrypoint: index.html\n",
    )
    .unwrap();
    std::fs::write(p.join("index.html"), "<p>static</p>").unwrap();
    let (out, _) = cli.expect(0, &["plugins", "deploy", p.to_str().unwrap()]);
    assert!(
        out.contains("Installed plugin @acme/plugin-static 0.2.0")
            && out.contains("Reloaded: generation 2 with 9 plugins"),
        "{out}"
    );
    assert!(
        rt.dir
            .path()
            .join("plugins/@acme/plugin-static/manifest.yaml")
            .is_file()
    );
    assert_eq!(
        curl(&format!("{}/stat/", rt.url())),
        (200, "<p>static</p>".to_owned())
    );

    let (list, _) = cli.expect(0, &["plugins", "list"]);
    let row = list
        .lines()
        .find(|l| l.starts_with("@acme/plugin-static"))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(row.contains("0.2.0") && row.contains("/stat"), "{list}");
    let list = cli.json(&["plugins", "list", "--json"]);
    assert!(
        list["installed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["name"] == "@acme/plugin-static"),
        "{list}"
    );

    let (out, _) = cli.expect(0, &["plugins", "disable", "@acme/plugin-static"]);
    assert!(
        out.contains("Disabled plugin @acme/plugin-static")
            && out.contains("generation 3 with 8 plugins"),
        "{out}"
    );
    assert_eq!(curl(&format!("{}/stat/", rt.url())).0, 404);
    let manifest = std::fs::read_to_string(
        rt.dir
            .path()
            .join("plugins/@acme/plugin-static/manifest.yaml"),
    )
    .unwrap();
    assert!(
        manifest.ends_with("enabled: false\n") && manifest.contains("base: /stat"),
        "{manifest}"
    );
    let (out, _) = cli.expect(
        0,
        &["plugins", "enable", "@acme/plugin-static", "--no-reload"],
    );
    assert!(out.contains("Run `buntime plugins reload`"), "{out}");
    assert_eq!(
        curl(&format!("{}/stat/", rt.url())).0,
        404,
        "not applied before the reload"
    );
    let (out, _) = cli.expect(0, &["plugins", "reload"]);
    assert!(out.contains("generation 4 with 9 plugins"), "{out}");
    assert_eq!(
        curl(&format!("{}/stat/", rt.url())),
        (200, "<p>static</p>".to_owned())
    );
    cli.expect(5, &["plugins", "disable", "nope"]);

    let (out, _) = cli.expect(0, &["plugins", "remove", "@acme/plugin-static"]);
    assert!(out.contains("generation 5 with 8 plugins"), "{out}");
    assert_eq!(curl(&format!("{}/stat/", rt.url())).0, 404);
    cli.expect(5, &["plugins", "remove", "@acme/plugin-static"]);
    let report = cli.json(&["plugins", "reload", "--json"]);
    assert_eq!(
        (report["ok"].clone(), report["generation"].clone()),
        (serde_json::json!(true), serde_json::json!(6))
    );
}

#[test]
fn keys_go_to_the_runtime_with_remote_and_stay_offline_without() {
    let rt = Rt::start(&[]);
    let cli = Cli::new();
    cli.add("rt", rt.url(), MASTER);
    let (out, _) = cli.expect(
        0,
        &[
            "keys", "create", "--name", "ci", "--role", "viewer", "--remote",
        ],
    );
    assert!(out.contains("Created API key 1 `ci` (role viewer"), "{out}");
    let secret = out
        .lines()
        .find(|l| l.starts_with("btk_"))
        .unwrap_or_else(|| panic!("{out}"))
        .to_owned();
    let (list, _) = cli.expect(0, &["keys", "list", "--remote=rt"]);
    assert!(
        list.lines().any(|l| l.starts_with("1 ")
            && l.contains("ci")
            && l.contains("viewer")
            && l.contains("never")),
        "{list}"
    );
    assert!(!list.contains(&secret));
    let keys = cli.json(&["keys", "list", "--remote", "--json"]);
    assert_eq!(keys["keys"][0]["name"], "ci");

    // The viewer key reads but may not install: 403 is exit 3 with the missing permission named.
    cli.add("viewer", rt.url(), &secret);
    cli.expect(0, &["apps", "list", "--remote", "viewer"]);
    let work = tempfile::tempdir().unwrap();
    let app = app_dir(work.path(), "site", "1.0.0", "x");
    let (_, err) = cli.expect(
        3,
        &[
            "apps",
            "deploy",
            app.to_str().unwrap(),
            "--remote",
            "viewer",
        ],
    );
    assert!(
        err.contains("403 PERMISSION_DENIED") && err.contains("apps:install"),
        "{err}"
    );

    cli.expect(0, &["keys", "revoke", "1", "--remote"]);
    let (_, err) = cli.expect(5, &["keys", "revoke", "1", "--remote"]);
    assert!(err.contains("API_KEY_NOT_FOUND"), "{err}");
    let (_, err) = cli.expect(3, &["apps", "list", "--remote", "viewer"]);
    assert!(
        err.contains("401") && err.contains("--token"),
        "a revoked key is refused: {err}"
    );
    let (_, err) = cli.expect(2, &["keys", "create", "--remote"]);
    assert!(err.contains("--name"), "{err}");

    // Without --remote the offline store under the state dir is used, as before.
    let out = buntime(rt.dir.path(), &[])
        .args(["keys", "list"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn status_reports_readiness_and_json() {
    let rt = Rt::start(&[]);
    let cli = Cli::new();
    cli.add("rt", rt.url(), MASTER);
    let (out, _) = cli.expect(0, &["status"]);
    for needle in [
        "remote      rt",
        "status      ready",
        "generation  1",
        "plugins     8 loaded",
        "apps        0",
    ] {
        assert!(out.contains(needle), "{needle}: {out}");
    }
    let s = cli.json(&["status", "--json"]);
    assert_eq!(s["ready"]["status"], "ready");
}

#[test]
fn a_wrong_token_is_exit_3_and_a_wrong_url_exit_4() {
    let rt = Rt::start(&[]);
    let cli = Cli::new();
    cli.add("bad", rt.url(), "not-the-key");
    let (_, err) = cli.expect(3, &["apps", "list"]);
    assert!(
        err.contains("refused the token (401 AUTH_REQUIRED"),
        "{err}"
    );

    // With --json the failure is one JSON object on stderr.
    let (out, err) = cli.expect(3, &["apps", "list", "--json"]);
    assert!(out.is_empty(), "{out}");
    let e: serde_json::Value = serde_json::from_str(err.trim()).unwrap_or_else(|_| panic!("{err}"));
    assert_eq!(
        (e["error"]["exitCode"].as_i64(), e["error"]["kind"].as_str()),
        (Some(3), Some("auth")),
        "{e}"
    );
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("401 AUTH_REQUIRED"),
        "{e}"
    );

    // A port nobody listens on.
    let free = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (_, err) = cli.expect(
        4,
        &[
            "remote",
            "add",
            "gone",
            "--url",
            &format!("http://127.0.0.1:{free}"),
            "--token",
            "t",
        ],
    );
    assert!(
        err.contains("cannot connect") && err.contains("refused"),
        "{err}"
    );
    // https against a plain-http runtime is a TLS error, named as such.
    let https = rt.url().replace("http://", "https://");
    let (_, err) = cli.expect(
        4,
        &["remote", "add", "tls", "--url", &https, "--token", "t"],
    );
    assert!(
        err.contains("TLS error") && err.contains("--insecure"),
        "{err}"
    );
    // Something that is not a runtime.
    let (_, err) = cli.expect(
        1,
        &[
            "remote",
            "add",
            "x",
            "--url",
            &format!("{}/hello", rt.url()),
            "--token",
            "t",
        ],
    );
    assert!(err.contains("is this a Buntime runtime"), "{err}");
    let (_, err) = cli.expect(
        2,
        &["remote", "add", "x", "--url", "ftp://host", "--token", "t"],
    );
    assert!(err.contains("http:// or https://"), "{err}");
    // Nothing was added by the failures.
    assert_eq!(
        cli.json(&["remote", "list", "--json"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

/// Answers the discovery, then reads part of the next request and closes the connection.
fn dropping_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = vec![0u8; 64 * 1024];
            let n = s.read(&mut buf).unwrap_or(0);
            if String::from_utf8_lossy(&buf[..n]).starts_with("GET /.well-known/buntime") {
                let body = r#"{"api":"/api","version":"0.1.0"}"#;
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            } else {
                // Mid-upload: take a little more of the body, then hang up without an answer.
                let _ = s.read(&mut buf);
                drop(s);
            }
        }
    });
    url
}

#[test]
fn a_runtime_that_closes_mid_upload_is_a_connection_error() {
    let url = dropping_server();
    let cli = Cli::new();
    cli.add("flaky", &url, "t");
    let work = tempfile::tempdir().unwrap();
    let app = app_dir(work.path(), "big", "1.0.0", "x");
    // Incompressible content, so the upload is many reads long.
    let mut noise = vec![0u8; 4 * 1024 * 1024];
    let mut x: u32 = 2_463_534_242;
    for b in &mut noise {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    std::fs::write(app.join("blob.bin"), noise).unwrap();
    let (_, err) = cli.expect(4, &["apps", "deploy", app.to_str().unwrap()]);
    assert!(
        err.contains("did not complete") && err.contains("retry"),
        "{err}"
    );
    assert!(err.contains(&url), "{err}");
}

#[test]
fn an_archive_over_the_limit_is_refused_before_sending() {
    let url = dropping_server();
    let cli = Cli::new();
    cli.add("rt", &url, "t");
    let work = tempfile::tempdir().unwrap();
    let big = work.path().join("big.tar.gz");
    // Sparse: 101 MiB on paper, nothing on disk.
    std::fs::File::create(&big)
        .unwrap()
        .set_len(101 * 1024 * 1024)
        .unwrap();
    let (_, err) = cli.expect(1, &["apps", "deploy", big.to_str().unwrap()]);
    assert!(
        err.contains("up to 104857600 bytes (100 MiB)") && err.contains("big.tar.gz"),
        "{err}"
    );
}

/// An HTTPS server with a self-signed certificate serving a discovery document.
fn tls_server() -> Option<buntime_testkit::TlsServer> {
    let server = buntime_testkit::TlsServer::start_or_skip()?;
    std::fs::create_dir_all(server.dir().join(".well-known")).unwrap();
    std::fs::write(server.dir().join(".well-known/buntime"), r#"{"api":"/api","version":"tls-test"}"#).unwrap();
    Some(server)
}

#[test]
fn a_self_signed_certificate_is_a_tls_error_unless_insecure() {
    let Some(server) = tls_server() else { return };
    let cli = Cli::new();
    let (_, err) = cli.expect(
        4,
        &["remote", "add", "lab", "--url", &server.url(), "--token", "t"],
    );
    assert!(
        err.contains("TLS error") && err.contains("certificate") && err.contains("--insecure"),
        "{err}"
    );
    let (out, _) = cli.expect(
        0,
        &[
            "remote",
            "add",
            "lab",
            "--url",
            &server.url(),
            "--token",
            "t",
            "--insecure",
        ],
    );
    assert!(out.contains("runtime tls-test"), "{out}");
    let list = cli.json(&["remote", "list", "--json"]);
    assert_eq!(list[0]["insecure"], true, "{list}");
}

/// A fake runtime answering fixed `(path, status, body)` routes, 404 for the rest.
fn fixed_server(routes: Vec<(&'static str, u16, &'static str)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = vec![0u8; 16 * 1024];
            let n = s.read(&mut buf).unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]).into_owned();
            let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
            let (status, body) = routes
                .iter()
                .find(|(p, _, _)| *p == path)
                .map_or((404, "{}"), |(_, st, b)| (*st, *b));
            let _ = write!(
                s,
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

#[test]
fn status_of_a_degraded_runtime_is_exit_1_with_its_state() {
    let url = fixed_server(vec![
        (
            "/.well-known/buntime",
            200,
            r#"{"api":"/api","version":"9.9.9"}"#,
        ),
        (
            "/api/health/ready",
            503,
            r#"{"ok":false,"status":"degraded","version":"9.9.9","generation":7,"unavailable":["@buntime/plugin-database"]}"#,
        ),
        (
            "/api/plugins/loaded",
            200,
            r#"[{"name":"@buntime/plugin-database"}]"#,
        ),
        ("/api/apps", 200, "[]"),
    ]);
    let cli = Cli::new();
    cli.add("sick", &url, "t");
    let (out, err) = cli.expect(1, &["status"]);
    for needle in [
        "status      degraded",
        "generation  7",
        "unavailable @buntime/plugin-database",
    ] {
        assert!(out.contains(needle), "{needle}: {out}");
    }
    assert!(err.contains("`sick` is not ready (degraded)"), "{err}");
}

#[test]
fn a_failed_reload_lists_its_errors_and_exits_1() {
    let url = fixed_server(vec![
        (
            "/.well-known/buntime",
            200,
            r#"{"api":"/api","version":"9.9.9"}"#,
        ),
        (
            "/api/plugins/reload",
            422,
            r#"{"ok":false,"generation":3,"errors":[{"plugin":"auth","file":"/p/auth/manifest.yaml","key":"base","message":"must start with /"}]}"#,
        ),
    ]);
    let cli = Cli::new();
    cli.add("rt", &url, "t");
    let (_, err) = cli.expect(1, &["plugins", "reload"]);
    assert!(
        err.contains("the reload failed; generation 3 keeps serving:"),
        "{err}"
    );
    assert!(
        err.contains("auth /p/auth/manifest.yaml base: must start with /"),
        "{err}"
    );
}
