//! `buntime tui` once end to end: in a real terminal (tmux), against a real runtime, removing an
//! app through the UI. Skips without tmux, except under CI (`CI` set), where it fails.

use std::process::Command;
use std::time::{Duration, Instant};

mod support;

use support::{BIN, PLUGINS_DIR, buntime};

const MASTER: &str = "test-master-key-0123456789abcdef";

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux").args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Captures the pane until `needle` shows up (the UI draws asynchronously).
fn wait_for(session: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let screen = tmux(&["capture-pane", "-p", "-t", session]);
        if screen.contains(needle) {
            return screen;
        }
        assert!(
            Instant::now() < deadline,
            "`{needle}` never appeared:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Kills the tmux session if the test ends early.
struct Session(String);

impl Drop for Session {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .output();
    }
}

#[test]
fn the_tui_lists_apps_and_removes_one_in_a_real_terminal() {
    if Command::new("tmux").arg("-V").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "tmux is required under CI (scripts/system-deps.sh installs it)"
        );
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let apps = dir.path().join("apps");
    std::fs::create_dir_all(&apps).unwrap();
    let apps_env = apps.display().to_string();
    let rt = support::start(buntime(
        dir.path(),
        &[
            ("RUNTIME_MASTER_KEY", MASTER),
            ("RUNTIME_PLUGIN_DIRS", PLUGINS_DIR),
            ("RUNTIME_WORKER_DIRS", &apps_env),
        ],
    ));
    let config = dir.path().join("cli");
    let cli = |args: &[&str]| {
        let out = Command::new(BIN)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("BUNTIME_CONFIG_DIR", &config)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    cli(&["remote", "add", "e2e", "--url", &rt.url, "--token", MASTER]);
    let site = dir.path().join("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(
        site.join("manifest.yaml"),
        "name: tui-site\nversion: 1.2.3\nentrypoint: index.html\n",
    )
    .unwrap();
    std::fs::write(site.join("index.html"), "hi").unwrap();
    cli(&["apps", "deploy", site.to_str().unwrap()]);

    let session = Session(format!("buntime-tui-{}", std::process::id()));
    let command = format!("env BUNTIME_CONFIG_DIR='{}' '{BIN}' tui", config.display());
    let started = Command::new("tmux")
        .args([
            "new-session",
            "-d",
            "-s",
            &session.0,
            "-x",
            "110",
            "-y",
            "24",
            &command,
        ])
        .status()
        .unwrap();
    assert!(started.success());

    let screen = wait_for(&session.0, "tui-site");
    assert!(
        screen.contains(&format!("buntime · e2e · {}", rt.url)),
        "{screen}"
    );
    assert!(
        screen
            .lines()
            .any(|l| l.contains("> tui-site") && l.contains("1.2.3")),
        "{screen}"
    );

    tmux(&["send-keys", "-t", &session.0, "4"]);
    let screen = wait_for(&session.0, "Status       ready");
    assert!(screen.contains("Generation   1"), "{screen}");

    tmux(&["send-keys", "-t", &session.0, "1"]);
    wait_for(&session.0, "> tui-site");
    tmux(&["send-keys", "-t", &session.0, "d"]);
    wait_for(&session.0, "Remove app tui-site (every version)? y/n");
    tmux(&["send-keys", "-t", &session.0, "y"]);
    let screen = wait_for(&session.0, "Removed app tui-site.");
    assert!(screen.contains("No apps yet."), "{screen}");
    assert_eq!(
        cli(&["apps", "list", "--json"]).trim(),
        "[]",
        "the runtime no longer has the app"
    );

    tmux(&["send-keys", "-t", &session.0, "q"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while tmux(&["list-sessions", "-F", "#{session_name}"])
        .lines()
        .any(|s| s == session.0)
    {
        assert!(Instant::now() < deadline, "q did not end the TUI");
        std::thread::sleep(Duration::from_millis(100));
    }
}
