//! The runtime's own metrics: lock-free counters and fixed-bucket histograms updated on the hot
//! path, read by native plugins through [`crate::PluginContext::metrics`] and rendered in the
//! Prometheus text format (see `docs/metrics.md` and `docs/adr/0005-metrics-registry.md`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where a request went, as the `kind` label of the request metrics says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    /// The REST API (`/api/*`).
    Api,
    /// A plugin's routes (or a request a plugin hook answered before routing).
    Plugin,
    /// A worker app (JavaScript, served by the pool).
    App,
    /// A static app or a plugin's static UI.
    Static,
    /// Anything else: `/.well-known/buntime`, 404s for unknown paths, requests while starting.
    Other,
}

impl RouteKind {
    const ALL: [Self; 5] = [
        Self::Api,
        Self::Plugin,
        Self::App,
        Self::Static,
        Self::Other,
    ];

    /// Returns the label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Plugin => "plugin",
            Self::App => "app",
            Self::Static => "static",
            Self::Other => "other",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

const KINDS: usize = RouteKind::ALL.len();
/// `1xx` … `5xx`.
const CLASSES: usize = 5;
const CLASS_LABELS: [&str; CLASSES] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
const KIND_LABELS: [&str; KINDS] = [
    "kind=\"api\"",
    "kind=\"plugin\"",
    "kind=\"app\"",
    "kind=\"static\"",
    "kind=\"other\"",
];

/// Upper bounds (nanoseconds) of the request latency buckets: 0.5 ms … 10 s.
const REQUEST_BOUNDS: &[(u64, &str)] = &[
    (500_000, "0.0005"),
    (1_000_000, "0.001"),
    (2_500_000, "0.0025"),
    (5_000_000, "0.005"),
    (10_000_000, "0.01"),
    (25_000_000, "0.025"),
    (50_000_000, "0.05"),
    (100_000_000, "0.1"),
    (250_000_000, "0.25"),
    (500_000_000, "0.5"),
    (1_000_000_000, "1"),
    (2_500_000_000, "2.5"),
    (5_000_000_000, "5"),
    (10_000_000_000, "10"),
];
/// Upper bounds (nanoseconds) of the hook duration buckets: 10 µs … 1 s (hooks should be fast).
const HOOK_BOUNDS: &[(u64, &str)] = &[
    (10_000, "0.00001"),
    (50_000, "0.00005"),
    (100_000, "0.0001"),
    (250_000, "0.00025"),
    (500_000, "0.0005"),
    (1_000_000, "0.001"),
    (2_500_000, "0.0025"),
    (5_000_000, "0.005"),
    (10_000_000, "0.01"),
    (50_000_000, "0.05"),
    (250_000_000, "0.25"),
    (1_000_000_000, "1"),
];
/// Upper bounds (nanoseconds) of the reload duration buckets: 10 ms … 60 s.
const RELOAD_BOUNDS: &[(u64, &str)] = &[
    (10_000_000, "0.01"),
    (50_000_000, "0.05"),
    (100_000_000, "0.1"),
    (250_000_000, "0.25"),
    (500_000_000, "0.5"),
    (1_000_000_000, "1"),
    (2_500_000_000, "2.5"),
    (5_000_000_000, "5"),
    (10_000_000_000, "10"),
    (30_000_000_000, "30"),
    (60_000_000_000, "60"),
];

/// A histogram with fixed buckets: one atomic per bucket (not cumulative; summed when rendered,
/// so `_count` always equals the `+Inf` bucket) and the sum in nanoseconds.
#[derive(Debug)]
pub struct Histogram {
    /// Upper bounds in nanoseconds, each with its `le` label value.
    bounds: &'static [(u64, &'static str)],
    /// One per bound, then the overflow (`+Inf`) bucket.
    buckets: Box<[AtomicU64]>,
    sum_ns: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [(u64, &'static str)]) -> Self {
        Self {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_ns: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn observe(&self, took: Duration) {
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        let i = self
            .bounds
            .iter()
            .position(|&(b, _)| ns <= b)
            .unwrap_or(self.bounds.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// Records the time since `started`, if the clock was read (see [`RuntimeMetrics::clock`]).
    pub fn observe_since(&self, started: Option<Instant>) {
        if let Some(t) = started {
            self.observe(t.elapsed());
        }
    }

    /// Returns how many observations were recorded.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// Writes `name_bucket{labels,le}`, `name_sum{labels}` and `name_count{labels}`; `labels` is
    /// empty or `k="v",…` without braces.
    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0u64;
        for (i, (_, le)) in self.bounds.iter().enumerate() {
            cumulative += self.buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}"
            );
        }
        cumulative += self.buckets[self.bounds.len()].load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {cumulative}"
        );
        let sum = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        let braced = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braced} {sum}");
        let _ = writeln!(out, "{name}_count{braced} {cumulative}");
    }
}

/// The hook durations of one plugin, kept by the registry under the plugin's name and shared by
/// every generation that loads it (so its series survive reloads).
#[derive(Debug)]
pub struct HookTimings {
    enabled: bool,
    /// `plugin="…",hook="…"` for each hook, escaped once.
    labels: [String; 3],
    /// Which hooks some loaded instance of the plugin implements (`on_request`, `server_fetch`,
    /// `on_response`): only those are exported, so a plugin without hooks adds no series.
    implemented: [AtomicBool; 3],
    /// `on_request`.
    pub on_request: Histogram,
    /// `server_fetch`.
    pub server_fetch: Histogram,
    /// `on_response`.
    pub on_response: Histogram,
}

impl HookTimings {
    fn new(enabled: bool, plugin: &str) -> Self {
        let plugin = escape_label(plugin);
        let labels = ["on_request", "server_fetch", "on_response"]
            .map(|hook| format!("plugin=\"{plugin}\",hook=\"{hook}\""));
        Self {
            enabled,
            labels,
            implemented: std::array::from_fn(|_| AtomicBool::new(false)),
            on_request: Histogram::new(HOOK_BOUNDS),
            server_fetch: Histogram::new(HOOK_BOUNDS),
            on_response: Histogram::new(HOOK_BOUNDS),
        }
    }

    /// Records which hooks a loaded instance implements (a reload may add some; none is
    /// forgotten, so a series never disappears).
    pub fn implements(&self, hooks: crate::plugin::Hooks) {
        for (flag, on) in
            self.implemented
                .iter()
                .zip([hooks.on_request, hooks.server_fetch, hooks.on_response])
        {
            if on {
                flag.store(true, Ordering::Relaxed);
            }
        }
    }

    /// Reads the clock when metrics are on (pass the result to [`Histogram::observe_since`]).
    pub fn clock(&self) -> Option<Instant> {
        self.enabled.then(Instant::now)
    }
}

impl Default for HookTimings {
    fn default() -> Self {
        Self::new(true, "")
    }
}

/// The registry: everything the runtime counts about itself.
///
/// Updating it takes no lock and allocates nothing. Only [`RuntimeMetrics::plugin_hooks`] (once
/// per plugin per load) and [`RuntimeMetrics::render`] lock the small per-plugin table.
#[derive(Debug)]
pub struct RuntimeMetrics {
    enabled: bool,
    requests: [[AtomicU64; CLASSES]; KINDS],
    latency: [Histogram; KINDS],
    body_limit_rejections: AtomicU64,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
    reload_duration: Histogram,
    generation: AtomicU64,
    plugin_host_restarts: AtomicU64,
    worker_host_restarts: AtomicU64,
    plugins: Mutex<BTreeMap<String, Arc<HookTimings>>>,
}

impl Default for RuntimeMetrics {
    fn default() -> Self {
        Self::new(true)
    }
}

impl RuntimeMetrics {
    /// Creates a registry. With `enabled` false, requests and hooks are not measured at all (the
    /// clock is not even read); reloads, restarts and the generation are still counted.
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            requests: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            latency: std::array::from_fn(|_| Histogram::new(REQUEST_BOUNDS)),
            body_limit_rejections: AtomicU64::new(0),
            reloads_ok: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
            reload_duration: Histogram::new(RELOAD_BOUNDS),
            generation: AtomicU64::new(0),
            plugin_host_restarts: AtomicU64::new(0),
            worker_host_restarts: AtomicU64::new(0),
            plugins: Mutex::new(BTreeMap::new()),
        }
    }

    /// Returns whether requests and hooks are measured (`RUNTIME_METRICS`).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Reads the clock when metrics are on; `None` otherwise, so a disabled registry costs one
    /// branch per request.
    pub fn clock(&self) -> Option<Instant> {
        self.enabled.then(Instant::now)
    }

    /// Counts a finished request (its response head is ready): by route kind and status class,
    /// its latency since `started` ([`Self::clock`]), and a 413 as a body-limit rejection.
    pub fn request(&self, kind: RouteKind, status: http::StatusCode, started: Option<Instant>) {
        let Some(started) = started else { return };
        let class = usize::from(status.as_u16() / 100).clamp(1, CLASSES) - 1;
        self.requests[kind.index()][class].fetch_add(1, Ordering::Relaxed);
        self.latency[kind.index()].observe(started.elapsed());
        if status == http::StatusCode::PAYLOAD_TOO_LARGE {
            self.body_limit_rejections.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Returns how many requests of `kind` ended with a status of `class` (1 to 5).
    pub fn requests(&self, kind: RouteKind, class: usize) -> u64 {
        class
            .checked_sub(1)
            .and_then(|c| self.requests[kind.index()].get(c))
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Counts a reload (`ok`: it swapped a new generation in) and its duration.
    pub fn reload(&self, ok: bool, took: Duration) {
        let counter = if ok {
            &self.reloads_ok
        } else {
            &self.reloads_failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.reload_duration.observe(took);
    }

    /// Records the generation now serving.
    pub fn set_generation(&self, number: u64) {
        self.generation.store(number, Ordering::Relaxed);
    }

    /// Counts a plugin host (the Bun process running JS plugins) brought back after a crash.
    pub fn plugin_host_restarted(&self) {
        self.plugin_host_restarts.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a worker host (a Bun process running app workers) brought back after it died.
    pub fn worker_host_restarted(&self) {
        self.worker_host_restarts.fetch_add(1, Ordering::Relaxed);
    }

    /// Returns the hook timings of `plugin`, creating them on first use.
    pub fn plugin_hooks(&self, plugin: &str) -> Arc<HookTimings> {
        let mut plugins = self
            .plugins
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        plugins
            .entry(plugin.to_owned())
            .or_insert_with(|| Arc::new(HookTimings::new(self.enabled, plugin)))
            .clone()
    }

    /// Appends every runtime metric in the Prometheus text format (version 0.0.4), each family
    /// with its `# HELP` and `# TYPE` lines.
    pub fn render(&self, out: &mut String) {
        family(
            out,
            "buntime_http_requests_total",
            "counter",
            "HTTP requests answered, by route kind and status class.",
        );
        for kind in RouteKind::ALL {
            for (c, class) in CLASS_LABELS.iter().enumerate() {
                let n = self.requests[kind.index()][c].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "buntime_http_requests_total{{kind=\"{}\",status=\"{class}\"}} {n}",
                    kind.as_str()
                );
            }
        }
        family(
            out,
            "buntime_http_request_duration_seconds",
            "histogram",
            "Time from a request's arrival to its response head, by route kind.",
        );
        for (kind, labels) in RouteKind::ALL.iter().zip(KIND_LABELS) {
            self.latency[kind.index()].render(out, "buntime_http_request_duration_seconds", labels);
        }
        counter(
            out,
            "buntime_http_body_limit_rejections_total",
            "Requests answered 413 Payload Too Large (body over the app's limit).",
            &self.body_limit_rejections,
        );
        family(
            out,
            "buntime_plugin_hook_duration_seconds",
            "histogram",
            "Time spent in a plugin's request hooks, by plugin and hook (hooks it implements).",
        );
        let plugins: Vec<Arc<HookTimings>> = self
            .plugins
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        for t in &plugins {
            let series = [&t.on_request, &t.server_fetch, &t.on_response];
            for ((labels, h), flag) in t.labels.iter().zip(series).zip(&t.implemented) {
                if flag.load(Ordering::Relaxed) || h.count() > 0 {
                    h.render(out, "buntime_plugin_hook_duration_seconds", labels);
                }
            }
        }
        family(
            out,
            "buntime_reloads_total",
            "counter",
            "Plugin reloads requested, by result (ok: swapped in; failed: refused, the old generation kept serving).",
        );
        let _ = writeln!(
            out,
            "buntime_reloads_total{{result=\"ok\"}} {}",
            self.reloads_ok.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "buntime_reloads_total{{result=\"failed\"}} {}",
            self.reloads_failed.load(Ordering::Relaxed)
        );
        family(
            out,
            "buntime_reload_duration_seconds",
            "histogram",
            "Time a plugin reload took, successful or not.",
        );
        self.reload_duration
            .render(out, "buntime_reload_duration_seconds", "");
        family(
            out,
            "buntime_generation",
            "gauge",
            "The plugin generation now serving (1 after boot, +1 per successful reload).",
        );
        let _ = writeln!(
            out,
            "buntime_generation {}",
            self.generation.load(Ordering::Relaxed)
        );
        counter(
            out,
            "buntime_plugin_host_restarts_total",
            "Times the JS plugin host was restarted after it crashed or stopped answering.",
            &self.plugin_host_restarts,
        );
        counter(
            out,
            "buntime_worker_host_restarts_total",
            "Times a worker host (the Bun process running app workers) was restarted after it died.",
            &self.worker_host_restarts,
        );
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn counter(out: &mut String, name: &str, help: &str, value: &AtomicU64) {
    family(out, name, "counter", help);
    let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
}

/// Escapes a label value for the text format: backslash, double quote and newline.
pub fn escape_label(value: &str) -> std::borrow::Cow<'_, str> {
    if !value.contains(['\\', '"', '\n']) {
        return std::borrow::Cow::Borrowed(value);
    }
    let mut s = String::with_capacity(value.len() + 2);
    for c in value.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    std::borrow::Cow::Owned(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_count_by_kind_and_class_and_413_is_a_body_limit_rejection() {
        let m = RuntimeMetrics::default();
        let t = m.clock();
        m.request(RouteKind::Api, http::StatusCode::OK, t);
        m.request(RouteKind::Api, http::StatusCode::NOT_FOUND, t);
        m.request(RouteKind::App, http::StatusCode::PAYLOAD_TOO_LARGE, t);
        assert_eq!(m.requests(RouteKind::Api, 2), 1);
        assert_eq!(m.requests(RouteKind::Api, 4), 1);
        assert_eq!(m.requests(RouteKind::App, 4), 1);
        let mut out = String::new();
        m.render(&mut out);
        assert!(
            out.contains("buntime_http_requests_total{kind=\"api\",status=\"2xx\"} 1\n"),
            "{out}"
        );
        assert!(out.contains("buntime_http_body_limit_rejections_total 1\n"));
        assert!(out.contains("buntime_http_request_duration_seconds_count{kind=\"api\"} 2\n"));
    }

    #[test]
    fn a_disabled_registry_measures_no_request() {
        let m = RuntimeMetrics::new(false);
        m.request(RouteKind::Api, http::StatusCode::OK, m.clock());
        assert_eq!(m.requests(RouteKind::Api, 2), 0);
        assert!(m.plugin_hooks("p").clock().is_none());
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_end_with_inf() {
        let h = Histogram::new(HOOK_BOUNDS);
        h.observe(Duration::from_micros(5));
        h.observe(Duration::from_micros(70));
        h.observe(Duration::from_secs(3));
        let mut out = String::new();
        h.render(&mut out, "x_seconds", "a=\"b\"");
        assert!(
            out.contains("x_seconds_bucket{a=\"b\",le=\"0.00001\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("x_seconds_bucket{a=\"b\",le=\"0.0001\"} 2\n"),
            "{out}"
        );
        assert!(
            out.contains("x_seconds_bucket{a=\"b\",le=\"1\"} 2\n"),
            "{out}"
        );
        assert!(
            out.contains("x_seconds_bucket{a=\"b\",le=\"+Inf\"} 3\n"),
            "{out}"
        );
        assert!(out.contains("x_seconds_count{a=\"b\"} 3\n"), "{out}");
        assert!(out.contains("x_seconds_sum{a=\"b\"} 3.000075\n"), "{out}");
    }

    #[test]
    fn bucket_labels_say_the_bounds_in_seconds() {
        for bounds in [REQUEST_BOUNDS, HOOK_BOUNDS, RELOAD_BOUNDS] {
            for (ns, le) in bounds {
                let secs: f64 = le.parse().unwrap();
                assert!((secs * 1e9 - *ns as f64).abs() < 0.5, "{le} vs {ns} ns");
            }
            assert!(
                bounds.windows(2).all(|w| w[0].0 < w[1].0),
                "bounds increase"
            );
        }
    }

    #[test]
    fn plugin_hooks_are_shared_per_name_and_labels_are_escaped() {
        let m = RuntimeMetrics::default();
        let a = m.plugin_hooks("we\"ird");
        a.on_request.observe(Duration::from_micros(1));
        assert!(Arc::ptr_eq(&a, &m.plugin_hooks("we\"ird")));
        let mut out = String::new();
        m.render(&mut out);
        assert!(out.contains("buntime_plugin_hook_duration_seconds_count{plugin=\"we\\\"ird\",hook=\"on_request\"} 1\n"), "{out}");
    }

    #[test]
    fn only_the_hooks_a_plugin_implements_are_exported() {
        let m = RuntimeMetrics::default();
        m.plugin_hooks("quiet").implements(crate::plugin::Hooks::NONE);
        m.plugin_hooks("busy").implements(crate::plugin::Hooks::DEFAULT);
        let mut out = String::new();
        m.render(&mut out);
        assert!(!out.contains("plugin=\"quiet\""), "{out}");
        assert!(out.contains("buntime_plugin_hook_duration_seconds_count{plugin=\"busy\",hook=\"on_request\"} 0\n"));
        assert!(out.contains("buntime_plugin_hook_duration_seconds_count{plugin=\"busy\",hook=\"on_response\"} 0\n"));
        assert!(!out.contains("hook=\"server_fetch\""), "{out}");
    }

    #[test]
    fn reloads_and_restarts_are_counted_even_when_disabled() {
        let m = RuntimeMetrics::new(false);
        m.reload(true, Duration::from_millis(20));
        m.reload(false, Duration::from_millis(20));
        m.set_generation(2);
        m.plugin_host_restarted();
        m.worker_host_restarted();
        let mut out = String::new();
        m.render(&mut out);
        for line in [
            "buntime_reloads_total{result=\"ok\"} 1",
            "buntime_reloads_total{result=\"failed\"} 1",
            "buntime_generation 2",
            "buntime_plugin_host_restarts_total 1",
            "buntime_worker_host_restarts_total 1",
            "buntime_reload_duration_seconds_count 2",
        ] {
            assert!(out.contains(&format!("{line}\n")), "missing {line}:\n{out}");
        }
    }
}
