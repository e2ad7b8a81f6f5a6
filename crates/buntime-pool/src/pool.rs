//! The pool: dispatching requests to warm or ephemeral workers, and every worker's lifecycle
//! (start, retire after draining, terminate, reap, shutdown).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use buntime_apps::{Dispatcher, WorkerSpec};
use buntime_core::app::PoolView;
use buntime_core::pool_stats::{PoolMetrics, WorkerStat};
use buntime_core::{Request, Response};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::cache::{Cache, Slot};
use crate::config::{PoolConfig, WorkerEnvDefaults};
use crate::error::{DispatchError, PoolError, StartError};
use crate::events::{WorkerEvent, WorkerEventKind};
use crate::gate::Gate;
use crate::host::{WorkerEnd, rss_of};
use crate::hosts::HostSet;
use crate::metrics::{LiveStats, Metrics};
use crate::protocol::{Command, Spawn};
use crate::proxy::{self, OnEnd, ProxyError};
use crate::recycle;
use crate::worker::{InflightGuard, Worker};

/// How many times a request looks for a usable warm worker before giving up.
const ATTEMPTS: usize = 3;

/// How long a broken connection waits for proof that its worker ended before the worker is
/// presumed alive (a dying thread's exit reaches the host a moment after its sockets close).
const EXIT_EVIDENCE: Duration = Duration::from_millis(250);

/// The worker pool (see the crate docs). Implements [`Dispatcher`] and [`PoolView`].
#[derive(Debug)]
pub struct Pool {
    inner: Arc<Inner>,
    reaper: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug)]
struct Inner {
    cfg: PoolConfig,
    run_dir: PathBuf,
    hosts: Arc<HostSet>,
    cache: Mutex<Cache>,
    gate: Gate,
    metrics: Metrics,
    events: broadcast::Sender<WorkerEvent>,
    all: Mutex<HashMap<String, Arc<Worker>>>,
    /// Cached (or formerly cached) slots whose successor has not taken over yet.
    successors: Mutex<Vec<Arc<Slot>>>,
    closing: AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.run_dir);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Pool {
    /// Starts a pool: prepares its runtime dir (the host script and worker sockets) and its reaper.
    /// Hosts and workers start on first use.
    ///
    /// # Errors
    /// The runtime dir cannot be created or written.
    pub fn start(cfg: PoolConfig) -> Result<Arc<Self>, PoolError> {
        let base = cfg
            .runtime_dir
            .clone()
            .or_else(|| std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from).filter(|p| p.is_dir()))
            .unwrap_or_else(std::env::temp_dir);
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let run_dir = base.join(format!("buntime-{}-{}", std::process::id(), &suffix[..6]));
        let io = |source| PoolError::RuntimeDir { path: run_dir.clone(), source };
        {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&run_dir).map_err(io)?;
        }
        let script = run_dir.join("worker-host.ts");
        std::fs::write(&script, crate::WORKER_HOST_JS).map_err(io)?;
        std::fs::write(run_dir.join("worker.js"), crate::WORKER_JS).map_err(io)?;
        let hosts = HostSet::new(&cfg, script, run_dir.clone());
        let (events, _) = broadcast::channel(1024);
        let inner = Arc::new(Inner {
            gate: Gate::new(cfg.ephemeral_concurrency, cfg.ephemeral_queue_limit),
            cache: Mutex::new(Cache::new(cfg.pool_size)),
            cfg,
            run_dir,
            hosts,
            metrics: Metrics::new(),
            events,
            all: Mutex::new(HashMap::new()),
            successors: Mutex::new(Vec::new()),
            closing: AtomicBool::new(false),
        });
        let weak = Arc::downgrade(&inner);
        let every = inner.cfg.reap_interval.max(Duration::from_millis(10));
        let reaper = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { break };
                inner.reap();
            }
        });
        Ok(Arc::new(Self { inner, reaper: Mutex::new(Some(reaper)) }))
    }

    /// Subscribes to worker spawn/terminate notifications (for `onWorkerSpawn` and
    /// `onWorkerTerminate`). A slow subscriber misses old events rather than slowing the pool.
    pub fn subscribe(&self) -> broadcast::Receiver<WorkerEvent> {
        self.inner.events.subscribe()
    }

    /// The directory holding the host script and worker sockets.
    pub fn runtime_dir(&self) -> &Path {
        &self.inner.run_dir
    }

    /// Connections opened so far to the live workers of `key` (keep-alive makes this stay far
    /// below the number of requests).
    pub fn connections_opened(&self, key: &str) -> usize {
        lock(&self.inner.all).values().filter(|w| w.spec.key == key).map(|w| w.conns_opened.load(Ordering::Relaxed)).sum()
    }

    /// Workers started and not yet stopped (warm, ephemeral and starting ones).
    pub fn live_workers(&self) -> usize {
        lock(&self.inner.all).len()
    }

    /// Process ids of the live worker hosts.
    pub fn host_pids(&self) -> Vec<u32> {
        self.inner.hosts.live().iter().map(|h| h.pid).collect()
    }

    /// Stops the pool: no new requests; in-flight requests drain (up to the drain timeout); every
    /// app's `onTerminate` runs; hosts exit (killed if they do not); the runtime dir is removed.
    pub async fn shutdown(&self) {
        let inner = &self.inner;
        if inner.closing.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Some(r) = lock(&self.reaper).take() {
            r.abort();
        }
        lock(&inner.cache).drain();
        let workers: Vec<_> = lock(&inner.all).values().cloned().collect();
        let mut set = tokio::task::JoinSet::new();
        for w in workers {
            let inner = inner.clone();
            set.spawn(async move {
                w.close();
                w.drain(inner.cfg.drain_timeout).await;
                inner.terminate(&w, "shutdown").await;
            });
        }
        while set.join_next().await.is_some() {}
        let grace = inner.cfg.terminate_grace;
        for host in inner.hosts.take_all() {
            host.send(&Command::Shutdown { grace_ms: millis(grace) });
            if tokio::time::timeout(grace + inner.cfg.kill_grace, host.wait_dead()).await.is_err() {
                host.kill();
            }
        }
        let _ = std::fs::remove_dir_all(&inner.run_dir);
    }
}

impl Inner {
    fn emit(&self, kind: WorkerEventKind, w: &Worker, reason: &str) {
        let _ = self.events.send(WorkerEvent {
            kind,
            key: w.spec.key.clone(),
            worker_id: w.id.clone(),
            dir: w.spec.dir.display().to_string(),
            ephemeral: w.ephemeral,
            reason: reason.to_owned(),
        });
    }

    /// Returns the cached slot for `spec`, or a new one (evicting the least recently used).
    fn slot_for(self: &Arc<Self>, spec: &WorkerSpec) -> Result<Arc<Slot>, DispatchError> {
        let now = Instant::now();
        let mut cache = lock(&self.cache);
        if let Some(slot) = cache.get(&spec.key) {
            if slot.dir != spec.dir {
                return Err(DispatchError::Collision { key: spec.key.clone(), existing: slot.dir.display().to_string(), new: spec.dir.display().to_string() });
            }
            match slot.cell.get() {
                None => {
                    Metrics::inc(&self.metrics.hits);
                    return Ok(slot);
                }
                Some(Ok(w)) if w.is_healthy(now) => {
                    Metrics::inc(&self.metrics.hits);
                    return Ok(slot);
                }
                Some(Ok(w)) => {
                    let reason = unhealthy_reason(w, now);
                    let next = self.hand_over(&mut cache, &slot, reason);
                    if next.is_none() {
                        cache.remove(&slot);
                    }
                    self.retire(w.clone(), reason, self.cfg.drain_timeout);
                    if let Some(next) = next {
                        Metrics::inc(&self.metrics.hits);
                        return Ok(next);
                    }
                }
                Some(Err(_)) => {
                    cache.remove(&slot);
                }
            }
        }
        Metrics::inc(&self.metrics.misses);
        let slot = Slot::new(spec.key.clone(), spec.dir.clone());
        for old in cache.insert(slot.clone()) {
            Metrics::inc(&self.metrics.evictions);
            if let Some(w) = old.worker() {
                self.retire(w.clone(), "evicted", self.cfg.drain_timeout);
            }
        }
        Ok(slot)
    }

    /// Removes `worker`'s slot from the cache if it is still the cached one (its successor, if
    /// one is warming, takes its place).
    fn uncache(&self, worker: &Arc<Worker>) {
        let mut cache = lock(&self.cache);
        if let Some(slot) = cache.get(&worker.spec.key)
            && slot.worker().is_some_and(|w| Arc::ptr_eq(w, worker))
            && self.hand_over(&mut cache, &slot, "failed").is_none()
        {
            cache.remove(&slot);
        }
    }

    /// Puts the successor of `slot` (if one was asked for and has not failed) in its place in the
    /// cache and returns it. An app left unused for its TTL (`expired`) keeps no successor: the
    /// reaper stops it.
    fn hand_over(&self, cache: &mut Cache, slot: &Arc<Slot>, reason: &str) -> Option<Arc<Slot>> {
        if reason == "expired" {
            return None;
        }
        let mut pending = slot.successor();
        if pending.as_ref().is_none_or(|next| next.failed()) {
            return None;
        }
        let next = pending.take()?;
        if !cache.replace(slot, next.clone()) {
            *pending = Some(next);
            return None;
        }
        match next.worker() {
            Some(w) => w.touch(),
            None => tracing::debug!(app = %slot.key, reason, "Successor still starting at the hand-over: the next requests wait for it."),
        }
        Some(next)
    }

    /// Starts warming a successor for `worker` (the worker of `slot`), at most once per worker.
    fn warm_successor(self: &Arc<Self>, slot: &Arc<Slot>, worker: &Worker, spec: &Arc<WorkerSpec>) {
        if worker.successor_requested.swap(true, Ordering::SeqCst) || self.closing.load(Ordering::SeqCst) {
            return;
        }
        let next = Slot::new(spec.key.clone(), spec.dir.clone());
        *slot.successor() = Some(next.clone());
        lock(&self.successors).push(slot.clone());
        let (inner, spec) = (self.clone(), spec.clone());
        spawn_on_runtime(async move {
            let _ = next.cell.get_or_init(|| inner.start_worker(spec, false)).await;
            inner.settle_successors();
        });
    }

    /// Replaces a worker that took its last request by its successor (asked for now if no
    /// request has yet) and retires it once its in-flight requests finish.
    fn recycle(self: &Arc<Self>, slot: &Arc<Slot>, worker: &Arc<Worker>, spec: &Arc<WorkerSpec>) {
        self.warm_successor(slot, worker, spec);
        {
            let mut cache = lock(&self.cache);
            if self.hand_over(&mut cache, slot, "recycled").is_none() {
                cache.remove(slot);
            }
        }
        self.retire(worker.clone(), "recycled", self.cfg.drain_timeout);
    }

    /// Forgets successors that took over or failed, and stops warm ones whose predecessor left
    /// the cache without handing over (evicted, expired, retired).
    fn settle_successors(self: &Arc<Self>) {
        let mut orphans = Vec::new();
        lock(&self.successors).retain(|slot| {
            let mut pending = slot.successor();
            match pending.as_ref() {
                None => false,
                Some(next) if next.failed() => {
                    pending.take();
                    false
                }
                Some(next) if slot.is_evicted() && next.cell.initialized() => {
                    orphans.extend(pending.take());
                    false
                }
                Some(_) => true,
            }
        });
        for next in orphans {
            if let Some(w) = next.worker() {
                self.retire(w.clone(), "evicted", Duration::ZERO);
            }
        }
    }

    async fn dispatch_warm(self: &Arc<Self>, spec: Arc<WorkerSpec>, req: Request) -> Response {
        for _ in 0..ATTEMPTS {
            let slot = match self.slot_for(&spec) {
                Ok(s) => s,
                Err(e) => return e.to_response(),
            };
            let started = self.started(&slot, &spec).await;
            let worker = match started {
                Ok(w) => w,
                Err(e) => {
                    lock(&self.cache).remove(&slot);
                    return DispatchError::from(e).to_response();
                }
            };
            let max = spec.max_requests.max(1);
            let Some(guard) = worker.acquire() else {
                // Closed, or concurrent requests took its last `maxRequests`: its successor (if
                // any) takes over and the request tries again.
                let reason = unhealthy_reason(&worker, Instant::now());
                if reason == "recycled" {
                    self.recycle(&slot, &worker, &spec);
                } else {
                    {
                        let mut cache = lock(&self.cache);
                        if self.hand_over(&mut cache, &slot, reason).is_none() {
                            cache.remove(&slot);
                        }
                    }
                    self.retire(worker.clone(), reason, self.cfg.drain_timeout);
                }
                continue;
            };
            let nth = guard.nth();
            if slot.is_evicted() {
                let reason = if nth >= max { "recycled" } else { "evicted" };
                self.retire(worker.clone(), reason, self.cfg.drain_timeout);
            } else {
                // Never due before a quarter of the requests (see `recycle`): skip the clocks.
                if nth.saturating_mul(4) >= max
                    && !worker.successor_requested.load(Ordering::Relaxed)
                    && recycle::successor_due(nth, max, worker.start_took(), worker.serving_for(Instant::now()))
                {
                    self.warm_successor(&slot, &worker, &spec);
                }
                if nth >= max {
                    // This request is the last: the successor takes the next ones.
                    self.recycle(&slot, &worker, &spec);
                }
            }
            return self.forward(&spec, guard, req, None).await;
        }
        DispatchError::Crashed("no usable worker after several attempts".into()).to_response()
    }

    /// Returns the slot's worker, starting it once. The start runs in its own task, so a request
    /// cancelled while waiting never abandons a half-started worker: the next request gets it.
    async fn started(self: &Arc<Self>, slot: &Arc<Slot>, spec: &Arc<WorkerSpec>) -> Result<Arc<Worker>, StartError> {
        if let Some(r) = slot.cell.get() {
            return r.clone();
        }
        let (inner, slot, spec) = (self.clone(), slot.clone(), spec.clone());
        let task = tokio::spawn(async move { slot.cell.get_or_init(|| inner.start_worker(spec, false)).await.clone() });
        task.await.unwrap_or_else(|e| Err(StartError::Host(format!("worker start task failed: {e}").into())))
    }

    /// Starts an ephemeral worker in its own task; if the request is cancelled meanwhile, the
    /// worker is stopped as soon as it is ready instead of being left behind.
    async fn start_ephemeral(self: &Arc<Self>, spec: &Arc<WorkerSpec>) -> Result<Arc<Worker>, StartError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (inner, spec) = (self.clone(), spec.clone());
        tokio::spawn(async move {
            let started = inner.start_worker(spec, true).await;
            if let Err(Ok(w)) = tx.send(started) {
                inner.terminate(&w, "completed").await;
            }
        });
        rx.await.unwrap_or_else(|_| Err(StartError::Host("worker start task failed".into())))
    }

    async fn dispatch_ephemeral(self: &Arc<Self>, spec: Arc<WorkerSpec>, req: Request) -> Response {
        let permit = match self.gate.enter().await {
            Ok(p) => p,
            Err(e) => return e.to_response(),
        };
        let new_session = req.headers().get("sec-fetch-dest").is_none_or(|v| v == "document" || v == "empty");
        let t0 = Instant::now();
        let worker = match self.start_ephemeral(&spec).await {
            Ok(w) => w,
            Err(e) => {
                self.metrics.record_ephemeral(&spec.key, t0.elapsed(), true, new_session);
                return DispatchError::from(e).to_response();
            }
        };
        let Some(guard) = worker.acquire() else {
            self.spawn_terminate(worker, "failed");
            return DispatchError::Crashed("the worker exited before the request".into()).to_response();
        };
        let inner = self.clone();
        let done = worker.clone();
        let on_end = OnEnd::new(move || {
            drop(permit);
            inner.spawn_terminate(done, "completed");
        });
        let res = self.forward(&spec, guard, req, Some(on_end)).await;
        self.metrics.record_ephemeral(&spec.key, t0.elapsed(), res.status().is_server_error(), new_session);
        res
    }

    /// Proxies one request; failures retire the worker and answer JSON.
    async fn forward(self: &Arc<Self>, spec: &WorkerSpec, guard: InflightGuard, req: Request, on_end: Option<OnEnd>) -> Response {
        if crate::ws::is_upgrade(&req) {
            return crate::ws::relay(guard, on_end, req, spec.timeout).await;
        }
        let worker = guard.worker().clone();
        let t0 = Instant::now();
        match proxy::send(&worker, req, spec.timeout).await {
            Ok((res, conn)) => {
                let took = t0.elapsed();
                worker.record(took, false);
                self.metrics.record_duration(took);
                proxy::into_response(res, conn, guard, on_end)
            }
            Err(err) => {
                worker.record(t0.elapsed(), true);
                drop(guard);
                let err = match err {
                    ProxyError::TooLarge => DispatchError::BodyTooLarge(spec.max_body_bytes),
                    ProxyError::Timeout => {
                        tracing::warn!(app = %spec.key, worker = %worker.id, timeout_ms = millis(spec.timeout), "Worker timed out; replacing it.");
                        worker.close();
                        self.uncache(&worker);
                        self.retire(worker.clone(), "timeout", spec.timeout);
                        DispatchError::Timeout(millis(spec.timeout))
                    }
                    ProxyError::Broken(msg) => match worker.ended_within(EXIT_EVIDENCE).await {
                        Some(end) => self.ended(&worker, end),
                        None => {
                            // The worker lives: its server refused this one request. It and its
                            // other requests are left alone.
                            tracing::warn!(app = %spec.key, worker = %worker.id, error = %msg, "Worker dropped a request without answering; keeping it.");
                            DispatchError::BadResponse { app: spec.key.clone(), reason: msg.into() }
                        }
                    },
                    ProxyError::Ended(end) => self.ended(&worker, end),
                };
                drop(on_end);
                err.to_response()
            }
        }
    }

    /// Replaces a worker that ended mid-request; returns what the request answers.
    fn ended(self: &Arc<Self>, worker: &Arc<Worker>, end: WorkerEnd) -> DispatchError {
        let app = worker.spec.key.clone();
        worker.close();
        self.uncache(worker);
        self.retire(worker.clone(), "crashed", Duration::ZERO);
        match end {
            WorkerEnd::Exited(_) => {
                tracing::warn!(app = %app, worker = %worker.id, reason = %end, "Worker exited while serving; replacing it.");
                DispatchError::Exited { app, reason: end.to_string().into() }
            }
            WorkerEnd::OverMemory { limit, .. } => DispatchError::MemoryLimit { app, limit_mb: limit >> 20 },
            WorkerEnd::HostDied(reason) => {
                tracing::warn!(app = %app, worker = %worker.id, error = %reason, "Worker host died while serving; replacing the worker.");
                DispatchError::Crashed(reason.into())
            }
        }
    }

    /// Starts a worker for `spec` and waits for it to be ready.
    async fn start_worker(self: &Arc<Self>, spec: Arc<WorkerSpec>, ephemeral: bool) -> Result<Arc<Worker>, StartError> {
        if self.closing.load(Ordering::SeqCst) {
            return Err(StartError::ShuttingDown);
        }
        let mut result = self.start_worker_inner(spec.clone(), ephemeral).await;
        // The host may have died just before (its connections break before its exit is seen):
        // one more try gets a fresh host.
        if matches!(&result, Err(StartError::HostDied)) {
            result = self.start_worker_inner(spec, ephemeral).await;
        }
        if let Err(StartError::HostDied) = result {
            result = Err(StartError::Host("worker host exited while the worker was starting".into()));
        }
        match &result {
            Ok(_) => Metrics::inc(&self.metrics.created),
            Err(_) => Metrics::inc(&self.metrics.failed),
        }
        result
    }

    async fn start_worker_inner(self: &Arc<Self>, spec: Arc<WorkerSpec>, ephemeral: bool) -> Result<Arc<Worker>, StartError> {
        let (dir, entrypoint) = check_entrypoint(&spec.dir, &spec.entrypoint)?;
        let class = self.hosts.class_for(&spec.key, ephemeral, spec.isolated, spec.low_memory);
        let host = self.hosts.acquire(&class).await?;
        let id = uuid::Uuid::new_v4().to_string();
        let socket = self.run_dir.join(format!("{}.sock", &id.replace('-', "")[..16]));
        let spawn = Spawn {
            id: id.clone(),
            app: spec.key.clone(),
            app_dir: dir.display().to_string(),
            entrypoint: entrypoint.display().to_string(),
            env: worker_env(&spec, &id, &self.cfg.worker_env),
            socket_path: socket.display().to_string(),
            auto_install: spec.auto_install,
            low_memory: spec.low_memory,
            inject_base: spec.inject_base,
            public_env: spec.public_env.clone(),
            max_body_bytes: spec.max_body_bytes,
            max_memory_bytes: spec.max_memory_bytes.or(self.cfg.worker_max_memory_bytes),
        };
        let (ready, exit) = host.spawn_worker(spawn);
        let worker = Arc::new(Worker::new(id.clone(), spec.clone(), ephemeral, host, class, socket, exit));
        lock(&self.all).insert(id, worker.clone());
        match tokio::time::timeout(self.cfg.ready_timeout, ready).await {
            Ok(Ok(Ok(()))) => {
                worker.mark_ready();
                worker.announced.store(true, Ordering::SeqCst);
                self.emit(WorkerEventKind::Spawned, &worker, "");
                Ok(worker)
            }
            Ok(Ok(Err(_)) | Err(_)) if worker.host.is_dead() => {
                self.spawn_terminate(worker, "failed");
                Err(StartError::HostDied)
            }
            Ok(Ok(Err(msg))) => {
                tracing::warn!(app = %spec.key, error = %msg, "Worker failed to start.");
                self.spawn_terminate(worker, "failed");
                Err(StartError::Init(msg.into()))
            }
            Ok(Err(_)) => {
                self.spawn_terminate(worker, "failed");
                Err(StartError::HostDied)
            }
            Err(_) => {
                tracing::warn!(app = %spec.key, ready_timeout_ms = millis(self.cfg.ready_timeout), "Worker never got ready.");
                self.spawn_terminate(worker, "failed");
                Err(StartError::NotReady(millis(self.cfg.ready_timeout)))
            }
        }
    }

    /// Closes a worker to new requests, waits for its in-flight ones (up to `drain`), then
    /// terminates it. Idempotent.
    fn retire(self: &Arc<Self>, worker: Arc<Worker>, reason: &'static str, drain: Duration) {
        worker.close();
        if worker.retiring.swap(true, Ordering::SeqCst) {
            return;
        }
        let inner = self.clone();
        spawn_on_runtime(async move {
            worker.drain(drain).await;
            inner.terminate(&worker, reason).await;
        });
    }

    fn spawn_terminate(self: &Arc<Self>, worker: Arc<Worker>, reason: &'static str) {
        let inner = self.clone();
        spawn_on_runtime(async move { inner.terminate(&worker, reason).await });
    }

    /// Stops a worker: `onTerminate`, then the thread. Bun cannot stop a thread stuck in a loop
    /// (`Worker.terminate()` waits for it to yield), so such a host is quarantined: it gets no new
    /// workers, its other workers finish their requests (warm ones move to a fresh host), and it is
    /// killed once only stuck threads are left. Idempotent.
    async fn terminate(self: &Arc<Self>, worker: &Arc<Worker>, reason: &str) {
        if worker.terminating.swap(true, Ordering::SeqCst) {
            return;
        }
        worker.close();
        worker.drop_conns();
        if !worker.has_exited() {
            let grace = if worker.announced.load(Ordering::SeqCst) { self.cfg.terminate_grace } else { Duration::ZERO };
            worker.host.send(&Command::Terminate { id: worker.id.clone(), grace_ms: millis(grace) });
            let mut exit = worker.exit.clone();
            let ended = tokio::time::timeout(grace + self.cfg.kill_grace, exit.wait_for(Option::is_some)).await;
            if ended.is_err() && !worker.host.is_dead() {
                tracing::warn!(app = %worker.spec.key, worker = %worker.id, host = %worker.host.label, "Worker did not stop; its host is replaced once its other requests finish.");
                worker.host.mark_stuck();
                let others: Vec<_> =
                    lock(&self.all).values().filter(|w| Arc::ptr_eq(&w.host, &worker.host) && !Arc::ptr_eq(w, worker)).cloned().collect();
                for w in others {
                    self.uncache(&w);
                    self.retire(w, "moved", self.cfg.drain_timeout);
                }
                self.hosts.quarantine(&worker.class, &worker.host, self.cfg.drain_timeout + self.cfg.kill_grace);
            }
        }
        let _ = std::fs::remove_file(&worker.socket);
        lock(&self.all).remove(&worker.id);
        if worker.announced.load(Ordering::SeqCst) {
            if !worker.ephemeral {
                Metrics::inc(&self.metrics.retired);
                let st = worker.state();
                self.metrics.archive(&worker.spec.key, st.request_count, st.error_count, st.total_response, st.last_response);
            }
            self.emit(WorkerEventKind::Terminated, worker, reason);
        }
        self.hosts.release_isolated(&worker.class, &worker.host);
    }

    /// Retires expired, recycled and dead workers, sends `onIdle` to idle ones, and kills hosts
    /// over the memory limit.
    fn reap(self: &Arc<Self>) {
        let now = Instant::now();
        if let Some(limit) = self.cfg.host_max_rss_bytes {
            for host in self.hosts.live() {
                let rss = host.rss_bytes();
                if rss > limit {
                    tracing::warn!(host = %host.label, rss_mb = rss / (1024 * 1024), limit_mb = limit / (1024 * 1024), "Worker host over its memory limit; killing it.");
                    host.kill();
                }
            }
        }
        self.settle_successors();
        let slots = lock(&self.cache).slots();
        for slot in slots {
            let Some(w) = slot.worker() else { continue };
            if !w.is_healthy(now) {
                let reason = unhealthy_reason(w, now);
                let removed = {
                    let mut cache = lock(&self.cache);
                    self.hand_over(&mut cache, &slot, reason).is_some() || cache.remove(&slot)
                };
                if removed {
                    let drain = if reason == "crashed" { Duration::ZERO } else { self.cfg.drain_timeout };
                    self.retire(w.clone(), reason, drain);
                }
                continue;
            }
            let mut st = w.state();
            if !st.idle_notified && w.inflight() == 0 && now.duration_since(st.last_used) >= w.spec.idle_timeout {
                st.idle_notified = true;
                w.host.send(&Command::Idle { id: w.id.clone() });
            }
        }
    }

    fn live_stats(&self) -> Vec<LiveStats> {
        let now = Instant::now();
        lock(&self.cache)
            .slots()
            .iter()
            .filter_map(|s| s.worker().cloned())
            .map(|w| {
                let st = w.state();
                LiveStats {
                    key: w.spec.key.clone(),
                    age: now.duration_since(w.created),
                    idle: now.duration_since(st.last_used),
                    idle_after: w.spec.idle_timeout,
                    requests: st.request_count,
                    errors: st.error_count,
                    response: st.total_response,
                    last_response: st.last_response,
                }
            })
            .collect()
    }
}

fn spawn_on_runtime<F: std::future::Future<Output = ()> + Send + 'static>(fut: F) {
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        handle.spawn(fut);
    }
}

fn unhealthy_reason(w: &Worker, now: Instant) -> &'static str {
    let st = w.state();
    if w.has_exited() {
        "crashed"
    } else if st.closed {
        "failed"
    } else if st.request_count >= w.spec.max_requests.max(1) {
        "recycled"
    } else if now.duration_since(st.ttl_start) >= w.spec.ttl {
        "expired"
    } else {
        "retired"
    }
}

/// Rejects an entrypoint that resolves outside the app dir (symlinks and `..` included); returns
/// both paths canonicalized.
fn check_entrypoint(dir: &Path, entry: &Path) -> Result<(PathBuf, PathBuf), StartError> {
    let dir = std::fs::canonicalize(dir).map_err(|e| StartError::Init(format!("app dir `{}`: {e}", dir.display()).into()))?;
    let entry_real = std::fs::canonicalize(entry).map_err(|e| StartError::Init(format!("entrypoint `{}`: {e}", entry.display()).into()))?;
    if entry_real.starts_with(&dir) && entry_real != dir {
        Ok((dir, entry_real))
    } else {
        Err(StartError::Init(format!("entrypoint `{}` is outside the app dir `{}`", entry.display(), dir.display()).into()))
    }
}

/// The worker's whole environment: the app's `env`, then the fixed keys of spec §9.7.
fn worker_env(spec: &WorkerSpec, id: &str, d: &WorkerEnvDefaults) -> BTreeMap<String, String> {
    let mut env = spec.env.clone();
    let fixed = [
        ("APP_DIR", spec.dir.display().to_string()),
        ("ENTRYPOINT", spec.entrypoint.display().to_string()),
        ("WORKER_CONFIG", spec.config_json.to_string()),
        ("WORKER_ID", id.to_owned()),
        ("NODE_ENV", d.node_env.clone()),
        ("RUNTIME_API_URL", d.runtime_api_url.clone()),
        ("RUNTIME_LOG_LEVEL", d.log_level.clone()),
        ("RUNTIME_PLUGIN_DIRS", d.plugin_dirs.clone()),
        ("RUNTIME_WORKER_DIRS", d.worker_dirs.clone()),
    ];
    for (k, v) in fixed {
        env.insert(k.to_owned(), v);
    }
    for (k, v) in &d.extra {
        env.insert(k.clone(), v.clone());
    }
    env
}

#[async_trait]
impl Dispatcher for Pool {
    async fn dispatch(&self, spec: Arc<WorkerSpec>, req: Request) -> Response {
        let inner = &self.inner;
        Metrics::inc(&inner.metrics.lookups);
        if inner.closing.load(Ordering::SeqCst) {
            return DispatchError::Start(StartError::ShuttingDown).to_response();
        }
        if !buntime_core::bun::serves_method(req.method()) {
            return DispatchError::MethodNotImplemented(req.method().as_str().chars().take(32).collect()).to_response();
        }
        if buntime_core::body::declared_too_large(req.headers(), spec.max_body_bytes) {
            return DispatchError::BodyTooLarge(spec.max_body_bytes).to_response();
        }
        if spec.ttl.is_zero() { inner.dispatch_ephemeral(spec, req).await } else { inner.dispatch_warm(spec, req).await }
    }

    async fn retire(&self, key: &str) {
        let inner = &self.inner;
        lock(&inner.cache).remove_key(key);
        let workers: Vec<_> = lock(&inner.all).values().filter(|w| w.spec.key == key && !w.ephemeral).cloned().collect();
        let mut set = tokio::task::JoinSet::new();
        for w in workers {
            let inner = inner.clone();
            set.spawn(async move {
                w.close();
                w.retiring.store(true, Ordering::SeqCst);
                w.drain(inner.cfg.drain_timeout).await;
                inner.terminate(&w, "retired").await;
            });
        }
        while set.join_next().await.is_some() {}
    }
}

impl PoolView for Pool {
    fn pool_metrics(&self) -> PoolMetrics {
        let inner = &self.inner;
        let memory = rss_of(std::process::id()) + inner.hosts.live().iter().map(|h| h.rss_bytes()).sum::<u64>();
        let active = lock(&inner.cache).len();
        inner.metrics.snapshot(active, inner.cfg.pool_size, (inner.gate.max_concurrency(), inner.gate.pending(), inner.gate.max_queue()), memory)
    }

    fn worker_stat_list(&self) -> Vec<WorkerStat> {
        // The live workers are read first, so the cache lock is not held with the stats locks.
        let live = self.inner.live_stats();
        self.inner.metrics.worker_stat_list(&live)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(dir: &Path) -> WorkerSpec {
        WorkerSpec {
            key: "app@1.0.0".into(),
            dir: dir.to_path_buf(),
            entrypoint: dir.join("index.ts"),
            base_path: "/app".into(),
            timeout: Duration::from_secs(1),
            ttl: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
            max_requests: 10,
            low_memory: false,
            auto_install: false,
            isolated: false,
            env: BTreeMap::from([("APP_ID".to_owned(), "x".to_owned()), ("APP_DIR".to_owned(), "spoofed".to_owned())]),
            max_body_bytes: 1024,
            max_memory_bytes: None,
            inject_base: false,
            public_env: BTreeMap::new(),
            config_json: serde_json::json!({"ttl": 1}),
        }
    }

    #[test]
    fn worker_env_is_the_app_env_plus_fixed_keys_which_win() {
        let s = spec(Path::new("/apps/app"));
        let env = worker_env(&s, "w-1", &WorkerEnvDefaults::default());
        assert_eq!(env["APP_ID"], "x");
        assert_eq!(env["APP_DIR"], "/apps/app");
        assert_eq!(env["WORKER_ID"], "w-1");
        assert_eq!(env["WORKER_CONFIG"], "{\"ttl\":1}");
        assert_eq!(env["NODE_ENV"], "development");
        assert_eq!(env.len(), 10);
    }

    #[test]
    fn entrypoints_outside_the_app_dir_are_rejected() {
        let t = tempfile::tempdir().unwrap();
        let app = t.path().join("app");
        std::fs::create_dir(&app).unwrap();
        std::fs::write(app.join("index.ts"), "").unwrap();
        std::fs::write(t.path().join("evil.ts"), "").unwrap();
        assert!(check_entrypoint(&app, &app.join("index.ts")).is_ok());
        assert!(check_entrypoint(&app, &app.join("../evil.ts")).is_err());
        std::os::unix::fs::symlink(t.path().join("evil.ts"), app.join("link.ts")).unwrap();
        assert!(check_entrypoint(&app, &app.join("link.ts")).is_err());
        assert!(check_entrypoint(&app, &app.join("missing.ts")).is_err());
    }
}
