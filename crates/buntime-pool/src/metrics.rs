//! Pool counters and per-key worker statistics (spec §9.8), as plugins see them.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use buntime_core::pool_stats::{PoolMetrics, WorkerStat, WorkerStatus};

/// Keys kept in the archive and in the ephemeral list.
const KEEP_KEYS: usize = 1000;
/// Durations averaged by `avgResponseTimeMs`.
const RECENT: usize = 100;

fn ms(d: Duration) -> f64 {
    round2(d.as_secs_f64() * 1000.0)
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// Totals of workers that are gone.
#[derive(Debug, Clone, Default)]
pub(crate) struct Totals {
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) response: Duration,
    pub(crate) last_requests: Option<u64>,
    pub(crate) last_response: Option<Duration>,
}

/// Per-key ephemeral counters, for the current session and in total.
#[derive(Debug, Clone, Default)]
struct Ephemeral {
    requests: u64,
    errors: u64,
    response: Duration,
    last: Duration,
}

/// A live worker's numbers, as read for `getWorkerStats()`.
#[derive(Debug, Clone)]
pub(crate) struct LiveStats {
    pub(crate) key: String,
    pub(crate) age: Duration,
    pub(crate) idle: Duration,
    pub(crate) idle_after: Duration,
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) response: Duration,
    pub(crate) last_response: Option<Duration>,
}

/// Counters shared by the whole pool.
#[derive(Debug)]
pub(crate) struct Metrics {
    started: Instant,
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) evictions: AtomicU64,
    pub(crate) lookups: AtomicU64,
    pub(crate) created: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) retired: AtomicU64,
    recent: Mutex<VecDeque<f64>>,
    archive: Mutex<Bounded<Totals>>,
    ephemeral: Mutex<Bounded<Ephemeral>>,
}

/// Per-key values that keep the [`KEEP_KEYS`] most recently added keys, the oldest dropped first.
#[derive(Debug)]
struct Bounded<V> {
    map: HashMap<String, V>,
    order: VecDeque<String>,
}

impl<V: Default> Bounded<V> {
    fn new() -> Self {
        Self { map: HashMap::new(), order: VecDeque::new() }
    }

    /// Returns `key`'s value, adding a default one (and dropping the oldest key past the cap).
    fn entry(&mut self, key: &str) -> &mut V {
        if !self.map.contains_key(key) {
            self.order.push_back(key.to_owned());
            if self.order.len() > KEEP_KEYS
                && let Some(old) = self.order.pop_front()
            {
                self.map.remove(&old);
            }
        }
        self.map.entry(key.to_owned()).or_default()
    }
}

impl Metrics {
    pub(crate) fn new() -> Self {
        Self {
            started: Instant::now(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            lookups: AtomicU64::new(0),
            created: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            retired: AtomicU64::new(0),
            recent: Mutex::new(VecDeque::new()),
            archive: Mutex::new(Bounded::new()),
            ephemeral: Mutex::new(Bounded::new()),
        }
    }

    pub(crate) fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a request's time to response head.
    pub(crate) fn record_duration(&self, took: Duration) {
        let mut r = self.recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if r.len() == RECENT {
            r.pop_front();
        }
        r.push_back(took.as_secs_f64() * 1000.0);
    }

    /// Adds a stopped worker's counters to its key's archive.
    pub(crate) fn archive(&self, key: &str, requests: u64, errors: u64, response: Duration, last: Option<Duration>) {
        let mut archive = self.archive.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let t = archive.entry(key);
        t.requests += requests;
        t.errors += errors;
        t.response += response;
        t.last_requests = Some(requests);
        t.last_response = last.or(t.last_response);
    }

    /// Records an ephemeral request; `new_session` resets the key's session counters (a document
    /// navigation, or no `Sec-Fetch-Dest`).
    pub(crate) fn record_ephemeral(&self, key: &str, took: Duration, failed: bool, new_session: bool) {
        let mut ephemeral = self.ephemeral.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let e = ephemeral.entry(key);
        if new_session {
            *e = Ephemeral::default();
        }
        e.requests += 1;
        e.errors += u64::from(failed);
        e.response += took;
        e.last = took;
    }

    /// `getMetrics()`, typed.
    pub(crate) fn snapshot(&self, active: usize, pool_size: usize, gate: (usize, usize, usize), memory_bytes: u64) -> PoolMetrics {
        let hits = self.hits.load(Ordering::Relaxed);
        let misses = self.misses.load(Ordering::Relaxed);
        let lookups = self.lookups.load(Ordering::Relaxed);
        let uptime = self.started.elapsed();
        let avg = {
            let r = self.recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if r.is_empty() { 0.0 } else { r.iter().sum::<f64>() / r.len() as f64 }
        };
        let hit_rate = if hits + misses == 0 { 0.0 } else { hits as f64 * 100.0 / (hits + misses) as f64 };
        let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        PoolMetrics {
            active_workers: count(active.min(pool_size)),
            avg_response_time_ms: round2(avg),
            ephemeral_concurrency: count(gate.0),
            ephemeral_queue_depth: count(gate.1),
            ephemeral_queue_limit: count(gate.2),
            evictions: self.evictions.load(Ordering::Relaxed),
            hit_rate: round2(hit_rate),
            hits,
            memory_usage_mb: round2(memory_bytes as f64 / (1024.0 * 1024.0)),
            misses,
            requests_per_second: round2(lookups as f64 / uptime.as_secs_f64().max(0.001)),
            total_requests: lookups,
            total_workers_created: self.created.load(Ordering::Relaxed),
            total_workers_failed: self.failed.load(Ordering::Relaxed),
            total_workers_retired: self.retired.load(Ordering::Relaxed),
            uptime_ms: u64::try_from(uptime.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// `getWorkerStats()`, typed: archived keys, then ephemeral keys, then live workers, a later
    /// layer replacing an earlier one's entry in place and adding the key's archived totals.
    /// Built under the two per-key locks (numbers and key copies only, no JSON), which are
    /// always taken archive first.
    pub(crate) fn worker_stat_list(&self, live: &[LiveStats]) -> Vec<WorkerStat> {
        let archive = self.archive.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let ephemeral = self.ephemeral.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out: Vec<WorkerStat> = Vec::with_capacity(archive.map.len() + ephemeral.map.len() + live.len());
        // Where each key's entry is, so a later layer replaces it (the JSON object's order).
        let mut at: HashMap<&str, usize> = HashMap::with_capacity(out.capacity());
        for (key, a) in &archive.map {
            put(&mut out, &mut at, key, stat(key, Layer { requests: 0, errors: 0, total: Duration::ZERO, status: WorkerStatus::Offline, age: Duration::ZERO, idle: Duration::ZERO }, Some(a)));
        }
        for (key, e) in &ephemeral.map {
            let layer = Layer { requests: e.requests, errors: e.errors, total: e.response, status: WorkerStatus::Ephemeral, age: e.last, idle: Duration::ZERO };
            put(&mut out, &mut at, key, stat(key, layer, archive.map.get(key)));
        }
        for w in live {
            let status = if w.idle >= w.idle_after { WorkerStatus::Idle } else { WorkerStatus::Active };
            let layer = Layer { requests: w.requests, errors: w.errors, total: w.response, status, age: w.age, idle: w.idle };
            let mut s = stat(&w.key, layer, archive.map.get(&w.key));
            if let Some(d) = w.last_response {
                s.last_response_time_ms = Some(ms(d));
            }
            put(&mut out, &mut at, &w.key, s);
        }
        out
    }
}

/// Adds `stat` for `key`, or replaces the entry `key` already has in place.
fn put<'k>(out: &mut Vec<WorkerStat>, at: &mut HashMap<&'k str, usize>, key: &'k str, stat: WorkerStat) {
    match at.get(key) {
        Some(&i) => out[i] = stat,
        None => {
            at.insert(key, out.len());
            out.push(stat);
        }
    }
}

/// One layer's own numbers for a key, before its archived totals are added.
struct Layer {
    requests: u64,
    errors: u64,
    total: Duration,
    status: WorkerStatus,
    age: Duration,
    idle: Duration,
}

/// A key's entry: `layer` plus the archived totals of its stopped workers.
fn stat(key: &str, layer: Layer, arch: Option<&Totals>) -> WorkerStat {
    let requests_all = layer.requests + arch.map_or(0, |a| a.requests);
    let errors_all = layer.errors + arch.map_or(0, |a| a.errors);
    let total_all = layer.total + arch.map_or(Duration::ZERO, |a| a.response);
    let avg = if requests_all == 0 { 0.0 } else { ms(total_all) / requests_all as f64 };
    WorkerStat {
        key: key.to_owned(),
        status: layer.status,
        age_ms: ms(layer.age),
        avg_response_time_ms: round2(avg),
        error_count: errors_all,
        idle_ms: ms(layer.idle),
        request_count: requests_all,
        total_response_time_ms: ms(total_all),
        last_request_count: arch.and_then(|a| a.last_requests),
        last_response_time_ms: arch.and_then(|a| a.last_response).map(ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use buntime_core::pool_stats::worker_stats_json;
    use serde_json::{Map, Value, json};

    /// `getWorkerStats()` as it was built before the typed snapshot (cloned maps, JSON per key),
    /// kept as the oracle the typed path must match byte for byte.
    fn worker_stats_before(m: &Metrics, live: &[LiveStats]) -> Value {
        let archive = m.archive.lock().unwrap().map.clone();
        let ephemeral = m.ephemeral.lock().unwrap().map.clone();
        let mut out = Map::new();
        let stat = |requests: u64, errors: u64, total: Duration, status: &str, age: Duration, idle: Duration, arch: Option<&Totals>| {
            let requests_all = requests + arch.map_or(0, |a| a.requests);
            let errors_all = errors + arch.map_or(0, |a| a.errors);
            let total_all = total + arch.map_or(Duration::ZERO, |a| a.response);
            let avg = if requests_all == 0 { 0.0 } else { ms(total_all) / requests_all as f64 };
            let mut v = json!({
                "ageMs": ms(age),
                "avgResponseTimeMs": round2(avg),
                "errorCount": errors_all,
                "idleMs": ms(idle),
                "requestCount": requests_all,
                "status": status,
                "totalResponseTimeMs": ms(total_all),
            });
            if let Some(a) = arch {
                if let Some(n) = a.last_requests {
                    v["lastRequestCount"] = json!(n);
                }
                if let Some(d) = a.last_response {
                    v["lastResponseTimeMs"] = json!(ms(d));
                }
            }
            v
        };
        for (key, a) in &archive {
            out.insert(key.clone(), stat(0, 0, Duration::ZERO, "offline", Duration::ZERO, Duration::ZERO, Some(a)));
        }
        for (key, e) in &ephemeral {
            out.insert(key.clone(), stat(e.requests, e.errors, e.response, "ephemeral", e.last, Duration::ZERO, archive.get(key)));
        }
        for w in live {
            let status = if w.idle >= w.idle_after { "idle" } else { "active" };
            let mut v = stat(w.requests, w.errors, w.response, status, w.age, w.idle, archive.get(&w.key));
            if let Some(d) = w.last_response {
                v["lastResponseTimeMs"] = json!(ms(d));
            }
            out.insert(w.key.clone(), v);
        }
        Value::Object(out)
    }

    fn live(key: &str, idle: Duration, requests: u64, last_response: Option<Duration>) -> LiveStats {
        LiveStats {
            key: key.into(),
            age: Duration::from_millis(1234),
            idle,
            idle_after: Duration::from_secs(60),
            requests,
            errors: 1,
            response: Duration::from_micros(20_317),
            last_response,
        }
    }

    #[test]
    fn the_typed_worker_stats_serialise_exactly_as_the_json_built_before() {
        let m = Metrics::new();
        for i in 0..40 {
            m.archive(&format!("app{i}@1.0.0"), i, i % 3, Duration::from_micros(1_003 * i), (i % 2 == 0).then(|| Duration::from_micros(777 * i)));
        }
        for i in 30..60 {
            m.record_ephemeral(&format!("app{i}@1.0.0"), Duration::from_micros(3_141 * i), i % 5 == 0, true);
            m.record_ephemeral(&format!("app{i}@1.0.0"), Duration::from_micros(2_718), false, false);
        }
        let live = [
            live("app5@1.0.0", Duration::from_millis(5), 3, Some(Duration::from_micros(4_321))),
            live("app35@1.0.0", Duration::from_secs(61), 2, None),
            live("fresh@2.0.0", Duration::ZERO, 0, None),
            live("fresh@2.0.0", Duration::from_millis(9), 4, Some(Duration::from_millis(2))),
            live("app\"q@1", Duration::ZERO, 1, None),
        ];
        let typed = m.worker_stat_list(&live);
        assert_eq!(typed.len(), 62, "40 archived + 20 ephemeral-only + 2 live-only keys (`fresh` twice)");
        assert_eq!(worker_stats_json(&typed).to_string(), worker_stats_before(&m, &live).to_string());
    }

    #[test]
    fn metrics_count_hits_and_round_to_two_decimals() {
        let m = Metrics::new();
        Metrics::inc(&m.hits);
        Metrics::inc(&m.hits);
        Metrics::inc(&m.misses);
        m.record_duration(Duration::from_micros(1234));
        let v = m.snapshot(3, 2, (2, 0, 100), 3 * 1024 * 1024).to_json();
        assert_eq!(v["activeWorkers"], 2);
        assert_eq!(v["hitRate"], 66.67);
        assert_eq!(v["avgResponseTimeMs"], 1.23);
        assert_eq!(v["memoryUsageMB"], 3.0);
        assert_eq!(v["ephemeralQueueLimit"], 100);
    }

    #[test]
    fn the_archive_keeps_the_newest_keys_and_drops_the_oldest_first() {
        let m = Metrics::new();
        for i in 0..=KEEP_KEYS {
            m.archive(&format!("app{i}@1"), 1, 0, Duration::ZERO, None);
        }
        m.archive("app1@1", 1, 0, Duration::ZERO, None);
        let archive = m.archive.lock().unwrap();
        assert_eq!(archive.map.len(), KEEP_KEYS);
        assert!(!archive.map.contains_key("app0@1"), "the oldest key went first");
        assert_eq!(archive.map["app1@1"].requests, 2, "an existing key is updated, not re-added");
    }

    #[test]
    fn worker_stats_layer_archive_ephemeral_and_live() {
        let m = Metrics::new();
        m.archive("old@1", 5, 1, Duration::from_millis(50), None);
        m.archive("live@1", 3, 0, Duration::from_millis(30), None);
        m.record_ephemeral("eph@1", Duration::from_millis(7), false, true);
        m.record_ephemeral("eph@1", Duration::from_millis(9), false, false);
        let live = [LiveStats {
            key: "live@1".into(),
            age: Duration::from_secs(1),
            idle: Duration::ZERO,
            idle_after: Duration::from_secs(60),
            requests: 2,
            errors: 0,
            response: Duration::from_millis(20),
            last_response: None,
        }];
        let v = buntime_core::pool_stats::worker_stats_json(&m.worker_stat_list(&live));
        assert_eq!(v["old@1"]["status"], "offline");
        assert_eq!(v["old@1"]["requestCount"], 5);
        assert_eq!(v["eph@1"]["status"], "ephemeral");
        assert_eq!(v["eph@1"]["requestCount"], 2);
        assert_eq!(v["eph@1"]["ageMs"], 9.0);
        assert_eq!(v["live@1"]["status"], "active");
        assert_eq!(v["live@1"]["requestCount"], 5);
        assert_eq!(v["live@1"]["lastRequestCount"], 3);
    }
}
