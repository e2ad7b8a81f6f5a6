//! The metrics plugin through the real loader and pipeline: JSON, SSE framing and the
//! Prometheus exposition, with a pool and without one.

use std::sync::Arc;
use std::time::Duration;

use buntime_core::app::PoolView;
use buntime_core::pool_stats::{PoolMetrics, WorkerStat, WorkerStatus};
use buntime_core::{RouteKind, RuntimeMetrics};
use buntime_plugin_metrics::MetricsPlugin;
use buntime_testkit::{PluginHarness, StartedHarness};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};

const MANIFEST: &str = include_str!("../manifest.yaml");

/// A pool that reports fixed numbers.
struct FakePool {
    metrics: PoolMetrics,
    workers: Vec<WorkerStat>,
}

impl PoolView for FakePool {
    fn pool_metrics(&self) -> PoolMetrics {
        self.metrics
    }
    fn worker_stat_list(&self) -> Vec<WorkerStat> {
        self.workers.clone()
    }
}

fn pool() -> Arc<dyn PoolView> {
    Arc::new(FakePool {
        metrics: PoolMetrics {
            active_workers: 3,
            avg_response_time_ms: 12.5,
            hit_rate: 66.67,
            hits: 2,
            memory_usage_mb: 1.5,
            total_requests: 3,
            uptime_ms: 2000,
            ..PoolMetrics::default()
        },
        workers: vec![WorkerStat {
            key: "todo@1.0.0".into(),
            status: WorkerStatus::Active,
            age_ms: 1500.0,
            avg_response_time_ms: 2.0,
            error_count: 0,
            idle_ms: 10.0,
            request_count: 7,
            total_response_time_ms: 14.0,
            last_request_count: None,
            last_response_time_ms: None,
        }],
    })
}

async fn start(
    manifest: &str,
    pool: Option<Arc<dyn PoolView>>,
    metrics: Arc<RuntimeMetrics>,
) -> StartedHarness {
    let mut h = PluginHarness::new(manifest, MetricsPlugin::new).metrics(metrics);
    if let Some(p) = pool {
        h = h.pool(p);
    }
    h.start().await.unwrap()
}

#[tokio::test]
async fn pool_metrics_and_stats_are_served_as_json_also_under_the_documented_aliases() {
    let h = start(MANIFEST, Some(pool()), Arc::default()).await;
    for path in ["/metrics/api", "/metrics/api/metrics"] {
        let res = h.get(path).await;
        assert_eq!(res.status, 200, "{path}");
        assert_eq!(res.json()["activeWorkers"], 3);
        assert_eq!(res.json()["avgResponseTimeMs"], 12.5);
    }
    for path in ["/metrics/api/stats", "/metrics/api/metrics/stats"] {
        let res = h.get(path).await;
        assert_eq!(res.status, 200);
        assert_eq!(res.json()["pool"]["hits"], 2);
        assert_eq!(res.json()["workers"]["todo@1.0.0"]["requestCount"], 7);
    }
    // Trailing slashes stay strict (the original's routing).
    assert_eq!(h.get("/metrics/api/").await.status, 404);
}

#[tokio::test]
async fn without_a_pool_metrics_answer_503_and_stats_are_empty() {
    let h = start(MANIFEST, None, Arc::default()).await;
    let res = h.get("/metrics/api").await;
    assert_eq!(res.status, 503);
    assert_eq!(res.json(), json!({"error": "Pool not initialized"}));
    assert_eq!(
        h.get("/metrics/api/stats").await.json(),
        json!({"pool": {}, "workers": {}})
    );
    // The runtime's own metrics do not need a pool: the exposition still answers.
    let res = h.get("/metrics/api/prometheus").await;
    assert_eq!(res.status, 200);
    assert!(
        res.text()
            .contains("# TYPE buntime_http_requests_total counter")
    );
    assert!(!res.text().contains("buntime_active_workers"));
}

#[tokio::test]
async fn the_exposition_holds_pool_gauges_worker_gauges_and_runtime_metrics_and_passes_promtool() {
    let metrics = Arc::new(RuntimeMetrics::default());
    let h = start(MANIFEST, Some(pool()), metrics.clone()).await;
    metrics.request(RouteKind::App, http::StatusCode::OK, metrics.clock());
    metrics.request(
        RouteKind::App,
        http::StatusCode::PAYLOAD_TOO_LARGE,
        metrics.clock(),
    );
    metrics.set_generation(4);
    for path in ["/metrics/api/prometheus", "/metrics/api/metrics/prometheus"] {
        let res = h.get(path).await;
        assert_eq!(res.status, 200);
        assert_eq!(
            res.headers["content-type"],
            "text/plain; version=0.0.4; charset=utf-8"
        );
        let text = res.text();
        for line in [
            "# TYPE buntime_active_workers gauge\nbuntime_active_workers 3\n",
            "buntime_avg_response_time_seconds 0.0125\n",
            "buntime_memory_usage_bytes 1572864\n",
            "buntime_uptime_seconds 2\n",
            "buntime_hit_rate 66.67\n",
            "buntime_worker_requests{app=\"todo@1.0.0\"} 7\n",
            "buntime_worker_errors{app=\"todo@1.0.0\"} 0\n",
            "buntime_worker_age_seconds{app=\"todo@1.0.0\"} 1.5\n",
            "buntime_http_requests_total{kind=\"app\",status=\"2xx\"} 1\n",
            "buntime_http_requests_total{kind=\"app\",status=\"4xx\"} 1\n",
            "buntime_http_body_limit_rejections_total 1\n",
            "buntime_http_request_duration_seconds_count{kind=\"app\"} 2\n",
            "buntime_generation 4\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in:\n{text}");
        }
        assert!(
            text.contains("# TYPE buntime_plugin_hook_duration_seconds histogram\n")
                && !text.contains("plugin=\"@buntime/plugin-metrics\""),
            "a plugin without hooks adds no hook series"
        );
        assert!(
            !text.contains("status=\"active\"") && !text.contains("buntime_worker_status"),
            "non-numeric fields are skipped"
        );
        if let Some(result) = buntime_testkit::promtool::check_metrics(&text) {
            result.unwrap_or_else(|report| {
                panic!("promtool rejected the exposition:\n{report}\n{text}")
            });
        }
    }
}

#[tokio::test]
async fn every_metric_the_grafana_dashboard_queries_is_in_the_exposition() {
    // Every field the pool reports (the typed snapshot has them all).
    let full = FakePool {
        metrics: PoolMetrics {
            active_workers: 1,
            avg_response_time_ms: 1.0,
            ephemeral_concurrency: 2,
            ephemeral_queue_limit: 100,
            memory_usage_mb: 1.0,
            uptime_ms: 1,
            ..PoolMetrics::default()
        },
        workers: vec![WorkerStat {
            key: "a@1".into(),
            status: WorkerStatus::Active,
            age_ms: 1.0,
            avg_response_time_ms: 1.0,
            error_count: 0,
            idle_ms: 0.0,
            request_count: 1,
            total_response_time_ms: 1.0,
            last_request_count: None,
            last_response_time_ms: None,
        }],
    };
    let h = start(MANIFEST, Some(Arc::new(full)), Arc::default()).await;
    let text = h.get("/metrics/api/prometheus").await.text();
    let dashboard = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/grafana-buntime.json"
    ))
    .unwrap();
    let mut names: Vec<&str> = dashboard
        .match_indices("buntime_")
        .map(|(i, _)| {
            let rest = &dashboard[i..];
            &rest[..rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len())]
        })
        .collect();
    names.sort_unstable();
    names.dedup();
    assert!(names.len() > 10, "{names:?}");
    for name in names {
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "the dashboard queries {name}, which the exposition lacks"
        );
    }
}

#[tokio::test]
async fn sse_sends_stats_as_data_events_every_interval() {
    let manifest = MANIFEST.replace("sseInterval: 1000", "sseInterval: 100");
    let h = start(&manifest, Some(pool()), Arc::default()).await;
    let req = http::Request::builder()
        .uri("/metrics/api/metrics/sse")
        .body(axum::body::Body::empty())
        .unwrap();
    let res = h.send_streaming(req).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut body = res.into_body();
    let mut text = String::new();
    let started = std::time::Instant::now();
    while text.matches("\n\n").count() < 2 {
        let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
            .await
            .expect("an event within 5 s")
            .expect("the stream goes on")
            .unwrap();
        if let Ok(data) = frame.into_data() {
            text.push_str(&String::from_utf8_lossy(&data));
        }
    }
    assert!(
        started.elapsed() >= Duration::from_millis(90),
        "the second event waits for the interval"
    );
    for event in text.split("\n\n").filter(|e| !e.is_empty()).take(2) {
        let data = event
            .strip_prefix("data: ")
            .unwrap_or_else(|| panic!("not a data event: {event:?}"));
        let v: Value = serde_json::from_str(data).unwrap();
        assert_eq!(v["pool"]["activeWorkers"], 3);
        assert_eq!(v["workers"]["todo@1.0.0"]["requestCount"], 7);
    }
}

#[tokio::test]
async fn a_bad_sse_interval_stops_the_plugin_from_loading_and_names_the_key() {
    let manifest = MANIFEST.replace("sseInterval: 1000", "sseInterval: 5");
    let err = PluginHarness::new(&manifest, MetricsPlugin::new)
        .start()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("sseInterval"), "{err}");
}
