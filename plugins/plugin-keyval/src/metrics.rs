//! Operation metrics (§A.11): per-operation counts, errors, latency sums and histograms, rendered as
//! JSON and in the Prometheus text format; optionally flushed into `kv_metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::{Value, json};

/// Histogram bucket upper bounds, in milliseconds (`+Inf` is implied).
pub const BUCKETS_MS: [f64; 11] = [
    1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0,
];

/// The counters of one operation. Latencies are kept in microseconds.
#[derive(Debug, Default)]
pub struct OpStats {
    count: AtomicU64,
    errors: AtomicU64,
    latency_us: AtomicU64,
    buckets: [AtomicU64; BUCKETS_MS.len()],
}

/// A point-in-time copy of one operation's counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpSnapshot {
    /// Operations run.
    pub count: u64,
    /// Operations that failed.
    pub errors: u64,
    /// Total latency in milliseconds.
    pub latency_sum_ms: f64,
    /// Cumulative counts per bucket of [`BUCKETS_MS`].
    pub buckets: Vec<u64>,
}

/// Every operation's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    ops: RwLock<BTreeMap<String, Arc<OpStats>>>,
}

impl Metrics {
    /// Records one operation: its name (`get`, `set`, `queue_ack`, …), how long it took and
    /// whether it succeeded.
    pub fn record(&self, op: &str, elapsed: Duration, ok: bool) {
        let stats = self.stats(op);
        stats.count.fetch_add(1, Ordering::Relaxed);
        if !ok {
            stats.errors.fetch_add(1, Ordering::Relaxed);
        }
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        stats.latency_us.fetch_add(us, Ordering::Relaxed);
        let ms = elapsed.as_secs_f64() * 1000.0;
        if let Some(i) = BUCKETS_MS.iter().position(|b| ms <= *b) {
            stats.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    fn stats(&self, op: &str) -> Arc<OpStats> {
        if let Some(s) = self
            .ops
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(op)
        {
            return s.clone();
        }
        let mut map = self
            .ops
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry(op.to_owned()).or_default().clone()
    }

    /// Returns every operation's counters, by name.
    pub fn snapshot(&self) -> BTreeMap<String, OpSnapshot> {
        let map = self
            .ops
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.iter()
            .map(|(name, s)| {
                let mut cumulative = 0;
                let buckets = s
                    .buckets
                    .iter()
                    .map(|b| {
                        cumulative += b.load(Ordering::Relaxed);
                        cumulative
                    })
                    .collect();
                let snap = OpSnapshot {
                    count: s.count.load(Ordering::Relaxed),
                    errors: s.errors.load(Ordering::Relaxed),
                    latency_sum_ms: s.latency_us.load(Ordering::Relaxed) as f64 / 1000.0,
                    buckets,
                };
                (name.clone(), snap)
            })
            .collect()
    }

    /// Returns `{operations:{op:{count,errors,avgLatencyMs}}, totals:{errors,operations}}`.
    pub fn to_json(&self) -> Value {
        let snap = self.snapshot();
        let mut ops = serde_json::Map::new();
        let (mut total, mut errors) = (0, 0);
        for (name, s) in &snap {
            total += s.count;
            errors += s.errors;
            let avg = if s.count == 0 {
                0.0
            } else {
                s.latency_sum_ms / s.count as f64
            };
            ops.insert(name.clone(), json!({"count": s.count, "errors": s.errors, "avgLatencyMs": (avg * 1000.0).round() / 1000.0}));
        }
        json!({"operations": ops, "totals": {"errors": errors, "operations": total}})
    }

    /// Renders the counters and the given gauges in the Prometheus text format (version 0.0.4).
    pub fn to_prometheus(&self, gauges: &[(&str, &str, f64)]) -> String {
        let snap = self.snapshot();
        let mut out = String::new();
        out.push_str("# HELP keyval_operations_total Total KeyVal operations.\n# TYPE keyval_operations_total counter\n");
        for (name, s) in &snap {
            let _ = writeln!(
                out,
                "keyval_operations_total{{operation=\"{name}\"}} {}",
                s.count
            );
        }
        out.push_str("# HELP keyval_errors_total Failed KeyVal operations.\n# TYPE keyval_errors_total counter\n");
        for (name, s) in &snap {
            let _ = writeln!(
                out,
                "keyval_errors_total{{operation=\"{name}\"}} {}",
                s.errors
            );
        }
        out.push_str("# HELP keyval_operation_duration_ms KeyVal operation latency in milliseconds.\n# TYPE keyval_operation_duration_ms histogram\n");
        for (name, s) in &snap {
            for (le, n) in BUCKETS_MS.iter().zip(&s.buckets) {
                let _ = writeln!(
                    out,
                    "keyval_operation_duration_ms_bucket{{operation=\"{name}\",le=\"{le}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "keyval_operation_duration_ms_bucket{{operation=\"{name}\",le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "keyval_operation_duration_ms_sum{{operation=\"{name}\"}} {}",
                s.latency_sum_ms
            );
            let _ = writeln!(
                out,
                "keyval_operation_duration_ms_count{{operation=\"{name}\"}} {}",
                s.count
            );
        }
        for (name, help, v) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        out
    }
}

/// What was last written to `kv_metrics`, so each flush adds only the difference.
pub type Flushed = tokio::sync::Mutex<BTreeMap<String, OpSnapshot>>;

/// Adds the counters accumulated since the previous flush to `kv_metrics` (one row per operation).
///
/// # Errors
/// The database failed (the deltas are kept for the next flush).
pub async fn flush(kv: &crate::store::Kv, flushed: &Flushed) -> Result<(), crate::error::KvError> {
    use buntime_plugin_database::{Statement, Value as Sql};
    let mut last = flushed.lock().await;
    let now = kv.metrics().snapshot();
    let mut stmts = Vec::new();
    for (op, s) in &now {
        let before = last.get(op).cloned().unwrap_or_default();
        let (count, errors) = (s.count - before.count, s.errors - before.errors);
        if count == 0 && errors == 0 {
            continue;
        }
        let latency = s.latency_sum_ms - before.latency_sum_ms;
        stmts.push(Statement {
            want_rows: false,
            ..Statement::with_args(
                "INSERT INTO kv_metrics (id, operation, count, errors, latency_sum, updated_at) VALUES (?, ?, ?, ?, ?, ?) \
                 ON CONFLICT(operation) DO UPDATE SET count = kv_metrics.count + excluded.count, errors = kv_metrics.errors + excluded.errors, \
                 latency_sum = kv_metrics.latency_sum + excluded.latency_sum, updated_at = excluded.updated_at",
                [
                    Sql::Text(op.clone()),
                    Sql::Text(op.clone()),
                    Sql::Integer(i64::try_from(count).unwrap_or(i64::MAX)),
                    Sql::Integer(i64::try_from(errors).unwrap_or(i64::MAX)),
                    Sql::Float(latency),
                    Sql::Integer(crate::value::now_ms()),
                ],
            )
        });
    }
    if !stmts.is_empty() {
        kv.transaction(stmts).await?;
    }
    *last = now;
    Ok(())
}

/// Flushes every `interval` until aborted.
pub fn spawn_flusher(
    kv: crate::store::Kv,
    flushed: std::sync::Arc<Flushed>,
    interval: Duration,
    logger: buntime_core::PluginLogger,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        loop {
            tick.tick().await;
            if let Err(e) = flush(&kv, &flushed).await {
                logger.warn(format!("metrics flush failed: {e}"));
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_counts_errors_and_cumulative_buckets() {
        let m = Metrics::default();
        m.record("get", Duration::from_micros(500), true);
        m.record("get", Duration::from_millis(7), false);
        m.record("get", Duration::from_secs(10), true);
        let s = &m.snapshot()["get"];
        assert_eq!((s.count, s.errors), (3, 1));
        assert_eq!(&s.buckets[..3], &[1, 1, 2], "≤1 ms, ≤5 ms, ≤10 ms");
        assert_eq!(s.buckets[10], 2, "10 s is only in +Inf");
        assert_eq!(m.to_json()["totals"], json!({"errors": 1, "operations": 3}));
        let text = m.to_prometheus(&[("keyval_entries_total", "Entries.", 4.0)]);
        assert!(
            text.contains("keyval_operations_total{operation=\"get\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("keyval_operation_duration_ms_bucket{operation=\"get\",le=\"+Inf\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE keyval_entries_total gauge\nkeyval_entries_total 4"),
            "{text}"
        );
    }
}
