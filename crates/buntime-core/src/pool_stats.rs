//! The worker pool's numbers as plain structs (`PoolView`'s snapshots), and their JSON shapes.
//!
//! The pool builds these under its locks without JSON; `getMetrics()`/`getWorkerStats()` (the
//! REST API, JS plugins) serialise them with [`PoolMetrics::to_json`] and [`worker_stats_json`],
//! and the Prometheus writer reads their fields directly.

use serde_json::{Map, Value, json};

/// `getMetrics()`, typed. Times are in milliseconds and memory in MiB, as in the JSON.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PoolMetrics {
    /// Warm workers alive now (at most the pool size).
    pub active_workers: u64,
    /// Average time to response head of the last 100 pool requests.
    pub avg_response_time_ms: f64,
    /// Ephemeral requests allowed to run at once.
    pub ephemeral_concurrency: u64,
    /// Ephemeral requests waiting now.
    pub ephemeral_queue_depth: u64,
    /// Ephemeral requests allowed to wait.
    pub ephemeral_queue_limit: u64,
    /// Warm workers evicted to make room.
    pub evictions: u64,
    /// Percentage of lookups served by a live worker.
    pub hit_rate: f64,
    /// Lookups served by a live worker.
    pub hits: u64,
    /// Resident memory of the runtime and its worker hosts.
    pub memory_usage_mb: f64,
    /// Lookups that had to start a worker.
    pub misses: u64,
    /// Requests per second, averaged since start.
    pub requests_per_second: f64,
    /// Requests since start.
    pub total_requests: u64,
    /// Workers started.
    pub total_workers_created: u64,
    /// Workers that failed to start or crashed.
    pub total_workers_failed: u64,
    /// Workers stopped.
    pub total_workers_retired: u64,
    /// Time since the pool started.
    pub uptime_ms: u64,
}

impl PoolMetrics {
    /// The `getMetrics()` object (keys in this order; a non-finite number becomes `null`).
    #[must_use]
    pub fn to_json(&self) -> Value {
        json!({
            "activeWorkers": self.active_workers,
            "avgResponseTimeMs": self.avg_response_time_ms,
            "ephemeralConcurrency": self.ephemeral_concurrency,
            "ephemeralQueueDepth": self.ephemeral_queue_depth,
            "ephemeralQueueLimit": self.ephemeral_queue_limit,
            "evictions": self.evictions,
            "hitRate": self.hit_rate,
            "hits": self.hits,
            "memoryUsageMB": self.memory_usage_mb,
            "misses": self.misses,
            "requestsPerSecond": self.requests_per_second,
            "totalRequests": self.total_requests,
            "totalWorkersCreated": self.total_workers_created,
            "totalWorkersFailed": self.total_workers_failed,
            "totalWorkersRetired": self.total_workers_retired,
            "uptimeMs": self.uptime_ms,
        })
    }
}

/// What a key's workers are doing, as `getWorkerStats()` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerStatus {
    /// A live worker inside its idle window.
    Active,
    /// A live worker past its idle timeout.
    Idle,
    /// A `ttl: 0` app: no worker is kept between requests.
    Ephemeral,
    /// No worker now; the numbers are those of workers that are gone.
    Offline,
}

impl WorkerStatus {
    /// The JSON `status` string.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Idle => "idle",
            Self::Ephemeral => "ephemeral",
            Self::Offline => "offline",
        }
    }
}

/// One app key's entry of `getWorkerStats()`, typed (times in milliseconds).
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerStat {
    /// The app key, `name@version`.
    pub key: String,
    /// `status`.
    pub status: WorkerStatus,
    /// `ageMs`: the live worker's age, or an ephemeral key's last request time.
    pub age_ms: f64,
    /// `avgResponseTimeMs`, over every request the key served.
    pub avg_response_time_ms: f64,
    /// `errorCount`.
    pub error_count: u64,
    /// `idleMs`.
    pub idle_ms: f64,
    /// `requestCount`.
    pub request_count: u64,
    /// `totalResponseTimeMs`.
    pub total_response_time_ms: f64,
    /// `lastRequestCount`: requests of the last worker that stopped, when one did.
    pub last_request_count: Option<u64>,
    /// `lastResponseTimeMs`, when known.
    pub last_response_time_ms: Option<f64>,
}

impl WorkerStat {
    /// The entry's JSON object (the optional keys last, only when known).
    #[must_use]
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "ageMs": self.age_ms,
            "avgResponseTimeMs": self.avg_response_time_ms,
            "errorCount": self.error_count,
            "idleMs": self.idle_ms,
            "requestCount": self.request_count,
            "status": self.status.as_str(),
            "totalResponseTimeMs": self.total_response_time_ms,
        });
        if let Some(n) = self.last_request_count {
            v["lastRequestCount"] = json!(n);
        }
        if let Some(d) = self.last_response_time_ms {
            v["lastResponseTimeMs"] = json!(d);
        }
        v
    }
}

/// The `getWorkerStats()` object: one entry per key, in `stats`' order.
#[must_use]
pub fn worker_stats_json(stats: &[WorkerStat]) -> Value {
    let mut out = Map::new();
    for s in stats {
        out.insert(s.key.clone(), s.to_json());
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_stat_serialises_with_the_optional_keys_only_when_known() {
        let mut s = WorkerStat {
            key: "a@1".into(),
            status: WorkerStatus::Offline,
            age_ms: 0.0,
            avg_response_time_ms: 2.5,
            error_count: 1,
            idle_ms: 0.0,
            request_count: 4,
            total_response_time_ms: 10.0,
            last_request_count: None,
            last_response_time_ms: None,
        };
        assert_eq!(
            s.to_json().to_string(),
            r#"{"ageMs":0.0,"avgResponseTimeMs":2.5,"errorCount":1,"idleMs":0.0,"requestCount":4,"status":"offline","totalResponseTimeMs":10.0}"#
        );
        s.last_request_count = Some(3);
        s.last_response_time_ms = Some(1.25);
        let v = worker_stats_json(&[s]);
        assert_eq!(v["a@1"]["lastRequestCount"], 3);
        assert_eq!(v["a@1"]["lastResponseTimeMs"], 1.25);
    }
}
