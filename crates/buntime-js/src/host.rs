//! One plugin host: the Bun process of one generation, its connection, crash detection and
//! restart with backoff (re-loading its plugins), and the [`ScriptHost`] implementation.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use async_trait::async_trait;
use buntime_core::app::PoolView;
use buntime_core::config::Env;
use buntime_core::script::{ScriptHost, ScriptPluginSpec};
use buntime_core::services::ServiceShape;
use buntime_core::{Plugin, PluginContext, PluginError, Services};
use serde_json::{Map, Value};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::net::UnixListener;
use tokio::process::{Child, Command};

use crate::adapter::JsPlugin;
use crate::conn::{Conn, ConnEvents, handshake};
use crate::error::{CallError, StartError};
use crate::hooks::JsBatch;
use crate::protocol::{CoreRequest, Frame, HeaderPairs, LoadReply, LogLine, ServiceCall};
use crate::route_link::RouteLink;

/// The host script, shipped inside the crate and written next to the host's socket at start.
pub const HOST_SCRIPT: &str = include_str!("../js/plugin-host.ts");

/// The grace the core adds to [`HostOptions::init_timeout`] before it gives up on a load itself.
const LOAD_GRACE: Duration = Duration::from_secs(2);

/// Timeouts and limits of a plugin host.
#[derive(Debug, Clone)]
pub struct HostOptions {
    /// How long a hook, route or service call may take (default 30 s).
    pub call_timeout: Duration,
    /// How long loading one plugin (import, factory, `onInit`, `provides`) may take (default 30 s,
    /// `RUNTIME_PLUGIN_LOAD_TIMEOUT_MS`). The host enforces it; the core waits 2 s longer, then
    /// kills the host and blames the plugin.
    pub init_timeout: Duration,
    /// How long the host may take to start and greet (default 10 s).
    pub start_timeout: Duration,
    /// How long `onShutdown` may take per plugin, and the host to exit after (default 10 s).
    pub shutdown_timeout: Duration,
    /// The longest wait between restart attempts after a crash (default 5 s).
    pub max_restart_backoff: Duration,
    /// How often the core pings the host (default 1 s, `RUNTIME_PLUGIN_HOST_HEARTBEAT_MS`; zero
    /// turns the heartbeat off).
    pub heartbeat_interval: Duration,
    /// How long a ping may go unanswered before the host is killed and restarted (default 5 s,
    /// `RUNTIME_PLUGIN_HOST_HEARTBEAT_TIMEOUT_MS`). A JS event loop blocked by a busy hook or a
    /// top-level loop cannot answer.
    pub heartbeat_timeout: Duration,
    /// Where restarts are counted (the runtime's registry; a detached one by default).
    pub metrics: Arc<buntime_core::RuntimeMetrics>,
}

impl HostOptions {
    /// The variable that sets [`HostOptions::heartbeat_interval`] in milliseconds.
    pub const HEARTBEAT_ENV: &'static str = "RUNTIME_PLUGIN_HOST_HEARTBEAT_MS";
    /// The variable that sets [`HostOptions::heartbeat_timeout`] in milliseconds.
    pub const HEARTBEAT_TIMEOUT_ENV: &'static str = "RUNTIME_PLUGIN_HOST_HEARTBEAT_TIMEOUT_MS";
    /// The variable that sets [`HostOptions::init_timeout`] in milliseconds.
    pub const LOAD_TIMEOUT_ENV: &'static str = "RUNTIME_PLUGIN_LOAD_TIMEOUT_MS";

    /// Returns the defaults with the overrides `env` sets; a value that is not a whole number of
    /// milliseconds is logged and ignored.
    pub fn from_env(env: &Env) -> Self {
        let mut opts = Self::default();
        let read = |key: &str, into: &mut Duration, zero_ok: bool| {
            let Some(raw) = env.get_non_blank(key) else { return };
            match raw.trim().parse::<u64>() {
                Ok(ms) if ms > 0 || zero_ok => *into = Duration::from_millis(ms),
                _ => tracing::warn!(key, value = raw, default_ms = into.as_millis() as u64, "Ignoring an invalid plugin host setting: expected milliseconds."),
            }
        };
        read(Self::HEARTBEAT_ENV, &mut opts.heartbeat_interval, true);
        read(Self::HEARTBEAT_TIMEOUT_ENV, &mut opts.heartbeat_timeout, false);
        read(Self::LOAD_TIMEOUT_ENV, &mut opts.init_timeout, false);
        opts
    }
}

impl Default for HostOptions {
    fn default() -> Self {
        Self {
            call_timeout: Duration::from_secs(30),
            init_timeout: Duration::from_secs(30),
            start_timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(10),
            max_restart_backoff: Duration::from_secs(5),
            heartbeat_interval: Duration::from_secs(1),
            heartbeat_timeout: Duration::from_secs(5),
            metrics: Arc::default(),
        }
    }
}

/// What was sent to load a plugin, kept to re-load it after a crash.
#[derive(Debug, Clone)]
struct LoadRecord {
    name: String,
    dir: String,
    entry: String,
    base: Option<String>,
    config: Map<String, Value>,
    global: Value,
    runtime: Value,
    pool: bool,
    /// Withheld variables the manifest opted in with `allowEnv`.
    env: BTreeMap<String, String>,
}

/// The manifest key that lets a plugin see variables the host's environment withholds.
pub(crate) const ALLOW_ENV_KEY: &str = "allowEnv";

/// Returns whether the plugin host's environment leaves `name` out: the runtime's own secrets,
/// i.e. names in its namespace (`RUNTIME_*`, `BUNTIME_*`) that the app filter calls sensitive
/// (`RUNTIME_MASTER_KEY`). Plugin settings such as `HELLO_API_KEY` pass: plugins read their
/// configuration from `Bun.env`.
pub(crate) fn withheld(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    (upper.starts_with("RUNTIME_") || upper.starts_with("BUNTIME_")) && buntime_apps::env::sensitive(name)
}

/// Reads a plugin's `allowEnv` (a list of variable names) and returns the ones `env` has.
fn allowed_env(config: &Map<String, Value>, env: &Env) -> Result<BTreeMap<String, String>, String> {
    let Some(raw) = config.get(ALLOW_ENV_KEY) else { return Ok(BTreeMap::new()) };
    let names = raw.as_array().filter(|a| a.iter().all(Value::is_string)).ok_or_else(|| {
        format!("key `{ALLOW_ENV_KEY}`: must be a list of environment variable names, e.g. `{ALLOW_ENV_KEY}: [RUNTIME_MASTER_KEY]`")
    })?;
    Ok(names.iter().filter_map(Value::as_str).filter_map(|n| env.get(n).map(|v| (n.to_owned(), v.to_owned()))).collect())
}

#[derive(Debug, Default)]
struct ProcState {
    spawns: u64,
    started: Option<Instant>,
}

/// The state shared by a host, its adapters and its connection's event handler.
pub(crate) struct HostInner {
    pub(crate) generation: u64,
    bun: PathBuf,
    pub(crate) opts: HostOptions,
    dir: tempfile::TempDir,
    conn: ArcSwapOption<Conn>,
    /// The HTTP socket of the live process, for plugin routes.
    link: ArcSwapOption<RouteLink>,
    proc: tokio::sync::Mutex<ProcState>,
    /// The live Bun process; outside `proc` so a stalled host can be killed mid-load.
    child: Mutex<Option<Child>>,
    /// Requests refused while the host was down, logged once per incident when it is back.
    refused: AtomicU64,
    loads: Mutex<Vec<LoadRecord>>,
    failed_reloads: Mutex<BTreeSet<String>>,
    env: OnceLock<Env>,
    services: OnceLock<Services>,
    /// The runtime's worker pool, answering the host's `pool` calls (`ctx.pool`).
    pool: OnceLock<Arc<dyn PoolView>>,
    /// App hosting, for `ctx.pool.fetch` and `ctx.resolveApp`.
    pub(crate) apps: OnceLock<Arc<dyn buntime_core::AppBackend>>,
    host_down: AtomicBool,
    stopping: AtomicBool,
    services_synced: AtomicBool,
    quick_restarts: AtomicU32,
    /// What every JS plugin of this host returns from `hook_batch`, so their hooks batch.
    pub(crate) batch: Arc<JsBatch>,
    me: Weak<HostInner>,
}

impl std::fmt::Debug for HostInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostInner").field("generation", &self.generation).field("bun", &self.bun).finish_non_exhaustive()
    }
}

/// A running (or lazily started) plugin host for one generation.
///
/// The Bun process starts on the first [`ScriptHost::load`], with the environment of that plugin's
/// context, so the host sees exactly what the runtime sees.
#[derive(Debug, Clone)]
pub struct BunScriptHost {
    inner: Arc<HostInner>,
}

impl BunScriptHost {
    /// Prepares a host for `generation` that runs `bun`; no process starts until the first load.
    ///
    /// # Errors
    /// The runtime directory for the host script and socket cannot be created.
    pub fn new(bun: PathBuf, generation: u64, opts: HostOptions) -> Result<Self, StartError> {
        let dir = tempfile::Builder::new()
            .prefix("buntime-host-")
            .tempdir()
            .map_err(|source| StartError::Io { what: "creating its runtime directory", source })?;
        std::fs::write(dir.path().join("plugin-host.ts"), HOST_SCRIPT)
            .map_err(|source| StartError::Io { what: "writing the host script", source })?;
        let inner = Arc::new_cyclic(|me| HostInner {
            generation,
            bun,
            opts,
            dir,
            conn: ArcSwapOption::empty(),
            link: ArcSwapOption::empty(),
            proc: tokio::sync::Mutex::default(),
            child: Mutex::default(),
            refused: AtomicU64::new(0),
            loads: Mutex::default(),
            failed_reloads: Mutex::default(),
            env: OnceLock::new(),
            services: OnceLock::new(),
            pool: OnceLock::new(),
            apps: OnceLock::new(),
            host_down: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            services_synced: AtomicBool::new(false),
            quick_restarts: AtomicU32::new(0),
            batch: Arc::new(JsBatch { host: me.clone() }),
            me: me.clone(),
        });
        Ok(Self { inner })
    }

    /// Returns the host process id, while one runs.
    pub fn pid(&self) -> Option<u32> {
        self.inner.conn.load().as_ref().filter(|c| !c.is_closed()).map(|c| c.pid)
    }

    /// Returns whether the host process is down (crashed and not yet restarted).
    pub fn is_down(&self) -> bool {
        self.inner.host_down.load(Ordering::Acquire)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock only means a holder panicked; the data is plain and still consistent.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl HostInner {
    /// Sends one call to the live host, failing fast with [`CallError::HostDown`] while it is down.
    ///
    /// A hook past its budget is logged at WARN naming the plugin and hook; a call refused because
    /// the host is down counts toward the incident's one log line.
    pub(crate) async fn call(&self, msg: &CoreRequest<'_>, body: &[u8], timeout: Duration) -> Result<crate::protocol::Frame, CallError> {
        let result = match self.conn.load_full() {
            Some(conn) => conn.call(msg, body, timeout).await,
            None => Err(CallError::HostDown),
        };
        if let (Err(e), Some(plugin)) = (&result, msg.plugin()) {
            match e {
                CallError::Timeout(d) => tracing::warn!(
                    plugin = %plugin,
                    hook = %msg.kind(),
                    generation = self.generation,
                    budget_ms = d.as_millis() as u64,
                    "JS hook did not answer within its budget; answering 503."
                ),
                CallError::HostDown => self.note_refused(plugin, msg.kind()),
                _ => {}
            }
        }
        result
    }

    /// Counts a request refused because the host is down; only the first of an incident is logged
    /// (the count follows when the host is back), not one line per request.
    pub(crate) fn note_refused(&self, plugin: &str, hook: &str) {
        if self.stopping.load(Ordering::Acquire) {
            return;
        }
        if self.refused.fetch_add(1, Ordering::AcqRel) == 0 {
            tracing::warn!(
                plugin = %plugin,
                hook = %hook,
                generation = self.generation,
                plugins = %self.plugin_names(),
                "Plugin host is down; its plugins answer 503 until it is back (logged once; the count follows)."
            );
        }
    }

    fn plugin_names(&self) -> String {
        lock(&self.loads).iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(", ")
    }

    /// Marks the host up after a (re)start and reports how many requests the outage refused.
    fn mark_up(&self) {
        self.host_down.store(false, Ordering::Release);
        let refused = self.refused.swap(0, Ordering::AcqRel);
        if refused > 0 {
            tracing::warn!(
                generation = self.generation,
                plugins = %self.plugin_names(),
                refused,
                "Plugin host is back; {refused} request(s) were refused with 503 while it was down."
            );
        }
    }

    /// Kills the host behind `conn` because it stopped answering (`why`), naming the plugin call
    /// that was most likely blocking it; the close event then restarts it.
    fn kill_stalled(&self, conn: &Conn, why: &str) {
        if conn.is_closed() || conn.is_stalled() {
            return;
        }
        let in_flight = conn.in_flight();
        let list = in_flight.iter().map(|(p, h)| format!("{p}.{h}")).collect::<BTreeSet<_>>().into_iter().collect::<Vec<_>>().join(", ");
        match in_flight.first() {
            Some((plugin, hook)) => tracing::warn!(
                plugin = %plugin,
                hook = %hook,
                generation = self.generation,
                pid = conn.pid,
                in_flight = %list,
                "Plugin host {why}; killing it (blocked by `{plugin}` {hook}?)."
            ),
            None => tracing::warn!(
                generation = self.generation,
                pid = conn.pid,
                "Plugin host {why} with no plugin call in flight (a timer or background code is blocking it); killing it."
            ),
        }
        conn.mark_stalled();
        if let Some(child) = lock(&self.child).as_mut().filter(|c| c.id() == Some(conn.pid)) {
            let _ = child.start_kill();
        }
    }

    /// Returns the HTTP link for plugin routes while the host is up; `None` while it is down or
    /// still re-loading its plugins after a restart.
    pub(crate) fn route_link(&self) -> Option<Arc<RouteLink>> {
        if self.host_down.load(Ordering::Acquire) || self.conn.load().as_ref().is_none_or(|c| c.is_closed()) {
            return None;
        }
        self.link.load_full()
    }

    /// After a route connection broke, waits briefly for the protocol connection to report a
    /// dead host, so whoever gets the 503 also sees the host marked down (it usually takes a
    /// millisecond; a host that is alive is left alone after 250 ms).
    pub(crate) async fn settle_after_broken_route(&self) {
        let deadline = Instant::now() + Duration::from_millis(250);
        while Instant::now() < deadline {
            if self.conn.load().as_ref().is_none_or(|c| c.is_closed()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Tells the host, once per load, which native plugins provide services (for `ctx.getPlugin`).
    pub(crate) async fn sync_services(&self) {
        if self.services_synced.swap(true, Ordering::AcqRel) {
            return;
        }
        let native = self.native_services();
        if native.names.is_empty() {
            return;
        }
        if let Err(e) = self.call(&CoreRequest::Services { names: &native.names, shapes: &native.shapes }, b"", self.opts.call_timeout).await {
            self.services_synced.store(false, Ordering::Release);
            tracing::debug!(error = %e, "Could not send native service names to the plugin host.");
        }
    }

    fn native_services(&self) -> NativeServices {
        let mut out = NativeServices::default();
        let Some(services) = self.services.get() else { return out };
        let js: BTreeSet<String> = lock(&self.loads).iter().map(|r| r.name.clone()).collect();
        for name in services.names() {
            let Some(json) = services.get_json(&name).filter(|_| !js.contains(&name)) else { continue };
            let shape = json.shape();
            if !shape.is_empty() {
                out.shapes.insert(name.clone(), shape);
            }
            out.names.push(name);
        }
        out
    }

    async fn spawn(&self, proc: &mut ProcState) -> Result<Arc<Conn>, StartError> {
        if let Some(mut old) = lock(&self.child).take() {
            let _ = old.start_kill();
        }
        proc.spawns += 1;
        let sock = self.dir.path().join(format!("host-{}.sock", proc.spawns));
        let _ = std::fs::remove_file(&sock);
        let http_sock = self.dir.path().join(format!("http-{}.sock", proc.spawns));
        let _ = std::fs::remove_file(&http_sock);
        if let Some(old) = self.link.swap(None) {
            let _ = std::fs::remove_file(old.path());
        }
        let listener = UnixListener::bind(&sock).map_err(|source| StartError::Io { what: "binding its socket", source })?;
        let mut cmd = Command::new(&self.bun);
        cmd.arg(self.dir.path().join("plugin-host.ts"))
            .env_clear()
            .env("BUNTIME_HOST_SOCKET", &sock)
            .env("BUNTIME_HOST_HTTP_SOCKET", &http_sock)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(env) = self.env.get() {
            cmd.envs(env.iter().filter(|(k, _)| !withheld(k)));
            let kept_out: Vec<&str> = env.iter().map(|(k, _)| k).filter(|k| withheld(k)).collect();
            if !kept_out.is_empty() && proc.spawns == 1 {
                let names = kept_out.join(", ");
                tracing::info!(generation = self.generation, withheld = %names, "The plugin host does not see the runtime's secrets; a manifest opts one in with `allowEnv`.");
            }
        }
        let mut child = cmd.spawn().map_err(|source| StartError::Io { what: "spawning bun", source })?;
        let generation = self.generation;
        if let Some(out) = child.stdout.take() {
            tokio::spawn(forward_lines(out, generation, false));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(forward_lines(err, generation, true));
        }
        let accepted = tokio::select! {
            r = listener.accept() => r.map(|(s, _)| s).map_err(|e| StartError::Handshake(format!("accept failed: {e}"))),
            status = child.wait() => Err(StartError::Handshake(match status {
                Ok(s) => format!("bun exited before connecting ({s}); its output is in the log"),
                Err(e) => format!("bun could not be watched: {e}"),
            })),
            () = tokio::time::sleep(self.opts.start_timeout) => Err(StartError::Handshake(format!("bun did not connect within {}ms", self.opts.start_timeout.as_millis()))),
        };
        drop(listener);
        let _ = std::fs::remove_file(&sock);
        let mut stream = accepted?;
        let (hello, version) = handshake(&mut stream, self.opts.start_timeout).await.map_err(StartError::Handshake)?;
        let events: Arc<dyn ConnEvents> = Arc::new(HostEvents { host: self.me.clone() });
        let conn = Conn::start(stream, hello.pid, version, events);
        tracing::info!(generation, pid = hello.pid, bun = %hello.bun, protocol = version, "Plugin host started.");
        *lock(&self.child) = Some(child);
        proc.started = Some(Instant::now());
        if !self.opts.heartbeat_interval.is_zero() {
            tokio::spawn(heartbeat(self.me.clone(), Arc::downgrade(&conn), self.opts.heartbeat_interval, self.opts.heartbeat_timeout));
        }
        self.link.store(Some(RouteLink::new(http_sock)));
        self.conn.store(Some(conn.clone()));
        Ok(conn)
    }

    /// Returns the live connection, starting (or restarting) the host and re-loading its plugins
    /// when there is none.
    async fn ensure_running(&self, proc: &mut ProcState) -> Result<Arc<Conn>, StartError> {
        if let Some(conn) = self.conn.load_full().filter(|c| !c.is_closed()) {
            return Ok(conn);
        }
        let conn = self.spawn(proc).await?;
        self.replay(&conn).await;
        if !conn.is_closed() {
            self.mark_up();
        }
        Ok(conn)
    }

    async fn replay(&self, conn: &Conn) {
        let records = lock(&self.loads).clone();
        if records.is_empty() {
            return;
        }
        self.services_synced.store(false, Ordering::Release);
        for r in &records {
            let services = self.native_services();
            let reply = conn.call(&load_msg(r, &self.opts, &services), b"", self.opts.init_timeout + LOAD_GRACE).await;
            if matches!(reply, Err(CallError::Timeout(_))) {
                self.kill_stalled(conn, "did not finish re-loading a plugin in time");
            }
            match reply {
                Ok(_) => {
                    lock(&self.failed_reloads).remove(&r.name);
                    tracing::info!(plugin = %r.name, generation = self.generation, "Plugin re-loaded after a host restart.");
                }
                Err(e) => {
                    lock(&self.failed_reloads).insert(r.name.clone());
                    tracing::error!(plugin = %r.name, generation = self.generation, error = %e, "Plugin failed to re-load after a host restart.");
                }
            }
        }
    }

    async fn restart_loop(self: Arc<Self>) {
        let mut attempt = self.quick_restarts.load(Ordering::Acquire);
        loop {
            let delay = Duration::from_millis(100u64.saturating_mul(1 << attempt.min(8))).min(self.opts.max_restart_backoff);
            tokio::time::sleep(delay).await;
            if self.stopping.load(Ordering::Acquire) {
                return;
            }
            let mut proc = self.proc.lock().await;
            if self.stopping.load(Ordering::Acquire) {
                return;
            }
            if self.conn.load().as_ref().is_some_and(|c| !c.is_closed()) {
                return;
            }
            // A host that lived for a while crashed for a new reason: start the backoff over.
            if proc.started.is_some_and(|t| t.elapsed() > Duration::from_secs(30)) {
                self.quick_restarts.store(0, Ordering::Release);
            }
            self.quick_restarts.fetch_add(1, Ordering::AcqRel);
            match self.ensure_running(&mut proc).await {
                Ok(conn) if !conn.is_closed() => {
                    self.opts.metrics.plugin_host_restarted();
                    tracing::info!(generation = self.generation, pid = conn.pid, "Plugin host restarted; its plugins are back.");
                    return;
                }
                // It died again while re-loading; its close event schedules the next attempt.
                Ok(_) => return,
                Err(e) => {
                    tracing::error!(generation = self.generation, error = %e, "Plugin host restart failed; retrying.");
                    attempt = attempt.saturating_add(1);
                }
            }
        }
    }
}

/// The native plugins a JS plugin can reach with `ctx.getPlugin`, and their synchronous parts.
#[derive(Debug, Default)]
struct NativeServices {
    names: Vec<String>,
    shapes: BTreeMap<String, ServiceShape>,
}

fn load_msg<'a>(r: &'a LoadRecord, opts: &HostOptions, services: &'a NativeServices) -> CoreRequest<'a> {
    CoreRequest::Load {
        name: &r.name,
        dir: &r.dir,
        entry: &r.entry,
        base: r.base.as_deref(),
        config: &r.config,
        global_config: &r.global,
        runtime: &r.runtime,
        init_timeout_ms: opts.init_timeout.as_millis() as u64,
        services: &services.names,
        shapes: &services.shapes,
        pool: r.pool,
        env: &r.env,
    }
}

/// Pings the host every `interval`; one that does not answer within `timeout` is killed (its
/// close event restarts it). Ends with the connection.
async fn heartbeat(host: Weak<HostInner>, conn: Weak<Conn>, interval: Duration, timeout: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        let Some(c) = conn.upgrade().filter(|c| !c.is_closed()) else { return };
        match c.call(&CoreRequest::Ping, b"", timeout).await {
            Ok(_) => {}
            Err(CallError::Timeout(_)) => {
                if let Some(h) = host.upgrade() {
                    h.kill_stalled(&c, &format!("stopped answering its heartbeat for {}ms", timeout.as_millis()));
                }
                return;
            }
            Err(_) => return,
        }
    }
}

async fn forward_lines(stream: impl AsyncRead + Unpin, generation: u64, stderr: bool) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if stderr {
            tracing::warn!(target: "buntime_js::host", generation, "{line}");
        } else {
            tracing::info!(target: "buntime_js::host", generation, "{line}");
        }
    }
}

struct HostEvents {
    host: Weak<HostInner>,
}

impl ConnEvents for HostEvents {
    fn log(&self, line: LogLine) {
        let generation = self.host.upgrade().map_or(0, |h| h.generation);
        let meta = line.meta.map(|m| m.to_string()).unwrap_or_default();
        let (plugin, message) = (line.plugin, line.message);
        match line.level.as_str() {
            "debug" => tracing::debug!(plugin = %plugin, generation, meta = %meta, "{message}"),
            "warn" => tracing::warn!(plugin = %plugin, generation, meta = %meta, "{message}"),
            "error" => tracing::error!(plugin = %plugin, generation, meta = %meta, "{message}"),
            _ => tracing::info!(plugin = %plugin, generation, meta = %meta, "{message}"),
        }
    }

    fn call(&self, conn: Arc<Conn>, call: ServiceCall) {
        let services = self.host.upgrade().and_then(|h| h.services.get().cloned());
        tokio::spawn(async move {
            let result = match services.as_ref().and_then(|s| s.get_json(&call.plugin)) {
                Some(svc) => svc.call(&call.method, call.args).await.map_err(|e| match e.public_message() {
                    Some(m) => m.to_owned(),
                    None => {
                        tracing::error!(plugin = %call.plugin, method = %call.method, error = %e, "Native service call from a JS plugin failed.");
                        format!("`{}`.{} failed", call.plugin, call.method)
                    }
                }),
                None => Err(format!("plugin `{}` provides no service", call.plugin)),
            };
            conn.answer(call.id, result);
        });
    }

    fn pool(&self, conn: Arc<Conn>, id: u64) {
        let pool = self.host.upgrade().and_then(|h| h.pool.get().cloned());
        // Worker stats may list a thousand keys: build them off the connection's reader task.
        tokio::spawn(async move {
            let result = match pool {
                Some(pool) => Ok(serde_json::json!({"metrics": pool.metrics(), "workers": pool.worker_stats()})),
                None => Err("this runtime has no worker pool".to_owned()),
            };
            conn.answer(id, result);
        });
    }

    fn apps(&self, conn: Arc<Conn>, frame: Frame) {
        let apps = self.host.upgrade().and_then(|h| h.apps.get().cloned());
        tokio::spawn(async move {
            let Some(id) = frame.id() else { return };
            let Some(apps) = apps else {
                conn.answer(id, Err("this runtime hosts no apps".to_owned()));
                return;
            };
            let head = frame.json();
            if frame.kind() == "resolveApp" {
                let spec = head["spec"].as_str().unwrap_or_default();
                let result = match apps.resolve_app(spec).await {
                    Ok(Some(app)) => Ok(serde_json::json!({
                        "name": app.info.name,
                        "version": app.info.version,
                        "dir": app.info.dir,
                        "config": app.info.config,
                    })),
                    Ok(None) => Ok(Value::Null),
                    Err(e) => Err(e.public_message().map_or_else(|| format!("app `{spec}` cannot be used"), str::to_owned)),
                };
                conn.answer(id, result);
                return;
            }
            let dir = std::path::PathBuf::from(head["dir"].as_str().unwrap_or_default());
            let config = head["config"].as_object();
            let headers: HeaderPairs = serde_json::from_value(head["headers"].clone()).unwrap_or_default();
            let req = crate::http_conv::js_request(head["method"].as_str(), head["url"].as_str(), &headers, frame.body.clone());
            let res = buntime_core::app::fetch_app(apps.as_ref(), &dir, config, req).await;
            let (parts, body) = res.into_parts();
            match crate::http_conv::to_bytes(axum::body::Body::new(body)).await {
                Ok(bytes) => {
                    let headers = crate::http_conv::pairs(&parts.headers);
                    conn.answer_with_body(id, serde_json::json!({"status": parts.status.as_u16(), "headers": headers}), &bytes);
                }
                Err(_) => conn.answer(id, Err("the app's response body could not be read".to_owned())),
            }
        });
    }

    fn closed(&self, conn: &Conn, reason: String) {
        let Some(host) = self.host.upgrade() else { return };
        if host.stopping.load(Ordering::Acquire) {
            tracing::debug!(generation = host.generation, pid = conn.pid, "Plugin host stopped.");
            return;
        }
        let current = host.conn.load().as_ref().is_some_and(|c| std::ptr::eq(Arc::as_ptr(c), conn));
        if !current {
            return;
        }
        host.host_down.store(true, Ordering::Release);
        let plugins = host.plugin_names();
        let loading = conn.in_flight().into_iter().find(|(_, kind)| *kind == "load").map(|(p, _)| p).unwrap_or_default();
        let what = if conn.is_stalled() { "was killed for not answering" } else { "exited unexpectedly" };
        tracing::error!(
            generation = host.generation,
            pid = conn.pid,
            reason = %reason,
            plugins = %plugins,
            loading = %loading,
            "Plugin host {what}; its plugins answer 503 until it restarts."
        );
        tokio::spawn(host.restart_loop());
    }
}

#[async_trait]
impl ScriptHost for BunScriptHost {
    async fn load(&self, spec: &ScriptPluginSpec, cx: &PluginContext) -> Result<Arc<dyn Plugin>, PluginError> {
        let h = &self.inner;
        let _ = h.env.set(cx.env().clone());
        let _ = h.services.set(cx.services().clone());
        if let Some(pool) = cx.pool() {
            let _ = h.pool.set(pool.clone());
        }
        if let Some(apps) = cx.apps() {
            let _ = h.apps.set(apps.clone());
        }
        let env = allowed_env(cx.config(), cx.env()).map_err(PluginError::internal)?;
        let mut proc = h.proc.lock().await;
        let conn = h.ensure_running(&mut proc).await.map_err(|e| PluginError::internal(e.to_string()))?;
        let record = LoadRecord {
            name: spec.name.clone(),
            dir: spec.dir.display().to_string(),
            entry: spec.entry.display().to_string(),
            base: spec.base.clone(),
            config: cx.config().clone(),
            global: serde_json::to_value(cx.global_config()).unwrap_or(Value::Null),
            runtime: serde_json::to_value(cx.runtime()).unwrap_or(Value::Null),
            pool: cx.pool().is_some(),
            env,
        };
        let services = h.native_services();
        let reply = conn.call(&load_msg(&record, &h.opts, &services), b"", h.opts.init_timeout + LOAD_GRACE).await;
        if matches!(reply, Err(CallError::Timeout(_))) {
            // The host's own timer did not fire: its event loop is stuck. The next load restarts it.
            h.kill_stalled(&conn, "did not finish loading a plugin in time");
        }
        drop(proc);
        let frame = match reply {
            Ok(f) => f,
            Err(CallError::Remote { message, stack }) => {
                if let Some(stack) = stack {
                    tracing::debug!(plugin = %spec.name, %stack, "Plugin load failed in JS.");
                }
                return Err(PluginError::internal(message));
            }
            Err(CallError::HostDown) if conn.is_stalled() => {
                return Err(PluginError::internal(format!(
                    "the plugin host stopped answering while loading it (its code blocked the event loop for over {}ms: a busy loop at the top level, in its factory or in onInit?); the host was restarted without it",
                    h.opts.heartbeat_timeout.as_millis()
                )));
            }
            Err(CallError::HostDown) => {
                return Err(PluginError::internal(
                    "the plugin host exited while loading it (does its code call process.exit?); the host was restarted without it",
                ));
            }
            Err(CallError::Timeout(_)) => {
                return Err(PluginError::internal(format!(
                    "loading did not finish within {}ms; the plugin host was restarted without it",
                    h.opts.init_timeout.as_millis()
                )));
            }
            Err(e) => return Err(PluginError::internal(e.to_string())),
        };
        let LoadReply { hooks, menus } = frame.parse::<LoadReply>().map_err(|e| PluginError::internal(e.to_string()))?;
        lock(&h.loads).push(record);
        h.services_synced.store(false, Ordering::Release);
        Ok(Arc::new(JsPlugin::new(spec.name.clone(), h.clone(), hooks, menus)))
    }

    fn unavailable(&self) -> Vec<String> {
        let h = &self.inner;
        if h.host_down.load(Ordering::Acquire) {
            return lock(&h.loads).iter().map(|r| r.name.clone()).collect();
        }
        lock(&h.failed_reloads).iter().cloned().collect()
    }

    async fn shutdown(&self) {
        let h = &self.inner;
        h.stopping.store(true, Ordering::Release);
        let _proc = h.proc.lock().await;
        if let Some(conn) = h.conn.swap(None) {
            conn.notify(&serde_json::json!({"t": "exit"}));
        }
        let child = lock(&h.child).take();
        if let Some(mut child) = child {
            match tokio::time::timeout(h.opts.shutdown_timeout, child.wait()).await {
                Ok(_) => {}
                Err(_) => {
                    tracing::warn!(generation = h.generation, "Plugin host did not exit in time; killing it.");
                    let _ = child.kill().await;
                }
            }
        }
        tracing::debug!(generation = h.generation, "Plugin host shut down.");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_the_runtimes_own_secrets_are_withheld_from_plugins() {
        for name in [
            "RUNTIME_MASTER_KEY",
            "BUNTIME_MASTER_KEY",
            "runtime_master_key",
            "RUNTIME_DEPLOY_TOKEN",
        ] {
            assert!(withheld(name), "{name}");
        }
        for name in [
            "HELLO_API_KEY",
            "DATABASE_URL",
            "RUNTIME_PLUGIN_DIRS",
            "BUNTIME_BUN",
            "PATH",
        ] {
            assert!(!withheld(name), "{name}");
        }
    }

    #[test]
    fn allow_env_takes_a_list_of_names_and_keeps_the_ones_set() {
        let env = Env::from_pairs([("RUNTIME_MASTER_KEY", "k")]);
        let config = |v: Value| json!({ ALLOW_ENV_KEY: v }).as_object().unwrap().clone();
        let got = allowed_env(&config(json!(["RUNTIME_MASTER_KEY", "UNSET"])), &env).unwrap();
        assert_eq!(
            got,
            BTreeMap::from([("RUNTIME_MASTER_KEY".to_owned(), "k".to_owned())])
        );
        assert!(allowed_env(&Map::new(), &env).unwrap().is_empty());
        let err = allowed_env(&config(json!("RUNTIME_MASTER_KEY")), &env).unwrap_err();
        assert!(err.contains("must be a list"), "{err}");
    }

    #[test]
    fn options_read_their_overrides_from_the_environment_and_ignore_bad_values() {
        let env = Env::from_pairs([
            (HostOptions::HEARTBEAT_ENV, "250"),
            (HostOptions::HEARTBEAT_TIMEOUT_ENV, "soon"),
            (HostOptions::LOAD_TIMEOUT_ENV, "0"),
        ]);
        let opts = HostOptions::from_env(&env);
        assert_eq!(opts.heartbeat_interval, Duration::from_millis(250));
        assert_eq!(
            opts.heartbeat_timeout,
            HostOptions::default().heartbeat_timeout,
            "not a number"
        );
        assert_eq!(
            opts.init_timeout,
            HostOptions::default().init_timeout,
            "zero is no load budget"
        );
        let off = HostOptions::from_env(&Env::from_pairs([(HostOptions::HEARTBEAT_ENV, "0")]));
        assert!(
            off.heartbeat_interval.is_zero(),
            "zero turns the heartbeat off"
        );
    }
}
