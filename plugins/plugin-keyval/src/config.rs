//! The manifest keys the plugin reads (see docs/keyval.md), validated into [`Config`].

use std::time::Duration;

use serde_json::{Map, Value};

/// Default largest value, in bytes of JSON text (Deno KV's limit).
pub const DEFAULT_MAX_VALUE_BYTES: usize = 64 * 1024;

/// The plugin configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The adapter type requested from the database plugin (`None`: its default adapter).
    pub database: Option<String>,
    /// Largest accepted value (JSON text bytes).
    pub max_value_bytes: usize,
    /// How often expired entries are deleted.
    pub sweep_interval: Duration,
    /// Whether counters are also written to `kv_metrics`.
    pub metrics_persistent: bool,
    /// How often persistent metrics are flushed.
    pub metrics_flush_interval: Duration,
    /// How often stuck queue locks are released (`None`: never).
    pub queue_cleanup_interval: Option<Duration>,
    /// How long a dequeued message stays locked.
    pub queue_lock_duration: Duration,
    /// How long a quiet watch stream waits before sending `event: ping`.
    pub watch_heartbeat: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database: None,
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
            sweep_interval: Duration::from_secs(60),
            metrics_persistent: false,
            metrics_flush_interval: Duration::from_secs(30),
            queue_cleanup_interval: Some(Duration::from_secs(60)),
            queue_lock_duration: Duration::from_secs(30),
            watch_heartbeat: Duration::from_secs(15),
        }
    }
}

fn section<'a>(
    cfg: &'a Map<String, Value>,
    name: &str,
    errors: &mut Vec<String>,
) -> Option<&'a Map<String, Value>> {
    match cfg.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(m),
        Some(_) => {
            errors.push(format!("`{name}` must be a mapping"));
            None
        }
    }
}

fn duration(
    m: Option<&Map<String, Value>>,
    path: &str,
    key: &str,
    errors: &mut Vec<String>,
) -> Option<Duration> {
    let v = m?.get(key)?;
    let d = buntime_core::duration::parse(v);
    if d.is_none() {
        errors.push(format!(
            "`{path}` must be milliseconds or a duration like \"30s\""
        ));
    }
    d
}

/// Reads the config from the manifest's plugin config object.
///
/// # Errors
/// Every invalid key, each message naming it.
pub fn parse(cfg: &Map<String, Value>) -> Result<Config, Vec<String>> {
    let mut c = Config::default();
    let mut errors = Vec::new();
    match cfg.get("database") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if !s.trim().is_empty() => c.database = Some(s.trim().to_owned()),
        Some(_) => errors.push("`database` must be an adapter type such as \"sqlite\"".into()),
    }
    match cfg.get("maxValueBytes") {
        None | Some(Value::Null) => {}
        Some(v) => match v.as_u64().and_then(|n| usize::try_from(n).ok()) {
            Some(n) if (1024..=16 * 1024 * 1024).contains(&n) => c.max_value_bytes = n,
            _ => errors.push("`maxValueBytes` must be an integer from 1024 to 16777216".into()),
        },
    }
    if cfg.contains_key("sweepInterval") {
        match duration(Some(cfg), "sweepInterval", "sweepInterval", &mut errors) {
            Some(d) if !d.is_zero() => c.sweep_interval = d,
            Some(_) => errors.push("`sweepInterval` must be above 0".into()),
            None => {}
        }
    }
    let metrics = section(cfg, "metrics", &mut errors);
    if let Some(m) = metrics {
        match m.get("persistent") {
            None | Some(Value::Null) => {}
            Some(Value::Bool(b)) => c.metrics_persistent = *b,
            Some(_) => errors.push("`metrics.persistent` must be true or false".into()),
        }
    }
    match duration(
        metrics,
        "metrics.flushInterval",
        "flushInterval",
        &mut errors,
    ) {
        Some(d) if !d.is_zero() => c.metrics_flush_interval = d,
        Some(_) => errors.push("`metrics.flushInterval` must be above 0".into()),
        None => {}
    }
    let queue = section(cfg, "queue", &mut errors);
    if let Some(d) = duration(
        queue,
        "queue.cleanupInterval",
        "cleanupInterval",
        &mut errors,
    ) {
        c.queue_cleanup_interval = (!d.is_zero()).then_some(d);
    }
    match duration(queue, "queue.lockDuration", "lockDuration", &mut errors) {
        Some(d) if !d.is_zero() => c.queue_lock_duration = d,
        Some(_) => errors.push("`queue.lockDuration` must be above 0".into()),
        None => {}
    }
    let watch = section(cfg, "watch", &mut errors);
    match duration(watch, "watch.heartbeat", "heartbeat", &mut errors) {
        Some(d) if d >= Duration::from_millis(10) => c.watch_heartbeat = d,
        Some(_) => errors.push("`watch.heartbeat` must be at least 10 ms".into()),
        None => {}
    }
    if errors.is_empty() {
        Ok(c)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn defaults_and_durations() {
        assert_eq!(parse(&Map::new()).unwrap(), Config::default());
        let c = parse(&obj(json!({"database": "sqlite", "maxValueBytes": 2048, "metrics": {"persistent": true, "flushInterval": "5s"}, "queue": {"cleanupInterval": 0, "lockDuration": "1m"}}))).unwrap();
        assert_eq!(c.database.as_deref(), Some("sqlite"));
        assert_eq!(
            (
                c.max_value_bytes,
                c.metrics_persistent,
                c.metrics_flush_interval
            ),
            (2048, true, Duration::from_secs(5))
        );
        assert_eq!(
            (c.queue_cleanup_interval, c.queue_lock_duration),
            (None, Duration::from_secs(60))
        );
    }

    #[test]
    fn bad_keys_are_all_named() {
        let errors = parse(&obj(json!({"database": 3, "maxValueBytes": 10, "metrics": {"flushInterval": "soon"}, "queue": []}))).unwrap_err();
        let text = errors.join("; ");
        for needle in [
            "`database`",
            "`maxValueBytes`",
            "`metrics.flushInterval`",
            "`queue`",
        ] {
            assert!(text.contains(needle), "{text}");
        }
    }
}
