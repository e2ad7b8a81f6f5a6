//! The Prometheus text exposition: the pool's numeric fields as `buntime_<snake_case>` gauges
//! (the original's names, except that milliseconds and MiB become base units: `_seconds`,
//! `_bytes`), per-app worker gauges, then the runtime's own metrics.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use buntime_core::app::PoolView;
use buntime_core::metrics::{RuntimeMetrics, escape_label};
use buntime_core::pool_stats::{PoolMetrics, WorkerStat};
use serde_json::Value;

/// The `Content-Type` of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Turns a camelCase JSON key into snake_case, keeping acronyms together
/// (`avgResponseTimeMs` → `avg_response_time_ms`, `memoryUsageMB` → `memory_usage_mb`).
pub fn snake_case(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    let mut out = String::with_capacity(key.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(char::is_ascii_lowercase);
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push('_');
            }
        }
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else {
            out.push('_');
        }
    }
    out
}

/// A gauge's name, and the factor its value is scaled by, for a JSON field: `buntime_<prefix><snake_case>`, with a field in
/// milliseconds (`…Ms`) or MiB (`…MB`) converted to seconds or bytes, since Prometheus names carry
/// base units (promtool rejects abbreviated ones), and a `…Count` field plural (`_count` is a
/// histogram's).
fn gauge(prefix: &str, key: &str) -> (String, Option<f64>) {
    if let Some(stem) = key.strip_suffix("Ms") {
        (
            format!("buntime_{prefix}{}_seconds", snake_case(stem)),
            Some(0.001),
        )
    } else if let Some(stem) = key.strip_suffix("MB") {
        (
            format!("buntime_{prefix}{}_bytes", snake_case(stem)),
            Some(1024.0 * 1024.0),
        )
    } else if let Some(stem) = key.strip_suffix("Count").filter(|s| !s.is_empty()) {
        // `_count` is reserved for histograms and summaries: `requestCount` → `requests`.
        (format!("buntime_{prefix}{}s", snake_case(stem)), None)
    } else {
        (format!("buntime_{prefix}{}", snake_case(key)), None)
    }
}

/// Writes `n`, scaled by `factor` when the name converted its unit.
fn write_value(out: &mut String, n: &serde_json::Number, factor: Option<f64>) {
    let _ = match factor {
        Some(f) => writeln!(out, "{}", n.as_f64().map_or(0.0, |v| v * f)),
        None => writeln!(out, "{n}"),
    };
}

/// What the pool's fields mean, for `# HELP` (fields not listed get a generic line).
fn pool_help(key: &str) -> &'static str {
    match key {
        "activeWorkers" => "Warm workers alive now.",
        "avgResponseTimeMs" => {
            "Average time to response head of the last 100 pool requests, in seconds."
        }
        "ephemeralConcurrency" => "Ephemeral (ttl 0) requests allowed to run at once.",
        "ephemeralQueueDepth" => "Ephemeral requests waiting now.",
        "ephemeralQueueLimit" => "Ephemeral requests allowed to wait.",
        "evictions" => "Warm workers evicted to make room (since start).",
        "hitRate" => "Percentage of pool lookups served by a live worker.",
        "hits" => "Pool lookups served by a live worker (since start).",
        "memoryUsageMB" => "Resident memory of the worker hosts, in bytes.",
        "misses" => "Pool lookups that had to start a worker (since start).",
        "requestsPerSecond" => "Pool requests per second, averaged since start.",
        "totalRequests" => "Pool requests (since start).",
        "totalWorkersCreated" => "Workers started (since start).",
        "totalWorkersFailed" => "Workers that failed to start or crashed (since start).",
        "totalWorkersRetired" => "Workers stopped (since start).",
        "uptimeMs" => "Time since the pool started, in seconds.",
        _ => "Worker pool metric (see docs/metrics.md).",
    }
}

/// Appends the pool's numeric fields as gauges; non-numeric fields are skipped.
pub fn render_pool(out: &mut String, metrics: &Value) {
    let Some(fields) = metrics.as_object() else {
        return;
    };
    for (key, value) in fields {
        let Value::Number(n) = value else {
            continue;
        };
        let (name, factor) = gauge("", key);
        let _ = writeln!(out, "# HELP {name} {}", pool_help(key));
        let _ = write!(out, "# TYPE {name} gauge\n{name} ");
        write_value(out, n, factor);
    }
}

/// Appends each worker statistic as one gauge family `buntime_worker_<field>` with an `app`
/// label per app key (families must be contiguous, so samples are grouped by field first).
pub fn render_workers(out: &mut String, stats: &Value) {
    let Some(apps) = stats.as_object() else {
        return;
    };
    // Grouped by field without copying: one name per family, values written as they are.
    let mut families: BTreeMap<&str, Vec<(&str, &serde_json::Number)>> = BTreeMap::new();
    for (app, stat) in apps {
        let Some(fields) = stat.as_object() else {
            continue;
        };
        for (key, value) in fields {
            if let Value::Number(n) = value {
                families
                    .entry(key.as_str())
                    .or_default()
                    .push((app.as_str(), n));
            }
        }
    }
    for (key, samples) in families {
        let (name, factor) = gauge("worker_", key);
        let _ = writeln!(
            out,
            "# HELP {name} Per-app worker statistic `{key}` of GET /metrics/api/stats."
        );
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (app, n) in samples {
            let _ = write!(out, "{name}{{app=\"{}\"}} ", escape_label(app));
            write_value(out, n, factor);
        }
    }
}

/// A sample's value, as the JSON views would hold it.
#[derive(Clone, Copy)]
enum Sample {
    Int(u64),
    Float(f64),
}

/// Writes `v` exactly as [`write_value`] writes the JSON number it would become; a non-finite
/// float (JSON `null`) writes nothing and answers `false`.
fn write_sample(out: &mut String, v: Sample, factor: Option<f64>) -> bool {
    let n = match v {
        Sample::Int(i) => serde_json::Number::from(i),
        Sample::Float(f) => match serde_json::Number::from_f64(f) {
            Some(n) => n,
            None => return false,
        },
    };
    write_value(out, &n, factor);
    true
}

/// Appends one typed pool field as a gauge (named from its JSON key, like [`render_pool`]).
fn pool_gauge(out: &mut String, key: &str, v: Sample) {
    if let Sample::Float(f) = v
        && !f.is_finite()
    {
        return;
    }
    let (name, factor) = gauge("", key);
    let _ = writeln!(out, "# HELP {name} {}", pool_help(key));
    let _ = write!(out, "# TYPE {name} gauge\n{name} ");
    write_sample(out, v, factor);
}

/// Appends the typed pool counters: the same lines [`render_pool`] writes for their JSON.
pub fn write_pool(out: &mut String, m: &PoolMetrics) {
    use Sample::{Float, Int};
    pool_gauge(out, "activeWorkers", Int(m.active_workers));
    pool_gauge(out, "avgResponseTimeMs", Float(m.avg_response_time_ms));
    pool_gauge(out, "ephemeralConcurrency", Int(m.ephemeral_concurrency));
    pool_gauge(out, "ephemeralQueueDepth", Int(m.ephemeral_queue_depth));
    pool_gauge(out, "ephemeralQueueLimit", Int(m.ephemeral_queue_limit));
    pool_gauge(out, "evictions", Int(m.evictions));
    pool_gauge(out, "hitRate", Float(m.hit_rate));
    pool_gauge(out, "hits", Int(m.hits));
    pool_gauge(out, "memoryUsageMB", Float(m.memory_usage_mb));
    pool_gauge(out, "misses", Int(m.misses));
    pool_gauge(out, "requestsPerSecond", Float(m.requests_per_second));
    pool_gauge(out, "totalRequests", Int(m.total_requests));
    pool_gauge(out, "totalWorkersCreated", Int(m.total_workers_created));
    pool_gauge(out, "totalWorkersFailed", Int(m.total_workers_failed));
    pool_gauge(out, "totalWorkersRetired", Int(m.total_workers_retired));
    pool_gauge(out, "uptimeMs", Int(m.uptime_ms));
}

/// Reads one field of a typed worker entry (`None`: the entry has no value for it).
type ReadField = fn(&WorkerStat) -> Option<Sample>;

/// The worker fields that are numbers, by JSON key in sorted order (the families' order in
/// [`render_workers`]), with how to read each from a typed entry.
const WORKER_FIELDS: [(&str, ReadField); 8] = [
    ("ageMs", |s| Some(Sample::Float(s.age_ms))),
    ("avgResponseTimeMs", |s| {
        Some(Sample::Float(s.avg_response_time_ms))
    }),
    ("errorCount", |s| Some(Sample::Int(s.error_count))),
    ("idleMs", |s| Some(Sample::Float(s.idle_ms))),
    ("lastRequestCount", |s| {
        s.last_request_count.map(Sample::Int)
    }),
    ("lastResponseTimeMs", |s| {
        s.last_response_time_ms.map(Sample::Float)
    }),
    ("requestCount", |s| Some(Sample::Int(s.request_count))),
    ("totalResponseTimeMs", |s| {
        Some(Sample::Float(s.total_response_time_ms))
    }),
];

/// Appends the typed worker statistics: the same lines [`render_workers`] writes for their
/// JSON (one family per field, a family only when some app has a value for it).
pub fn write_workers(out: &mut String, stats: &[WorkerStat]) {
    for (key, read) in WORKER_FIELDS {
        let (name, factor) = gauge("worker_", key);
        let mut header = false;
        for s in stats {
            let Some(v) = read(s) else { continue };
            if let Sample::Float(f) = v
                && !f.is_finite()
            {
                continue;
            }
            if !header {
                header = true;
                let _ = writeln!(
                    out,
                    "# HELP {name} Per-app worker statistic `{key}` of GET /metrics/api/stats."
                );
                let _ = writeln!(out, "# TYPE {name} gauge");
            }
            let _ = write!(out, "{name}{{app=\"{}\"}} ", escape_label(&s.key));
            write_sample(out, v, factor);
        }
    }
}

/// Bytes per worker entry in the exposition (8 samples of about 60 bytes), to size the buffer.
const BYTES_PER_APP: usize = 512;

/// Renders the whole exposition: pool (when there is one), workers, runtime. The pool's numbers
/// are typed snapshots (its locks are released before any formatting) written straight into
/// one buffer.
pub fn render(pool: Option<&dyn PoolView>, runtime: &RuntimeMetrics) -> String {
    match pool {
        Some(p) => {
            let metrics = p.pool_metrics();
            let stats = p.worker_stat_list();
            let mut out = String::with_capacity(16 * 1024 + stats.len() * BYTES_PER_APP);
            write_pool(&mut out, &metrics);
            write_workers(&mut out, &stats);
            runtime.render(&mut out);
            out
        }
        None => {
            let mut out = String::with_capacity(16 * 1024);
            out.push_str("# The worker pool is not running (no Bun): no buntime_* pool gauges.\n");
            runtime.render(&mut out);
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use buntime_core::pool_stats::WorkerStatus;
    use serde_json::json;

    #[test]
    fn camel_case_becomes_snake_case() {
        for (from, to) in [
            ("activeWorkers", "active_workers"),
            ("avgResponseTimeMs", "avg_response_time_ms"),
            ("memoryUsageMB", "memory_usage_mb"),
            ("hitRate", "hit_rate"),
            ("hits", "hits"),
            ("totalWorkersCreated", "total_workers_created"),
            ("HTTPStatus2xx", "http_status2xx"),
        ] {
            assert_eq!(snake_case(from), to);
        }
    }

    #[test]
    fn pool_gauges_skip_non_numeric_fields_and_keep_any_number() {
        let mut out = String::new();
        render_pool(
            &mut out,
            &json!({"hits": 0, "note": "x", "ok": true, "delta": -3, "big": 18446744073709551615u64, "hitRate": 66.67, "uptimeMs": 1500, "memoryUsageMB": 2.5}),
        );
        assert!(
            out.contains("# TYPE buntime_hits gauge\nbuntime_hits 0\n"),
            "{out}"
        );
        assert!(out.contains("buntime_delta -3\n"));
        assert!(out.contains("buntime_big 18446744073709551615\n"));
        assert!(out.contains("buntime_hit_rate 66.67\n"));
        assert!(
            !out.contains("note") && !out.contains("buntime_ok"),
            "{out}"
        );
        assert!(out.contains("buntime_uptime_seconds 1.5\n"), "{out}");
        assert!(
            out.contains("buntime_memory_usage_bytes 2621440\n"),
            "{out}"
        );
    }

    fn stat(key: &str, i: u32) -> WorkerStat {
        let f = f64::from(i);
        WorkerStat {
            key: key.into(),
            status: if i.is_multiple_of(2) {
                WorkerStatus::Active
            } else {
                WorkerStatus::Offline
            },
            age_ms: 1234.56 * f,
            avg_response_time_ms: 0.1 + f / 3.0,
            error_count: u64::from(i % 3),
            idle_ms: if i == 3 { f64::NAN } else { 0.07 * f },
            request_count: u64::from(i) * 1000,
            total_response_time_ms: 1e-3 * f,
            last_request_count: (!i.is_multiple_of(2)).then_some(u64::from(i)),
            last_response_time_ms: i.is_multiple_of(3).then_some(12.5 * f),
        }
    }

    #[test]
    fn the_typed_writers_write_the_same_bytes_as_the_json_path() {
        let metrics = PoolMetrics {
            active_workers: 3,
            avg_response_time_ms: 1.23,
            ephemeral_concurrency: 2,
            hit_rate: 0.0,
            hits: 18_446_744_073_709_551_615,
            memory_usage_mb: 2.5,
            requests_per_second: 1e21,
            total_requests: 7,
            uptime_ms: 1500,
            ..PoolMetrics::default()
        };
        let (mut typed, mut json) = (String::new(), String::new());
        write_pool(&mut typed, &metrics);
        render_pool(&mut json, &metrics.to_json());
        assert_eq!(typed, json);
        assert!(typed.contains("buntime_hit_rate 0.0\n"), "{typed}");
        assert!(typed.contains("buntime_uptime_seconds 1.5\n"), "{typed}");

        let stats: Vec<WorkerStat> = ["b@1", "a@1", "q\"\\x@2", "n\nl@3", "z@0.1.0", "m@9"]
            .iter()
            .zip(0..)
            .map(|(k, i)| stat(k, i))
            .collect();
        let (mut typed, mut json) = (String::new(), String::new());
        write_workers(&mut typed, &stats);
        render_workers(
            &mut json,
            &buntime_core::pool_stats::worker_stats_json(&stats),
        );
        assert_eq!(typed, json);
        assert!(
            typed.contains("buntime_worker_age_seconds{app=\"m@9\"} 6.1728\n"),
            "{typed}"
        );
        assert!(typed.contains("buntime_worker_last_requests{app=\"a@1\"} 1\n"));
        assert!(
            !typed.contains("buntime_worker_idle_seconds{app=\"n\\nl@3\"}"),
            "NaN is skipped"
        );

        // A field no app has (all `None`) gets no family, as in the JSON path.
        let none: Vec<WorkerStat> = stats
            .iter()
            .map(|s| WorkerStat {
                last_request_count: None,
                ..s.clone()
            })
            .collect();
        let mut typed = String::new();
        write_workers(&mut typed, &none);
        assert!(!typed.contains("buntime_worker_last_requests"), "{typed}");
    }

    #[test]
    fn worker_gauges_are_grouped_by_field_with_escaped_app_labels() {
        let mut out = String::new();
        render_workers(
            &mut out,
            &json!({"a@1": {"requestCount": 2, "status": "active"}, "b\"@1": {"requestCount": 5}}),
        );
        let expected = "# TYPE buntime_worker_requests gauge\nbuntime_worker_requests{app=\"a@1\"} 2\nbuntime_worker_requests{app=\"b\\\"@1\"} 5\n";
        assert!(out.contains(expected), "{out}");
        assert!(!out.contains("status"));
    }
}
