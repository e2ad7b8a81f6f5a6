//! One app worker as the runtime sees it: identity, health, in-flight count and its connections.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use buntime_apps::WorkerSpec;
use hyper::client::conn::http1::SendRequest;
use tokio::sync::{Notify, watch};

use crate::hosts::HostClass;
use crate::host::{Host, WorkerEnd};

/// Counters and clocks of a worker.
#[derive(Debug)]
pub(crate) struct WorkerState {
    pub(crate) last_used: Instant,
    pub(crate) ttl_start: Instant,
    pub(crate) idle_notified: bool,
    pub(crate) request_count: u64,
    /// When it took its first request (a successor waits unused until it takes over).
    pub(crate) first_used: Option<Instant>,
    pub(crate) error_count: u64,
    pub(crate) total_response: Duration,
    pub(crate) last_response: Option<Duration>,
    /// No new requests: it failed (timeout, crash) or is being retired.
    pub(crate) closed: bool,
}

/// A started worker.
#[derive(Debug)]
pub(crate) struct Worker {
    pub(crate) id: String,
    pub(crate) spec: Arc<WorkerSpec>,
    pub(crate) ephemeral: bool,
    pub(crate) host: Arc<Host>,
    pub(crate) class: HostClass,
    pub(crate) socket: PathBuf,
    pub(crate) created: Instant,
    pub(crate) state: Mutex<WorkerState>,
    inflight: AtomicUsize,
    drained: Notify,
    pub(crate) exit: watch::Receiver<Option<WorkerEnd>>,
    conns: Mutex<Vec<SendRequest<Body>>>,
    pub(crate) terminating: AtomicBool,
    pub(crate) retiring: AtomicBool,
    pub(crate) announced: AtomicBool,
    pub(crate) conns_opened: AtomicUsize,
    /// How long it took to get ready, in microseconds (0 until it is).
    start_micros: AtomicU64,
    /// Whether its successor has been asked for (at most one per worker).
    pub(crate) successor_requested: AtomicBool,
}

impl Worker {
    /// Wraps a worker that just got ready.
    pub(crate) fn new(id: String, spec: Arc<WorkerSpec>, ephemeral: bool, host: Arc<Host>, class: HostClass, socket: PathBuf, exit: watch::Receiver<Option<WorkerEnd>>) -> Self {
        let now = Instant::now();
        Self {
            id,
            spec,
            ephemeral,
            host,
            class,
            socket,
            created: now,
            state: Mutex::new(WorkerState {
                last_used: now,
                ttl_start: now,
                idle_notified: false,
                request_count: 0,
                first_used: None,
                error_count: 0,
                total_response: Duration::ZERO,
                last_response: None,
                closed: false,
            }),
            inflight: AtomicUsize::new(0),
            drained: Notify::new(),
            exit,
            conns: Mutex::new(Vec::new()),
            terminating: AtomicBool::new(false),
            retiring: AtomicBool::new(false),
            announced: AtomicBool::new(false),
            conns_opened: AtomicUsize::new(0),
            start_micros: AtomicU64::new(0),
            successor_requested: AtomicBool::new(false),
        }
    }

    /// Records that the worker got ready now.
    pub(crate) fn mark_ready(&self) {
        let took = u64::try_from(self.created.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.start_micros.store(took.max(1), Ordering::Relaxed);
    }

    /// How long the worker took to get ready.
    pub(crate) fn start_took(&self) -> Duration {
        Duration::from_micros(self.start_micros.load(Ordering::Relaxed))
    }

    /// Renews the sliding TTL and the idle clock, as a request would (a successor taking over
    /// from its predecessor starts its own TTL then, not when it was warmed).
    pub(crate) fn touch(&self) {
        let now = Instant::now();
        let mut st = self.state();
        st.last_used = now;
        st.ttl_start = now;
    }

    pub(crate) fn state(&self) -> std::sync::MutexGuard<'_, WorkerState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Returns whether the thread (or its host) has ended.
    pub(crate) fn has_exited(&self) -> bool {
        self.exit.borrow().is_some() || self.host.is_dead()
    }

    /// Waits up to `limit` for the worker to end; returns why it did, or `None` if it lives on.
    pub(crate) async fn ended_within(&self, limit: Duration) -> Option<WorkerEnd> {
        let mut exit = self.exit.clone();
        match tokio::time::timeout(limit, exit.wait_for(Option::is_some)).await {
            Ok(Ok(end)) => end.clone(),
            _ => self.exit.borrow().clone(),
        }
    }

    /// Returns whether the worker may take a new request now.
    pub(crate) fn is_healthy(&self, now: Instant) -> bool {
        let st = self.state();
        !st.closed
            && !self.has_exited()
            && !self.terminating.load(Ordering::SeqCst)
            && (self.ephemeral || now.duration_since(st.ttl_start) < self.spec.ttl)
            && (self.ephemeral || st.request_count < self.spec.max_requests.max(1))
    }

    /// Starts a request: counts it, renews the sliding TTL and re-arms the idle notification.
    /// Returns `None` when the worker no longer takes requests, or (warm workers) when it has
    /// already been given `maxRequests` requests, so that limit is exact even under concurrency.
    pub(crate) fn acquire(self: &Arc<Self>) -> Option<InflightGuard> {
        let now = Instant::now();
        let mut st = self.state();
        if st.closed || self.has_exited() || self.terminating.load(Ordering::SeqCst) {
            return None;
        }
        if !self.ephemeral && st.request_count >= self.spec.max_requests.max(1) {
            return None;
        }
        st.request_count += 1;
        st.first_used.get_or_insert(now);
        st.last_used = now;
        st.ttl_start = now;
        st.idle_notified = false;
        self.inflight.fetch_add(1, Ordering::SeqCst);
        Some(InflightGuard { worker: self.clone(), nth: st.request_count })
    }

    /// How long it has been serving since its first request (zero before it).
    pub(crate) fn serving_for(&self, now: Instant) -> Duration {
        self.state().first_used.map_or(Duration::ZERO, |t| now.duration_since(t))
    }

    /// Returns the number of requests still being served (bodies included).
    pub(crate) fn inflight(&self) -> usize {
        self.inflight.load(Ordering::SeqCst)
    }

    /// Waits until no request is in flight, or `limit` passes. Returns whether it drained.
    pub(crate) async fn drain(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.drained.notified();
            if self.inflight() == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.inflight() == 0;
            }
        }
    }

    /// Stops new requests.
    pub(crate) fn close(&self) {
        self.state().closed = true;
    }

    /// Records a finished request (time to response head) or a failed one.
    pub(crate) fn record(&self, took: Duration, failed: bool) {
        let mut st = self.state();
        st.total_response += took;
        st.last_response = Some(took);
        if failed {
            st.error_count += 1;
        }
    }

    /// Takes an idle keep-alive connection, if one is still open.
    pub(crate) fn take_conn(&self) -> Option<SendRequest<Body>> {
        let mut conns = self.conns.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        while let Some(c) = conns.pop() {
            if !c.is_closed() {
                return Some(c);
            }
        }
        None
    }

    /// Returns a connection whose response has been fully read.
    pub(crate) fn put_conn(&self, conn: SendRequest<Body>) {
        if conn.is_closed() || self.terminating.load(Ordering::SeqCst) {
            return;
        }
        let mut conns = self.conns.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if conns.len() < 256 {
            conns.push(conn);
        }
    }

    /// Drops every idle connection.
    pub(crate) fn drop_conns(&self) {
        self.conns.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
    }
}

/// Marks one request in flight until dropped (after its response body ended).
#[derive(Debug)]
pub(crate) struct InflightGuard {
    worker: Arc<Worker>,
    nth: u64,
}

impl InflightGuard {
    /// The worker this request runs on.
    pub(crate) fn worker(&self) -> &Arc<Worker> {
        &self.worker
    }

    /// Which of the worker's requests this is (1 for its first).
    pub(crate) fn nth(&self) -> u64 {
        self.nth
    }
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        if self.worker.inflight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.worker.drained.notify_waiters();
        }
    }
}
