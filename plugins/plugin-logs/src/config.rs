//! The plugin's manifest keys: `maxEntries` and `sseInterval`.

use std::time::Duration;

use serde_json::{Map, Value};

/// The most entries `maxEntries` may ask for.
pub const MAX_ENTRIES: usize = 100_000;
/// The shortest SSE interval accepted, so one client cannot make the plugin spin.
pub const MIN_SSE_INTERVAL: Duration = Duration::from_millis(100);

/// What the manifest configures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Entries kept in the ring.
    pub max_entries: usize,
    /// Time between two SSE events.
    pub sse_interval: Duration,
}

/// Reads the plugin options.
///
/// # Errors
/// Every bad key, each naming the key and what is accepted.
pub fn parse(options: &Map<String, Value>) -> Result<Config, Vec<String>> {
    let mut errors = Vec::new();
    let max_entries = match options.get("maxEntries") {
        None | Some(Value::Null) => 1000,
        Some(v) => match v
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| (1..=MAX_ENTRIES).contains(n))
        {
            Some(n) => n,
            None => {
                errors.push(format!(
                    "key `maxEntries`: `{v}` is not a whole number from 1 to {MAX_ENTRIES}"
                ));
                1000
            }
        },
    };
    let sse_interval = match options.get("sseInterval") {
        None | Some(Value::Null) => Duration::from_millis(1000),
        Some(v) => match buntime_core::duration::parse(v).filter(|d| *d >= MIN_SSE_INTERVAL) {
            Some(d) => d,
            None => {
                errors.push(format!("key `sseInterval`: `{v}` is not a duration of at least 100 ms (a whole number of milliseconds, or a string such as \"500ms\" or \"2s\")"));
                Duration::from_millis(1000)
            }
        },
    };
    if errors.is_empty() {
        Ok(Config {
            max_entries,
            sse_interval,
        })
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn opts(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn defaults_and_valid_values() {
        assert_eq!(
            parse(&opts(json!({}))).unwrap(),
            Config {
                max_entries: 1000,
                sse_interval: Duration::from_secs(1)
            }
        );
        assert_eq!(
            parse(&opts(json!({"maxEntries": 5, "sseInterval": "2s"}))).unwrap(),
            Config {
                max_entries: 5,
                sse_interval: Duration::from_secs(2)
            }
        );
    }

    #[test]
    fn every_bad_key_is_named() {
        let errors = parse(&opts(json!({"maxEntries": 0, "sseInterval": 10}))).unwrap_err();
        assert_eq!(errors.len(), 2);
        assert!(
            errors[0].contains("maxEntries") && errors[1].contains("sseInterval"),
            "{errors:?}"
        );
        assert!(parse(&opts(json!({"maxEntries": "lots"}))).is_err());
        assert!(parse(&opts(json!({"maxEntries": 100_001}))).is_err());
    }
}
