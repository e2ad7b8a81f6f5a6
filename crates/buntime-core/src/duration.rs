//! Durations as plugin manifests write them: a number of milliseconds, or a string such as
//! `500ms`, `30s`, `1.5m`, `1h` or `1d` (the shape the original's configs and SDKs accept).

use std::time::Duration;

use serde_json::Value;

/// Parses a manifest duration; `None` for anything else (negative, unknown unit, not a number).
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use buntime_core::duration::parse;
/// assert_eq!(parse(&serde_json::json!(1500)), Some(Duration::from_millis(1500)));
/// assert_eq!(parse(&serde_json::json!("30s")), Some(Duration::from_secs(30)));
/// assert_eq!(parse(&serde_json::json!("soon")), None);
/// ```
pub fn parse(v: &Value) -> Option<Duration> {
    let ms = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => {
            let s = s.trim();
            let split = s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len());
            let (num, unit) = s.split_at(split);
            let n: f64 = num.parse().ok()?;
            let per_unit = match unit.trim() {
                "" | "ms" => 1.0,
                "s" => 1e3,
                "m" => 60e3,
                "h" => 3_600e3,
                "d" => 86_400e3,
                _ => return None,
            };
            n * per_unit
        }
        _ => return None,
    };
    Duration::try_from_secs_f64(ms / 1000.0).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_are_milliseconds_and_strings_carry_their_unit() {
        assert_eq!(parse(&json!(250)), Some(Duration::from_millis(250)));
        assert_eq!(parse(&json!(0.5)), Some(Duration::from_micros(500)));
        assert_eq!(parse(&json!(" 250ms ")), Some(Duration::from_millis(250)));
        assert_eq!(parse(&json!("250")), Some(Duration::from_millis(250)));
        assert_eq!(parse(&json!("1.5m")), Some(Duration::from_secs(90)));
        assert_eq!(parse(&json!("2h")), Some(Duration::from_secs(7200)));
        assert_eq!(parse(&json!("1d")), Some(Duration::from_secs(86_400)));
    }

    #[test]
    fn anything_else_is_none() {
        for v in [json!(-1), json!("-5s"), json!("5 weeks"), json!("s"), json!(""), json!(true), json!(null), json!([1])] {
            assert_eq!(parse(&v), None, "{v}");
        }
    }
}
