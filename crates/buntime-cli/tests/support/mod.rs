//! Shared by the tests that run the `buntime` binary: the command with a clean environment, a
//! process that is killed when the test ends, and waiting until it is ready.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_buntime");
pub const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
pub const PLUGINS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../plugins");
pub const PROJECT_BUN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../.tools/node_modules/bun/bin/bun.exe"
);

/// The binary run in `dir` with nothing of the test's environment but `PATH`: any free port on
/// 127.0.0.1, JSON logs at `info`, the repo's `plugins/`, state under `dir/state`; `env` adds to
/// or overrides that.
pub fn buntime(dir: &Path, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PORT", "0")
        .env("RUNTIME_HOST", "127.0.0.1")
        .env("RUNTIME_LOG_FORMAT", "json")
        .env("RUNTIME_LOG_LEVEL", "info")
        .env("RUNTIME_PLUGIN_DIRS", PLUGINS_DIR)
        .env("RUNTIME_STATE_DIR", dir.join("state"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// A runtime process that is killed if the test ends (or panics) before stopping it.
pub struct Running(pub Child);

impl Deref for Running {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A started runtime: the process, its URL, the log lines up to `Runtime ready.`, and the rest
/// as they come.
pub struct Started {
    pub child: Running,
    pub url: String,
    pub startup: Vec<String>,
    pub lines: Receiver<String>,
}

/// Spawns `cmd` (stdout piped, stderr dropped) and waits up to 30 s for `Runtime ready.`.
pub fn start(mut cmd: Command) -> Started {
    let mut child = Running(
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut url = None;
    let mut startup = Vec::new();
    while Instant::now() < deadline {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("runtime did not get ready: {startup:?}"));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if v["message"] == "Runtime listening; loading plugins." {
            url = v["url"].as_str().map(|u| u.replace("0.0.0.0", "127.0.0.1"));
        }
        let ready = v["message"] == "Runtime ready.";
        startup.push(line);
        if ready {
            break;
        }
    }
    let url = url.unwrap_or_else(|| panic!("the runtime logs its url: {startup:?}"));
    Started {
        child,
        url,
        startup,
        lines,
    }
}
