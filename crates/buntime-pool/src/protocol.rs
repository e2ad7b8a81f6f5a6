//! The worker-host control protocol: JSON lines over a Unix socket (pure types, no I/O).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Starts a worker thread that serves one app on `socket_path`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Spawn {
    /// The worker id (a UUIDv4, also its `WORKER_ID`).
    pub id: String,
    /// The app key (`name@version`), for the worker's own error answers.
    pub app: String,
    /// The app directory.
    pub app_dir: String,
    /// The module to import (absolute, re-checked to stay inside `app_dir`).
    pub entrypoint: String,
    /// The worker's complete environment.
    pub env: BTreeMap<String, String>,
    /// Where the worker's `Bun.serve` listens.
    pub socket_path: String,
    /// Run `bun install --frozen-lockfile --ignore-scripts` first.
    pub auto_install: bool,
    /// Reduced-memory mode was asked for (the host itself runs with `--smol`).
    pub low_memory: bool,
    /// Inject `<base href>` into HTML responses.
    pub inject_base: bool,
    /// Variables injected as `window.__env__` into HTML responses.
    pub public_env: BTreeMap<String, String>,
    /// Largest request body the worker's server accepts.
    pub max_body_bytes: u64,
    /// Heap the worker may use before it is stopped (`null`: no limit).
    pub max_memory_bytes: Option<u64>,
}

/// A message from the runtime to a host.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "op", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Command {
    /// Start a worker.
    Spawn(Spawn),
    /// Run the app's `onIdle`.
    Idle {
        /// The worker.
        id: String,
    },
    /// Run the app's `onTerminate`, then stop the thread after `grace_ms`.
    Terminate {
        /// The worker.
        id: String,
        /// Time `onTerminate` gets.
        grace_ms: u64,
    },
    /// Stop every worker and exit.
    Shutdown {
        /// Time each `onTerminate` gets.
        grace_ms: u64,
    },
}

/// A message from a host to the runtime.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "ev", rename_all = "camelCase")]
pub enum Event {
    /// The host is up.
    Hello {
        /// Its process id.
        pid: u32,
    },
    /// A worker loaded its app and listens on its socket.
    Ready {
        /// The worker.
        id: String,
    },
    /// A worker failed to start or raised an uncaught error.
    Error {
        /// The worker.
        id: String,
        /// What went wrong.
        message: String,
    },
    /// A worker went over its memory limit; the host stops its thread next.
    Memory {
        /// The worker.
        id: String,
        /// Heap in use, in bytes.
        used: u64,
        /// The limit, in bytes.
        limit: u64,
    },
    /// A worker thread ended.
    Exit {
        /// The worker.
        id: String,
        /// Its exit code.
        #[serde(default)]
        code: i64,
    },
}

impl Command {
    /// Encodes the command as one JSON line.
    pub fn to_line(&self) -> String {
        let mut s = serde_json::to_string(self).unwrap_or_default();
        s.push('\n');
        s
    }
}

impl Event {
    /// Decodes one line; `None` for anything that is not a known event.
    pub fn parse(line: &str) -> Option<Self> {
        serde_json::from_str(line).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_tagged_camel_case_json_lines() {
        let line = Command::Terminate { id: "w1".into(), grace_ms: 5 }.to_line();
        assert_eq!(line, "{\"op\":\"terminate\",\"id\":\"w1\",\"graceMs\":5}\n");
        let spawn = Command::Spawn(Spawn {
            id: "w".into(),
            app: "a@1".into(),
            app_dir: "/a".into(),
            entrypoint: "/a/i.ts".into(),
            env: BTreeMap::new(),
            socket_path: "/s".into(),
            auto_install: false,
            low_memory: true,
            inject_base: false,
            public_env: BTreeMap::new(),
            max_body_bytes: 1,
            max_memory_bytes: Some(64),
        });
        let v: serde_json::Value = serde_json::from_str(&spawn.to_line()).unwrap();
        assert_eq!(v["op"], "spawn");
        assert_eq!(v["appDir"], "/a");
        assert_eq!(v["socketPath"], "/s");
        assert_eq!(v["lowMemory"], true);
        assert_eq!(v["maxMemoryBytes"], 64);
    }

    #[test]
    fn events_parse_and_garbage_is_ignored() {
        assert_eq!(Event::parse(r#"{"ev":"ready","id":"x"}"#), Some(Event::Ready { id: "x".into() }));
        assert_eq!(Event::parse(r#"{"ev":"exit","id":"x"}"#), Some(Event::Exit { id: "x".into(), code: 0 }));
        assert_eq!(Event::parse(r#"{"ev":"memory","id":"x","used":9,"limit":8}"#), Some(Event::Memory { id: "x".into(), used: 9, limit: 8 }));
        assert_eq!(Event::parse("not json"), None);
        assert_eq!(Event::parse(r#"{"ev":"unknown"}"#), None);
    }
}
