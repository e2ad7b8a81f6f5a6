//! The set of worker hosts: which host a worker goes to, and restarting dead hosts with backoff.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::config::PoolConfig;
use crate::error::StartError;
use crate::host::{Host, HostLaunch};

/// First restart delay after a host died young; doubles per consecutive failure.
const BACKOFF_BASE: Duration = Duration::from_millis(100);
/// Longest restart delay.
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How long an isolated host with no workers is kept for a replacement worker.
const ISOLATED_LINGER: Duration = Duration::from_secs(1);
/// A host that lived this long resets its failure count.
const HEALTHY_AFTER: Duration = Duration::from_secs(30);

/// Which kind of host a worker needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum HostClass {
    /// Shared by warm (ttl > 0) apps; `index` spreads them.
    Warm { smol: bool, index: usize },
    /// Shared by ephemeral (ttl = 0) workers, never by warm apps.
    Ephemeral { smol: bool },
    /// One app's own host (process isolation).
    Isolated { smol: bool, key: String },
}

impl HostClass {
    fn smol(&self) -> bool {
        match self {
            Self::Warm { smol, .. } | Self::Ephemeral { smol } | Self::Isolated { smol, .. } => *smol,
        }
    }

    fn label(&self) -> String {
        let smol = if self.smol() { "-smol" } else { "" };
        match self {
            Self::Warm { index, .. } => format!("warm{smol}-{index}"),
            Self::Ephemeral { .. } => format!("ephemeral{smol}"),
            Self::Isolated { key, .. } => format!("isolated{smol}:{key}"),
        }
    }
}

/// One host position: the live host, if any, and its failure history.
#[derive(Debug, Default)]
struct Slot {
    host: Option<Arc<Host>>,
    standby: Option<Arc<Host>>,
    preparing: bool,
    failures: u32,
    last_failure: Option<Instant>,
    starting: Arc<tokio::sync::Mutex<()>>,
}

/// All hosts of a pool.
#[derive(Debug)]
pub(crate) struct HostSet {
    bun: PathBuf,
    script: PathBuf,
    run_dir: PathBuf,
    env: Vec<(String, String)>,
    ready_timeout: Duration,
    warm_hosts: usize,
    warm_spares: usize,
    ephemeral_spares: usize,
    max_spawns: u64,
    terminate_grace: Duration,
    slots: Mutex<HashMap<HostClass, Slot>>,
    seq: AtomicU64,
    me: Weak<HostSet>,
    metrics: Arc<buntime_core::RuntimeMetrics>,
}

impl HostSet {
    /// Creates an empty set; hosts start on first use.
    pub(crate) fn new(cfg: &PoolConfig, script: PathBuf, run_dir: PathBuf) -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            // Hosts run in the runtime dir, so a relative Bun path must be made absolute first.
            bun: std::path::absolute(&cfg.bun).unwrap_or_else(|_| cfg.bun.clone()),
            script,
            run_dir,
            env: cfg.host_env.clone(),
            ready_timeout: cfg.ready_timeout,
            warm_hosts: cfg.warm_hosts.max(1),
            warm_spares: cfg.warm_spares,
            ephemeral_spares: cfg.ephemeral_spares,
            max_spawns: cfg.host_max_spawns.max(1),
            terminate_grace: cfg.terminate_grace,
            slots: Mutex::new(HashMap::new()),
            seq: AtomicU64::new(0),
            me: me.clone(),
            metrics: cfg.metrics.clone(),
        })
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<HostClass, Slot>> {
        self.slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Picks the host class for a worker: its own host, the ephemeral host, or the least loaded
    /// warm host.
    pub(crate) fn class_for(&self, key: &str, ephemeral: bool, isolated: bool, smol: bool) -> HostClass {
        if isolated {
            return HostClass::Isolated { smol, key: key.to_owned() };
        }
        if ephemeral {
            return HostClass::Ephemeral { smol };
        }
        let slots = self.slots();
        let load = |index: usize| {
            slots
                .get(&HostClass::Warm { smol, index })
                .and_then(|s| s.host.as_ref())
                .filter(|h| !h.is_dead())
                .map_or(0, |h| h.worker_count())
        };
        let index = (0..self.warm_hosts).min_by_key(|i| (load(*i), *i)).unwrap_or(0);
        HostClass::Warm { smol, index }
    }

    /// Returns the live host of `class`, starting it (after any backoff) when needed. A host that
    /// started `host_max_spawns` workers is rotated out: Bun leaks memory per terminated worker
    /// thread (about 12 KB in Bun 1.4.5, ~150 KB in 1.3.10), so it drains and exits while a fresh
    /// host takes over.
    pub(crate) async fn acquire(&self, class: &HostClass) -> Result<Arc<Host>, StartError> {
        let starting = {
            let mut slots = self.slots();
            let slot = slots.entry(class.clone()).or_default();
            if let Some(h) = slot.host.as_ref().filter(|h| !h.is_dead()) {
                let spawned = h.spawned();
                if spawned < self.max_spawns {
                    // Prepare the successor early, so rotation never waits for a host to boot.
                    if spawned >= self.max_spawns * 3 / 4 && slot.standby.is_none() && !slot.preparing {
                        slot.preparing = true;
                        self.prepare_standby(class.clone());
                    }
                    return Ok(h.clone());
                }
                if let Some(old) = slot.host.take() {
                    self.rotate_out(old);
                }
                if let Some(next) = slot.standby.take().filter(|h| !h.is_dead()) {
                    slot.host = Some(next.clone());
                    drop(slots);
                    self.supervise(class.clone(), &next);
                    return Ok(next);
                }
            }
            slot.starting.clone()
        };
        let _guard = starting.lock().await;
        let wait = {
            let mut slots = self.slots();
            let slot = slots.entry(class.clone()).or_default();
            if let Some(h) = slot.host.as_ref().filter(|h| !h.is_dead()) {
                return Ok(h.clone());
            }
            backoff_left(slot.failures, slot.last_failure)
        };
        if wait > self.ready_timeout {
            return Err(StartError::Host(format!("worker host `{}` is crash-looping; next restart in {} ms", class.label(), wait.as_millis()).into()));
        }
        tokio::time::sleep(wait).await;
        match self.launch(class).await {
            Ok(host) => {
                self.slots().entry(class.clone()).or_default().host = Some(host.clone());
                self.supervise(class.clone(), &host);
                tracing::debug!(host = %host.label, pid = host.pid, "Worker host started.");
                Ok(host)
            }
            Err(err) => {
                let mut slots = self.slots();
                let slot = slots.entry(class.clone()).or_default();
                slot.failures = slot.failures.saturating_add(1);
                slot.last_failure = Some(Instant::now());
                Err(err)
            }
        }
    }

    /// Watches a host: on death, records the failure and, for shared hosts, restarts it after the
    /// backoff so its spare workers are ready again before the next request.
    fn supervise(&self, class: HostClass, host: &Arc<Host>) {
        let weak_host = Arc::downgrade(host);
        let me = self.me.clone();
        tokio::spawn(async move {
            let Some(h) = weak_host.upgrade() else { return };
            h.wait_dead().await;
            let lived = h.started.elapsed();
            drop(h);
            let Some(set) = me.upgrade() else { return };
            let restart = {
                let mut slots = set.slots();
                let Some(slot) = slots.get_mut(&class) else { return };
                let same = slot.host.as_ref().is_some_and(|cur| Weak::ptr_eq(&Arc::downgrade(cur), &weak_host));
                if !same {
                    return;
                }
                slot.host = None;
                if lived >= HEALTHY_AFTER {
                    slot.failures = 0;
                } else {
                    slot.failures = slot.failures.saturating_add(1);
                    slot.last_failure = Some(Instant::now());
                }
                tracing::warn!(host = %class.label(), failures = slot.failures, "Worker host died.");
                !matches!(class, HostClass::Isolated { .. }) && slot.failures < 8
            };
            if restart {
                match set.acquire(&class).await {
                    Ok(_) => set.metrics.worker_host_restarted(),
                    Err(err) => tracing::warn!(host = %class.label(), error = %err, "Worker host restart failed."),
                }
            }
        });
    }

    /// Starts a host for `class` (no slot bookkeeping).
    async fn launch(&self, class: &HostClass) -> Result<Arc<Host>, StartError> {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let ctl_path = self.run_dir.join(format!("h{n}.ctl"));
        let spares = match class {
            HostClass::Warm { .. } => self.warm_spares,
            HostClass::Ephemeral { .. } => self.ephemeral_spares,
            HostClass::Isolated { .. } => 0,
        };
        let launch = HostLaunch {
            bun: &self.bun,
            script: &self.script,
            ctl_path: &ctl_path,
            smol: class.smol(),
            spares,
            env: &self.env,
            timeout: self.ready_timeout,
            label: class.label(),
        };
        Host::start(launch).await
    }

    /// Starts the successor of a host nearing its spawn budget in the background.
    fn prepare_standby(&self, class: HostClass) {
        let me = self.me.clone();
        tokio::spawn(async move {
            let Some(set) = me.upgrade() else { return };
            let started = set.launch(&class).await;
            let mut slots = set.slots();
            let Some(slot) = slots.get_mut(&class) else {
                if let Ok(h) = started {
                    h.kill();
                }
                return;
            };
            slot.preparing = false;
            match started {
                Ok(h) => slot.standby = Some(h),
                Err(err) => tracing::warn!(host = %class.label(), error = %err, "Standby worker host failed to start."),
            }
        });
    }

    /// Lets a rotated-out host finish its workers, then stops it.
    fn rotate_out(&self, host: Arc<Host>) {
        tracing::debug!(host = %host.label, pid = host.pid, spawned = host.spawned(), "Rotating worker host out.");
        let grace = self.terminate_grace;
        tokio::spawn(async move {
            while !host.is_dead() && host.worker_count() > 0 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            host.send(&crate::protocol::Command::Shutdown { grace_ms: u64::try_from(grace.as_millis()).unwrap_or(0) });
            if tokio::time::timeout(grace + Duration::from_secs(1), host.wait_dead()).await.is_err() {
                host.kill();
            }
        });
    }

    /// Stops `host`, an isolated one, once it has held no workers for a short while (a
    /// replacement worker may be about to start in it).
    pub(crate) fn release_isolated(&self, class: &HostClass, host: &Arc<Host>) {
        if !matches!(class, HostClass::Isolated { .. }) {
            return;
        }
        let (me, class, host) = (self.me.clone(), class.clone(), Arc::downgrade(host));
        tokio::spawn(async move {
            tokio::time::sleep(ISOLATED_LINGER).await;
            let (Some(set), Some(host)) = (me.upgrade(), host.upgrade()) else { return };
            if host.worker_count() > 0 {
                return;
            }
            let mut slots = set.slots();
            let current = slots.get(&class).and_then(|s| s.host.as_ref()).is_some_and(|h| Arc::ptr_eq(h, &host));
            if current {
                slots.remove(&class);
            }
            drop(slots);
            host.kill();
        });
    }

    /// Takes `host` out of service: new workers of `class` go to a fresh host; it is killed once
    /// only stuck workers are left in it, or after `limit`.
    pub(crate) fn quarantine(&self, class: &HostClass, host: &Arc<Host>, limit: Duration) {
        {
            let mut slots = self.slots();
            if let Some(slot) = slots.get_mut(class)
                && slot.host.as_ref().is_some_and(|h| Arc::ptr_eq(h, host))
            {
                slot.host = None;
            }
        }
        let host = host.clone();
        tokio::spawn(async move {
            let deadline = Instant::now() + limit;
            while !host.is_dead() && !host.only_stuck_left() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            tracing::warn!(host = %host.label, pid = host.pid, "Killing a worker host with a stuck worker thread.");
            host.kill();
        });
    }

    /// Returns every live host.
    pub(crate) fn live(&self) -> Vec<Arc<Host>> {
        self.slots().values().filter_map(|s| s.host.clone()).filter(|h| !h.is_dead()).collect()
    }

    /// Forgets every host (used at shutdown, after they were told to stop).
    pub(crate) fn take_all(&self) -> Vec<Arc<Host>> {
        self.slots().drain().flat_map(|(_, s)| [s.host, s.standby]).flatten().collect()
    }
}

fn backoff_left(failures: u32, last: Option<Instant>) -> Duration {
    let Some(last) = last else { return Duration::ZERO };
    if failures == 0 {
        return Duration::ZERO;
    }
    let delay = BACKOFF_BASE.saturating_mul(1u32 << failures.saturating_sub(1).min(10)).min(BACKOFF_MAX);
    delay.saturating_sub(last.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_per_failure_and_is_capped() {
        let now = Some(Instant::now());
        assert_eq!(backoff_left(0, now), Duration::ZERO);
        assert!(backoff_left(1, now) <= BACKOFF_BASE && backoff_left(1, now) > Duration::from_millis(50));
        assert!(backoff_left(3, now) > Duration::from_millis(300));
        assert!(backoff_left(30, now) <= BACKOFF_MAX);
        assert_eq!(backoff_left(3, None), Duration::ZERO);
    }
}
