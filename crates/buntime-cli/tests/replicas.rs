//! Many replicas on one PostgreSQL: three `buntime` processes share one data dir and one server
//! (started by the test). Keyval written through one is read through another, an API key created
//! on one works on the others, `POST /api/plugins/reload` on one reloads all of them while load
//! runs at every replica (failed requests counted, goal 0), and a replica that loses PostgreSQL
//! keeps serving, reports `degraded` and recovers by itself.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{REPO, Started, buntime};

const MASTER: &str = "replicas-master-key-0123456789";

/// One keep-alive HTTP/1.1 connection (the load must not be measuring connection set-up).
struct Conn {
    stream: BufReader<TcpStream>,
    host: String,
}

impl Conn {
    fn open(url: &str) -> std::io::Result<Self> {
        let host = url.trim_start_matches("http://").to_owned();
        let stream = TcpStream::connect(&host)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream: BufReader::new(stream),
            host,
        })
    }

    fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> std::io::Result<(u16, String)> {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.host);
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        let body = body.unwrap_or("");
        if !body.is_empty() || method != "GET" {
            req.push_str(&format!(
                "content-type: application/json\r\ncontent-length: {}\r\n",
                body.len()
            ));
        }
        req.push_str("\r\n");
        req.push_str(body);
        self.stream.get_mut().write_all(req.as_bytes())?;
        let mut line = String::new();
        self.stream.read_line(&mut line)?;
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let (mut length, mut chunked) = (0usize, false);
        loop {
            line.clear();
            self.stream.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').unwrap_or((l, ""));
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            } else if k.eq_ignore_ascii_case("transfer-encoding")
                && v.trim().eq_ignore_ascii_case("chunked")
            {
                chunked = true;
            }
        }
        let mut out = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.stream.read_line(&mut line)?;
                let n = usize::from_str_radix(line.trim(), 16).map_err(std::io::Error::other)?;
                let mut chunk = vec![0; n + 2];
                self.stream.read_exact(&mut chunk)?;
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&chunk[..n]);
            }
        } else {
            out.resize(length, 0);
            self.stream.read_exact(&mut out)?;
        }
        Ok((status, String::from_utf8_lossy(&out).into_owned()))
    }
}

/// One request on a fresh connection; connection errors are status 0.
fn call(
    url: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (u16, Value) {
    let body = body.map(|b| b.to_string());
    match Conn::open(url).and_then(|mut c| c.request(method, path, headers, body.as_deref())) {
        Ok((status, text)) => (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ),
        Err(e) => (0, Value::String(e.to_string())),
    }
}

fn ready(url: &str) -> Value {
    call(url, "GET", "/api/health/ready", &[], None).1
}

fn reload(url: &str) -> (u16, Value) {
    call(
        url,
        "POST",
        "/api/plugins/reload",
        &[("x-api-key", MASTER)],
        None,
    )
}

/// Waits until `f` holds, up to `within`; panics with the last value otherwise.
fn wait_for<T: std::fmt::Debug>(
    within: Duration,
    what: &str,
    mut f: impl FnMut() -> (bool, T),
) -> T {
    let start = Instant::now();
    loop {
        let (ok, v) = f();
        if ok {
            return v;
        }
        assert!(
            start.elapsed() < within,
            "{what}: still {v:?} after {within:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A plugins dir with the shipped database (on PostgreSQL `url`), keyval (on postgres) and hello.
fn plugins_dir(root: &Path, url: &str) -> PathBuf {
    let plugins = root.join("plugins");
    let shipped = |name: &str| {
        std::fs::read_to_string(
            Path::new(REPO)
                .join("plugins")
                .join(name)
                .join("manifest.yaml"),
        )
        .unwrap()
    };
    let db = shipped("plugin-database");
    let (head, tail) = db.split_once("adapters:").unwrap();
    let tenancy = &tail[tail.find("\ntenancy:").unwrap()..];
    let adapters = format!(
        "adapters:\n  - type: postgres\n    default: true\n    url: \"{url}\"\n    poolSize: 4\n"
    );
    let keyval = shipped("plugin-keyval").replace("database: sqlite", "database: postgres");
    assert!(
        keyval.contains("database: postgres"),
        "the shipped keyval manifest names its adapter"
    );
    for (name, text) in [
        ("plugin-database", format!("{head}{adapters}{tenancy}")),
        ("plugin-keyval", keyval),
        ("plugin-hello", shipped("plugin-hello")),
    ] {
        std::fs::create_dir_all(plugins.join(name)).unwrap();
        std::fs::write(plugins.join(name).join("manifest.yaml"), text).unwrap();
    }
    plugins
}

fn set_greeting(plugins: &Path, greeting: &str) {
    let path = plugins.join("plugin-hello/manifest.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("greeting:"))
        .collect();
    std::fs::write(
        &path,
        format!("{}\ngreeting: \"{greeting}\"\n", kept.join("\n")),
    )
    .unwrap();
}

fn greeting(url: &str) -> Value {
    call(url, "GET", "/hello/api/greeting", &[], None).1["message"].clone()
}

/// Starts `n` replicas on one data dir, one plugins dir and PostgreSQL `url`.
fn start_replicas(root: &Path, plugins: &Path, url: &str, n: usize) -> Vec<Started> {
    (0..n)
        .map(|i| start_replica(root, plugins, url, &format!("r{i}")))
        .collect()
}

/// Starts one replica named `id`.
fn start_replica(root: &Path, plugins: &Path, url: &str, id: &str) -> Started {
    start_replica_with(root, plugins, url, id, &[])
}

/// Starts one replica named `id` with `extra` environment variables.
fn start_replica_with(
    root: &Path,
    plugins: &Path,
    url: &str,
    id: &str,
    extra: &[(&str, &str)],
) -> Started {
    let apps = root.join("apps");
    let mut cmd = buntime(
        root,
        &[
            ("RUNTIME_PLUGIN_DIRS", plugins.to_str().unwrap()),
            ("RUNTIME_WORKER_DIRS", apps.to_str().unwrap()),
            ("RUNTIME_MASTER_KEY", MASTER),
            ("RUNTIME_CLUSTER_DATABASE_URL", url),
            ("RUNTIME_REPLICA_ID", id),
            ("RUNTIME_SHUTDOWN_GRACE_MS", "5000"),
        ],
    );
    cmd.envs(extra.iter().copied());
    support::start(cmd)
}

/// Prints what the replicas logged (at info and above) so far: a failed round says why.
fn dump_logs(replicas: &[Started]) {
    for r in replicas {
        for l in r
            .lines
            .try_iter()
            .filter(|l| !l.contains("\"level\":\"DEBUG\""))
        {
            eprintln!("{} {l}", r.url);
        }
    }
}

fn connected(url: &str) -> (bool, Value) {
    let r = ready(url);
    (r["cluster"]["link"] == "connected", r)
}

#[test]
fn replicas_on_one_postgres_share_keyval_and_keys_and_reload_together_under_load() {
    let Some(pg) = buntime_testkit::PgServer::start_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins_dir(dir.path(), &pg.url());
    let replicas = start_replicas(dir.path(), &plugins, &pg.url(), 3);
    let urls: Vec<String> = replicas.iter().map(|r| r.url.clone()).collect();
    for (i, url) in urls.iter().enumerate() {
        let r = wait_for(Duration::from_secs(10), "replica joins the cluster", || {
            connected(url)
        });
        assert_eq!(
            (
                r["status"].clone(),
                r["generation"].clone(),
                r["cluster"]["replica"].clone()
            ),
            (json!("ready"), json!(1), json!(format!("r{i}"))),
            "{r}"
        );
    }

    // Keyval: written through r0, read through r1 and r2; an atomic check made on r2 sees r0's write.
    let (s, put) = call(
        &urls[0],
        "PUT",
        "/keyval/api/keys/shared/greeting",
        &[],
        Some(json!({"from": "r0"})),
    );
    assert_eq!(s, 200, "{put}");
    for url in &urls[1..] {
        let (s, e) = call(url, "GET", "/keyval/api/keys/shared/greeting", &[], None);
        assert_eq!(
            (s, e["value"].clone(), e["versionstamp"].clone()),
            (200, json!({"from": "r0"}), put["versionstamp"].clone())
        );
    }
    let stale = json!({"checks": [{"key": ["shared", "greeting"], "versionstamp": null}], "mutations": [{"type": "set", "key": ["shared", "greeting"], "value": "lost"}]});
    assert_eq!(
        call(&urls[2], "POST", "/keyval/api/atomic", &[], Some(stale)).1,
        json!({"ok": false})
    );

    // A watcher on r2 gets a write made through r0 (NOTIFY across the processes).
    let watch_url = format!(
        "{}/keyval/api/watch?keys=shared/live&initial=false",
        urls[2]
    );
    let watcher = std::thread::spawn(move || {
        std::process::Command::new("curl")
            .args(["-s", "-N", "-m", "4"])
            .arg(&watch_url)
            .output()
            .unwrap()
    });
    for i in 0..3 {
        std::thread::sleep(Duration::from_millis(700));
        let (s, _) = call(
            &urls[0],
            "PUT",
            "/keyval/api/keys/shared/live",
            &[],
            Some(json!({"write": i})),
        );
        assert_eq!(s, 200);
    }
    let streamed = String::from_utf8_lossy(&watcher.join().unwrap().stdout).into_owned();
    assert!(
        streamed.contains("event: change") && streamed.contains(r#""value":{"write":2}"#),
        "the watcher on r2 saw r0's writes: {streamed}"
    );

    // API keys live in the shared state dir: created on r1, accepted by r0 and r2.
    let (s, key) = call(
        &urls[1],
        "POST",
        "/api/keys",
        &[("x-api-key", MASTER)],
        Some(json!({"name": "ci", "role": "admin"})),
    );
    assert_eq!(s, 201, "{key}");
    let secret = key["data"]["key"]
        .as_str()
        .unwrap_or_else(|| panic!("a created key shows its secret once: {key}"))
        .to_owned();
    for url in [&urls[0], &urls[2]] {
        let (s, body) = call(url, "GET", "/api/keys", &[("x-api-key", &secret)], None);
        assert_eq!(s, 200, "{body}");
    }

    // Load at every replica through five fan-out reloads.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
    let workers: Vec<_> = urls
        .iter()
        .cloned()
        .map(|url| {
            let (stop, ok, failed, failures) =
                (stop.clone(), ok.clone(), failed.clone(), failures.clone());
            std::thread::spawn(move || {
                let mut conn = Conn::open(&url).unwrap();
                // A native route and a keyval read (a PostgreSQL round trip through the database
                // plugin, whose pool each new generation replaces), in turn.
                let paths = ["/hello/api/greeting", "/keyval/api/keys/shared/greeting"];
                let mut n = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    // Paced (about 300 requests/s per replica): the point is requests in flight
                    // across every swap, not saturating a shared 2-core machine.
                    std::thread::sleep(Duration::from_millis(3));
                    match conn.request("GET", paths[n % 2], &[], None) {
                        Ok((200, _)) => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        other => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            failures.lock().unwrap().push(format!("{url}: {other:?}"));
                            // A closed keep-alive connection is a failure too; go on with a new one.
                            if let Ok(c) = Conn::open(&url) {
                                conn = c;
                            }
                        }
                    }
                }
            })
        })
        .collect();
    let mut fanout_ms = Vec::new();
    for round in 1..=5u64 {
        let origin = &urls[(round as usize) % urls.len()];
        set_greeting(&plugins, &format!("round {round}"));
        let started = Instant::now();
        let (s, report) = reload(origin);
        if s != 200 || report["cluster"]["fanout"] != true {
            dump_logs(&replicas);
        }
        assert_eq!(s, 200, "{report}");
        let generation = report["generation"].as_u64().unwrap();
        assert_eq!(generation, round + 1, "{report}");
        assert_eq!(report["cluster"]["fanout"], true, "{report}");
        for url in &urls {
            wait_for(
                Duration::from_secs(10),
                "every replica serves the new generation",
                || {
                    let r = ready(url);
                    (
                        r["generation"] == json!(generation)
                            && greeting(url) == json!(format!("round {round}")),
                        r,
                    )
                },
            );
        }
        fanout_ms.push(started.elapsed().as_millis());
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    eprintln!(
        "replicas: {ok} requests served during 5 fan-out reloads, {failed} failed; reload to all-serving ms: {fanout_ms:?}"
    );
    assert!(ok > 100, "the load ran ({ok} requests)");
    assert_eq!(
        failed,
        0,
        "no request fails during a fan-out reload: {:?}",
        failures.lock().unwrap().iter().take(5).collect::<Vec<_>>()
    );
    for url in &urls {
        let r = ready(url);
        assert_eq!(r["generation"], json!(6), "{r}");
    }
}

#[test]
fn a_replica_that_loses_postgres_keeps_serving_reports_degraded_and_recovers() {
    let Some(pg) = buntime_testkit::PgServer::start_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins_dir(dir.path(), &pg.url());
    let replicas = start_replicas(dir.path(), &plugins, &pg.url(), 2);
    let urls: Vec<String> = replicas.iter().map(|r| r.url.clone()).collect();
    for url in &urls {
        wait_for(Duration::from_secs(10), "replica joins the cluster", || {
            connected(url)
        });
    }

    pg.stop().unwrap();
    for url in &urls {
        let r = wait_for(
            Duration::from_secs(10),
            "replica notices the lost database",
            || {
                let (s, r) = call(url, "GET", "/api/health/ready", &[], None);
                (s == 200 && r["status"] == "degraded", r)
            },
        );
        assert_eq!(r["cluster"]["link"], "disconnected", "{r}");
        assert!(r["cluster"]["error"].is_string(), "{r}");
        // What needs no shared state still works.
        assert_eq!(greeting(url), json!("Hello from Buntime"));
    }
    // A reload during the outage is refused (keyval cannot open its database) and the serving
    // generation stays: all or nothing, as on one runtime.
    set_greeting(&plugins, "during the outage");
    let (s, report) = reload(&urls[0]);
    assert_eq!(
        (s, report["generation"].clone()),
        (422, json!(1)),
        "{report}"
    );
    assert!(
        report["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("cannot connect to PostgreSQL"),
        "{report}"
    );
    assert_eq!(greeting(&urls[0]), json!("Hello from Buntime"));
    // Keyval needs the database: a clear error, not a hang or a crash.
    let (s, body) = call(&urls[1], "GET", "/keyval/api/keys/x", &[], None);
    assert!(s >= 500, "{s} {body}");

    pg.restart().unwrap();
    for url in &urls {
        wait_for(
            Duration::from_secs(20),
            "replica recovers by itself",
            || {
                let r = ready(url);
                (
                    r["status"] == "ready" && r["cluster"]["link"] == "connected",
                    r,
                )
            },
        );
    }
    // Fan-out works again, and keyval too.
    set_greeting(&plugins, "after the outage");
    let (s, report) = reload(&urls[1]);
    assert_eq!(
        (s, report["cluster"]["fanout"].clone()),
        (200, json!(true)),
        "{report}"
    );
    wait_for(
        Duration::from_secs(10),
        "the other replica reloads again",
        || {
            let g = greeting(&urls[0]);
            (g == json!("after the outage"), g)
        },
    );
    let (s, body) = call(
        &urls[0],
        "PUT",
        "/keyval/api/keys/back",
        &[],
        Some(json!(1)),
    );
    assert_eq!(s, 200, "{body}");
}

#[test]
fn a_replica_frozen_during_a_reload_catches_up_when_it_resumes() {
    let Some(pg) = buntime_testkit::PgServer::start_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins_dir(dir.path(), &pg.url());
    let mut replicas = start_replicas(dir.path(), &plugins, &pg.url(), 2);
    let urls: Vec<String> = replicas.iter().map(|r| r.url.clone()).collect();
    for url in &urls {
        wait_for(Duration::from_secs(10), "replica joins the cluster", || {
            connected(url)
        });
    }
    // r1 is frozen (SIGSTOP) while r0 reloads and its files change again after, as a replica
    // stuck in a long GC pause or on an overloaded node would be.
    let pid = replicas[1].child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-STOP", &pid])
            .status()
            .unwrap()
            .success()
    );
    set_greeting(&plugins, "while r1 slept");
    let (s, report) = reload(&urls[0]);
    assert_eq!(
        (s, report["cluster"]["fanout"].clone()),
        (200, json!(true)),
        "{report}"
    );
    assert!(
        std::process::Command::new("kill")
            .args(["-CONT", &pid])
            .status()
            .unwrap()
            .success()
    );
    wait_for(
        Duration::from_secs(15),
        "r1 catches up with the reload it missed",
        || {
            let g = greeting(&urls[1]);
            (g == json!("while r1 slept"), g)
        },
    );
    assert_eq!(ready(&urls[1])["generation"], json!(2));
    drop(replicas.pop());
}

#[test]
fn a_reload_made_while_postgres_is_down_reaches_the_others_when_it_is_back() {
    let Some(pg) = buntime_testkit::PgServer::start_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins_dir(dir.path(), &pg.url());
    // Only hello: a generation that needs no database, so the reload itself succeeds meanwhile.
    for name in ["plugin-database", "plugin-keyval"] {
        std::fs::remove_dir_all(plugins.join(name)).unwrap();
    }
    let replicas = start_replicas(dir.path(), &plugins, &pg.url(), 2);
    let urls: Vec<String> = replicas.iter().map(|r| r.url.clone()).collect();
    for url in &urls {
        wait_for(Duration::from_secs(10), "replica joins the cluster", || {
            connected(url)
        });
    }
    pg.stop().unwrap();
    wait_for(
        Duration::from_secs(10),
        "r0 notices the lost database",
        || {
            let r = ready(&urls[0]);
            (r["cluster"]["link"] == "disconnected", r)
        },
    );
    set_greeting(&plugins, "told later");
    let (s, report) = reload(&urls[0]);
    assert_eq!(
        (s, report["cluster"]["fanout"].clone()),
        (200, json!(false)),
        "{report}"
    );
    assert_eq!(greeting(&urls[0]), json!("told later"));
    assert_eq!(greeting(&urls[1]), json!("Hello from Buntime"));
    pg.restart().unwrap();
    wait_for(
        Duration::from_secs(20),
        "r1 applies the reload r0 made during the outage",
        || {
            let g = greeting(&urls[1]);
            (g == json!("told later"), g)
        },
    );
    assert_eq!(ready(&urls[1])["generation"], json!(2));
}

#[test]
fn a_replica_killed_during_a_fan_out_does_not_hold_up_the_others() {
    let Some(pg) = buntime_testkit::PgServer::start_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins_dir(dir.path(), &pg.url());
    let mut replicas = start_replicas(dir.path(), &plugins, &pg.url(), 3);
    let urls: Vec<String> = replicas.iter().map(|r| r.url.clone()).collect();
    for url in &urls {
        wait_for(Duration::from_secs(10), "replica joins the cluster", || {
            connected(url)
        });
    }
    set_greeting(&plugins, "after the kill");
    // SIGKILL r2 while r0's reload is announced: r2 dies mid-fan-out, with its connections.
    let victim = std::thread::spawn({
        let mut r2 = replicas.pop().unwrap();
        move || {
            std::thread::sleep(Duration::from_millis(20));
            r2.child.kill().unwrap();
            r2.child.wait().unwrap()
        }
    });
    let (s, report) = reload(&urls[0]);
    assert_eq!(
        (s, report["cluster"]["fanout"].clone()),
        (200, json!(true)),
        "{report}"
    );
    victim.join().unwrap();
    wait_for(Duration::from_secs(10), "r1 reloads", || {
        let g = greeting(&urls[1]);
        (g == json!("after the kill"), g)
    });
    for url in &urls[..2] {
        let r = ready(url);
        assert_eq!(
            (r["status"].clone(), r["generation"].clone()),
            (json!("ready"), json!(2)),
            "{r}"
        );
    }
    // A replacement started on the same files serves what the others reloaded to.
    let again = start_replica(dir.path(), &plugins, &pg.url(), "r2-replacement");
    assert_eq!(greeting(&again.url), json!("after the kill"));
    wait_for(Duration::from_secs(10), "the replacement joins", || {
        connected(&again.url)
    });
}

/// Runs the client (`buntime remote …`, `buntime apps …`) with its own config dir.
fn client(config: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new(support::BIN)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BUNTIME_CONFIG_DIR", config)
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "buntime {args:?} failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The body of `GET /fan/` (status 0 when the replica cannot be reached).
fn fan_page(url: &str) -> (u16, Value) {
    call(url, "GET", "/fan/", &[], None)
}

/// Two replicas whose app caches outlive the test (so only the fan-out can make one see the
/// other's change), each already caching that no app `fan` exists.
fn two_replicas_caching_apps_for_long(root: &Path, pg_url: &str) -> (Vec<Started>, Vec<String>) {
    let plugins = plugins_dir(root, pg_url);
    let long_caches = [
        ("RUNTIME_WORKER_RESOLVER_CACHE_TTL_MS", "600000"),
        ("RUNTIME_WORKER_CONFIG_CACHE_TTL_MS", "600000"),
    ];
    let replicas: Vec<Started> = (0..2)
        .map(|i| start_replica_with(root, &plugins, pg_url, &format!("r{i}"), &long_caches))
        .collect();
    let urls: Vec<String> = replicas.iter().map(|r| r.url.clone()).collect();
    for url in &urls {
        wait_for(Duration::from_secs(10), "replica joins the cluster", || connected(url));
        assert_eq!(fan_page(url).0, 404, "no app yet");
    }
    (replicas, urls)
}

/// The static app `fan@1.0.0` whose page is `body`, in `root/site`.
fn fan_site(root: &Path, body: &str) -> PathBuf {
    let site = root.join("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("manifest.yaml"), "name: fan\nversion: 1.0.0\nentrypoint: index.html\n").unwrap();
    std::fs::write(site.join("index.html"), body).unwrap();
    site
}

#[test]
fn an_app_deployed_or_removed_through_one_replica_is_served_by_the_others_at_once() {
    let Some(pg) = buntime_testkit::PgServer::start_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_replicas, urls) = two_replicas_caching_apps_for_long(dir.path(), &pg.url());
    let config = dir.path().join("client");
    for (i, url) in urls.iter().enumerate() {
        client(&config, &["remote", "add", &format!("r{i}"), "--url", url, "--token", MASTER]);
    }
    // Deployed through r0: r1 serves it within moments, not after its 10-minute cache.
    let site = fan_site(dir.path(), "first");
    client(&config, &["remote", "use", "r0"]);
    let started = Instant::now();
    client(&config, &["apps", "deploy", site.to_str().unwrap()]);
    let served = |url: &str, body: &str| {
        let (status, page) = fan_page(url);
        (status == 200 && page == json!(body), (status, page))
    };
    wait_for(Duration::from_secs(5), "r1 serves the app deployed on r0", || served(&urls[1], "first"));
    let first_ms = started.elapsed().as_millis();

    // The same version replaced through r1: r0 serves the new files (its static cache forgot them).
    assert!(served(&urls[0], "first").0, "r0 serves what it installed");
    std::fs::write(site.join("index.html"), "second").unwrap();
    client(&config, &["remote", "use", "r1"]);
    client(&config, &["apps", "deploy", site.to_str().unwrap()]);
    wait_for(Duration::from_secs(5), "r0 serves the version replaced on r1", || served(&urls[0], "second"));

    // Removed through r0: gone from r1 too.
    client(&config, &["remote", "use", "r0"]);
    client(&config, &["apps", "remove", "fan"]);
    wait_for(Duration::from_secs(5), "the app removed on r0 is gone from r1", || {
        let (status, page) = fan_page(&urls[1]);
        (status == 404, (status, page))
    });
    for (url, want) in [(&urls[0], 1), (&urls[1], 2)] {
        let r = ready(url);
        assert_eq!(r["cluster"]["appliedAppChanges"], json!(want), "{url}: {r}");
    }
    eprintln!("replicas: an app deployed on r0 was served by r1 {first_ms} ms after the deploy command started");
}

#[test]
fn an_app_deployed_while_postgres_is_down_reaches_the_other_replica_when_it_is_back() {
    let Some(pg) = buntime_testkit::PgServer::start_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_replicas, urls) = two_replicas_caching_apps_for_long(dir.path(), &pg.url());
    pg.stop().unwrap();
    for url in &urls {
        wait_for(Duration::from_secs(10), "replica notices the lost database", || {
            let r = ready(url);
            (r["cluster"]["link"] == "disconnected", r)
        });
    }
    let config = dir.path().join("client");
    client(&config, &["remote", "add", "r0", "--url", &urls[0], "--token", MASTER]);
    let site = fan_site(dir.path(), "made offline");
    client(&config, &["apps", "deploy", site.to_str().unwrap()]);
    assert_eq!(fan_page(&urls[0]), (200, json!("made offline")), "the replica deployed to serves it");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(fan_page(&urls[1]).0, 404, "the other replica cannot know yet (its cache holds the miss)");

    pg.restart().unwrap();
    wait_for(Duration::from_secs(20), "the other replica serves the app once the link is back", || {
        let (status, page) = fan_page(&urls[1]);
        (status == 200 && page == json!("made offline"), (status, page))
    });
}
