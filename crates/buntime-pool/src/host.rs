//! One worker-host Bun process: its start, control socket, worker bookkeeping and death.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot, watch};

use crate::error::StartError;
use crate::protocol::{Command, Event, Spawn};

/// How a host is started.
#[derive(Debug, Clone)]
pub(crate) struct HostLaunch<'a> {
    pub(crate) bun: &'a Path,
    pub(crate) script: &'a Path,
    pub(crate) ctl_path: &'a Path,
    pub(crate) smol: bool,
    pub(crate) spares: usize,
    pub(crate) env: &'a [(String, String)],
    pub(crate) timeout: Duration,
    pub(crate) label: String,
}

/// Why a worker is finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WorkerEnd {
    /// Its thread ended (`process.exit`, an uncaught error, or it was stopped), with this code.
    Exited(i64),
    /// It went over its memory limit; its host stops the thread.
    OverMemory {
        /// Heap in use when it was caught, in bytes.
        used: u64,
        /// The limit, in bytes.
        limit: u64,
    },
    /// Its host process is gone.
    HostDied(String),
}

impl std::fmt::Display for WorkerEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exited(code) => write!(f, "worker exited with code {code}"),
            Self::OverMemory { used, limit } => write!(f, "worker heap of {} MiB is over its limit of {} MiB", used >> 20, limit >> 20),
            Self::HostDied(reason) => f.write_str(reason),
        }
    }
}

/// What a worker learns from its host: readiness once, then why it ended.
#[derive(Debug)]
pub(crate) struct WorkerLink {
    app: String,
    ready: Option<oneshot::Sender<Result<(), String>>>,
    exit: watch::Sender<Option<WorkerEnd>>,
}

/// A running worker host.
#[derive(Debug)]
pub(crate) struct Host {
    pub(crate) label: String,
    pub(crate) pid: u32,
    pub(crate) started: Instant,
    ctl: mpsc::UnboundedSender<String>,
    links: Mutex<HashMap<String, WorkerLink>>,
    dead: AtomicBool,
    spawned: AtomicU64,
    stuck: AtomicUsize,
    died: watch::Sender<bool>,
    kill: Mutex<Option<oneshot::Sender<()>>>,
}

impl Host {
    /// Starts a host and waits for it to connect to its control socket.
    pub(crate) async fn start(launch: HostLaunch<'_>) -> Result<Arc<Self>, StartError> {
        let fail = |msg: String| StartError::Host(msg.into());
        let _ = std::fs::remove_file(launch.ctl_path);
        let listener = UnixListener::bind(launch.ctl_path).map_err(|e| fail(format!("cannot bind {}: {e}", launch.ctl_path.display())))?;
        let mut cmd = tokio::process::Command::new(launch.bun);
        if launch.smol {
            cmd.arg("--smol");
        }
        cmd.arg(launch.script)
            .arg(launch.ctl_path)
            .arg(launch.script.with_file_name("worker.js"))
            .env_clear()
            .envs(launch.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("BUNTIME_HOST_SPARES", launch.spares.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(dir) = launch.script.parent() {
            cmd.current_dir(dir);
        }
        let mut child = cmd.spawn().map_err(|e| fail(format!("cannot run {}: {e}", launch.bun.display())))?;
        let pid = child.id().unwrap_or_default();
        if let Some(out) = child.stdout.take() {
            forward_output(out, launch.label.clone(), false);
        }
        if let Some(err) = child.stderr.take() {
            forward_output(err, launch.label.clone(), true);
        }
        let stdin = child.stdin.take();

        let accepted = tokio::select! {
            r = tokio::time::timeout(launch.timeout, listener.accept()) => r,
            status = child.wait() => {
                let _ = std::fs::remove_file(launch.ctl_path);
                return Err(fail(format!("host exited during start ({})", status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string()))));
            }
        };
        let _ = std::fs::remove_file(launch.ctl_path);
        let stream = match accepted {
            Ok(Ok((stream, _))) => stream,
            Ok(Err(e)) => return Err(fail(format!("control socket: {e}"))),
            Err(_) => return Err(StartError::NotReady(u64::try_from(launch.timeout.as_millis()).unwrap_or(u64::MAX))),
        };
        let (read, mut write) = stream.into_split();
        let (ctl_tx, mut ctl_rx) = mpsc::unbounded_channel::<String>();
        let (kill_tx, kill_rx) = oneshot::channel();
        let (died, _) = watch::channel(false);
        let host = Arc::new(Self {
            label: launch.label.clone(),
            pid,
            started: Instant::now(),
            ctl: ctl_tx,
            links: Mutex::new(HashMap::new()),
            dead: AtomicBool::new(false),
            spawned: AtomicU64::new(0),
            stuck: AtomicUsize::new(0),
            died,
            kill: Mutex::new(Some(kill_tx)),
        });

        // Writer: commands out, one line each.
        tokio::spawn(async move {
            while let Some(line) = ctl_rx.recv().await {
                if write.write_all(line.as_bytes()).await.is_err() {
                    break;
                }
            }
        });
        // Reader: events in; the control socket closing means the host is gone.
        let weak = Arc::downgrade(&host);
        tokio::spawn(async move {
            let mut lines = BufReader::new(read).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let Some(host) = weak.upgrade() else { break };
                if let Some(ev) = Event::parse(&line) {
                    host.on_event(ev);
                }
            }
            if let Some(host) = weak.upgrade() {
                host.mark_dead("worker host exited");
            }
        });
        // Waiter: owns the process; kills it on request; marks the host dead on exit.
        let weak = Arc::downgrade(&host);
        let label = launch.label;
        tokio::spawn(async move {
            let _stdin = stdin; // dropping stdin (EOF) tells an orphaned host to exit
            let status = tokio::select! {
                s = child.wait() => s.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string()),
                _ = kill_rx => {
                    let _ = child.kill().await;
                    "killed".to_owned()
                }
            };
            tracing::debug!(host = %label, %status, "Worker host exited.");
            if let Some(host) = weak.upgrade() {
                host.mark_dead(&format!("worker host exited ({status})"));
            }
        });
        Ok(host)
    }

    fn on_event(&self, ev: Event) {
        let mut links = self.links.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match ev {
            Event::Hello { .. } => {}
            Event::Ready { id } => {
                if let Some(tx) = links.get_mut(&id).and_then(|l| l.ready.take()) {
                    let _ = tx.send(Ok(()));
                }
            }
            Event::Error { id, message } => {
                if let Some(link) = links.get_mut(&id) {
                    match link.ready.take() {
                        Some(tx) => {
                            let _ = tx.send(Err(message));
                        }
                        None => tracing::warn!(host = %self.label, worker = %id, error = %message, "Worker raised an uncaught error."),
                    }
                }
            }
            Event::Memory { id, used, limit } => {
                if let Some(link) = links.get(&id) {
                    tracing::warn!(app = %link.app, worker = %id, host = %self.label, used_mb = used >> 20, limit_mb = limit >> 20, "Worker over its memory limit; stopping it.");
                    link.exit.send_if_modified(|end| end.is_none() && end.replace(WorkerEnd::OverMemory { used, limit }).is_none());
                }
            }
            Event::Exit { id, code } => {
                if let Some(mut link) = links.remove(&id) {
                    if let Some(tx) = link.ready.take() {
                        let _ = tx.send(Err(format!("worker exited with code {code} before it was ready")));
                    }
                    link.exit.send_if_modified(|end| end.is_none() && end.replace(WorkerEnd::Exited(code)).is_none());
                }
            }
        }
    }

    fn mark_dead(&self, reason: &str) {
        if self.dead.swap(true, Ordering::SeqCst) {
            return;
        }
        let links: Vec<_> = self.links.lock().unwrap_or_else(std::sync::PoisonError::into_inner).drain().collect();
        for (_, mut link) in links {
            if let Some(tx) = link.ready.take() {
                let _ = tx.send(Err(reason.to_owned()));
            }
            link.exit.send_if_modified(|end| end.is_none() && end.replace(WorkerEnd::HostDied(reason.to_owned())).is_none());
        }
        self.died.send_replace(true);
        self.kill();
    }

    /// Returns whether the host process is gone.
    pub(crate) fn is_dead(&self) -> bool {
        self.dead.load(Ordering::SeqCst)
    }

    /// Resolves once the host is dead.
    pub(crate) async fn wait_dead(&self) {
        let mut rx = self.died.subscribe();
        let _ = rx.wait_for(|d| *d).await;
    }

    /// Returns how many workers live in this host.
    pub(crate) fn worker_count(&self) -> usize {
        self.links.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len()
    }

    /// Counts a worker whose thread did not stop when told to (it is stuck in a loop): it stays
    /// until the host is killed.
    pub(crate) fn mark_stuck(&self) {
        self.stuck.fetch_add(1, Ordering::SeqCst);
    }

    /// Returns whether every worker left in this host is a stuck one.
    pub(crate) fn only_stuck_left(&self) -> bool {
        self.worker_count() <= self.stuck.load(Ordering::SeqCst)
    }

    /// Asks the host to start a worker; returns its readiness and end signals.
    pub(crate) fn spawn_worker(&self, spawn: Spawn) -> (oneshot::Receiver<Result<(), String>>, watch::Receiver<Option<WorkerEnd>>) {
        let (ready_tx, ready_rx) = oneshot::channel();
        let (exit_tx, exit_rx) = watch::channel(None);
        if self.is_dead() {
            let _ = ready_tx.send(Err("worker host exited".to_owned()));
            exit_tx.send_replace(Some(WorkerEnd::HostDied("worker host exited".to_owned())));
            return (ready_rx, exit_rx);
        }
        self.spawned.fetch_add(1, Ordering::Relaxed);
        let id = spawn.id.clone();
        self.links
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id, WorkerLink { app: spawn.app.clone(), ready: Some(ready_tx), exit: exit_tx });
        self.send(&Command::Spawn(spawn));
        (ready_rx, exit_rx)
    }

    /// Returns how many workers this host was asked to start.
    pub(crate) fn spawned(&self) -> u64 {
        self.spawned.load(Ordering::Relaxed)
    }

    /// Sends a command (dropped silently when the host is gone).
    pub(crate) fn send(&self, cmd: &Command) {
        let _ = self.ctl.send(cmd.to_line());
    }

    /// Kills the host process (every worker in it dies).
    pub(crate) fn kill(&self) {
        if let Some(tx) = self.kill.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
            let _ = tx.send(());
        }
    }

    /// Reads the host's resident memory, in bytes (Linux only; 0 elsewhere).
    pub(crate) fn rss_bytes(&self) -> u64 {
        rss_of(self.pid)
    }
}

/// Reads a process's resident set size from `/proc`.
pub(crate) fn rss_of(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/statm"))
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .map_or(0, |pages| pages * 4096)
}

/// Sends a host's stdout/stderr (app `console` output) to the log, line by line.
fn forward_output<R: AsyncRead + Unpin + Send + 'static>(out: R, label: String, is_err: bool) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(out).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if is_err {
                tracing::warn!(target: "buntime::app", host = %label, "{line}");
            } else {
                tracing::info!(target: "buntime::app", host = %label, "{line}");
            }
        }
    });
}
