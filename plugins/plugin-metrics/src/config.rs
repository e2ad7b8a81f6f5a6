//! The plugin's manifest keys: `sseInterval` (and `prometheus`, accepted and ignored).

use std::time::Duration;

use serde_json::{Map, Value};

/// The shortest SSE interval accepted, so one client cannot make the plugin spin.
pub const MIN_SSE_INTERVAL: Duration = Duration::from_millis(100);

/// What the manifest configures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Time between two SSE events.
    pub sse_interval: Duration,
}

/// Reads the plugin options.
///
/// # Errors
/// A bad `sseInterval`, naming the key and what is accepted.
pub fn parse(options: &Map<String, Value>) -> Result<Config, String> {
    let sse_interval = match options.get("sseInterval") {
        None | Some(Value::Null) => Duration::from_millis(1000),
        Some(v) => buntime_core::duration::parse(v).filter(|d| *d >= MIN_SSE_INTERVAL).ok_or_else(|| {
            format!("key `sseInterval`: `{v}` is not a duration of at least 100 ms (a whole number of milliseconds, or a string such as \"500ms\" or \"2s\")")
        })?,
    };
    Ok(Config { sse_interval })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn opts(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn sse_interval_accepts_numbers_and_unit_strings_and_names_the_key_when_bad() {
        assert_eq!(
            parse(&opts(json!({}))).unwrap().sse_interval,
            Duration::from_millis(1000)
        );
        assert_eq!(
            parse(&opts(json!({"sseInterval": 250})))
                .unwrap()
                .sse_interval,
            Duration::from_millis(250)
        );
        assert_eq!(
            parse(&opts(json!({"sseInterval": "2s"})))
                .unwrap()
                .sse_interval,
            Duration::from_secs(2)
        );
        assert_eq!(
            parse(&opts(json!({"sseInterval": "500ms"})))
                .unwrap()
                .sse_interval,
            Duration::from_millis(500)
        );
        for bad in [json!(5), json!(-1), json!("soon"), json!(true), json!(1.5)] {
            let e = parse(&opts(json!({ "sseInterval": bad }))).unwrap_err();
            assert!(e.contains("sseInterval"), "{e}");
        }
    }
}
