//! The manifest value grammars of spec §1.2: durations, sizes, lenient numbers and booleans.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

/// Milliseconds per unit of the npm `ms` grammar.
const SECOND: f64 = 1000.0;
const MINUTE: f64 = 60.0 * SECOND;
const HOUR: f64 = 60.0 * MINUTE;
const DAY: f64 = 24.0 * HOUR;
const WEEK: f64 = 7.0 * DAY;
const YEAR: f64 = 365.25 * DAY;

static DURATION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^(-?(?:\d+)?\.?\d+) *(milliseconds?|msecs?|ms|seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d|weeks?|w|years?|yrs?|y)?$",
    )
    .expect("the duration pattern is a valid regex")
});

static SIZE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?$").expect("the size pattern is a valid regex"));

/// Parses a duration in milliseconds: a number is seconds, a string uses the npm `ms` grammar
/// (a unit-less string is milliseconds).
///
/// # Errors
/// Returns what is wrong: a negative number, a string that does not match, or another type.
pub fn duration_ms(v: &Value) -> Result<f64, String> {
    match v {
        Value::Number(n) => {
            let secs = n.as_f64().ok_or_else(|| "is not a finite number".to_owned())?;
            if secs < 0.0 {
                return Err(format!("`{n}` is negative"));
            }
            Ok(secs * SECOND)
        }
        Value::String(s) => duration_str_ms(s).ok_or_else(|| format!("`{s}` is not a valid duration")),
        other => Err(format!("expected a duration, found {}", kind(other))),
    }
}

/// Parses a string with the npm `ms` grammar into milliseconds (`None` when it does not match).
pub fn duration_str_ms(s: &str) -> Option<f64> {
    if s.is_empty() || s.len() > 100 {
        return None;
    }
    let caps = DURATION.captures(s)?;
    let n: f64 = caps.get(1)?.as_str().parse().ok()?;
    let unit = caps.get(2).map_or("ms", |m| m.as_str()).to_ascii_lowercase();
    let factor = match unit.as_str() {
        "y" | "yr" | "yrs" | "year" | "years" => YEAR,
        "w" | "week" | "weeks" => WEEK,
        "d" | "day" | "days" => DAY,
        "h" | "hr" | "hrs" | "hour" | "hours" => HOUR,
        "m" | "min" | "mins" | "minute" | "minutes" => MINUTE,
        "s" | "sec" | "secs" | "second" | "seconds" => SECOND,
        _ => 1.0,
    };
    Some(n * factor)
}

/// Parses a size in bytes: a number is bytes (> 0); a string is `<n>[b|kb|mb|gb]` with binary units,
/// floored. A falsy value (`null`, `false`, `0`, `""`) gives `None` (use the default).
///
/// # Errors
/// Returns what is wrong with the value.
pub fn size_bytes(v: &Value) -> Result<Option<u64>, String> {
    const MAX_SAFE: f64 = 9_007_199_254_740_991.0;
    let bytes = match v {
        Value::Null | Value::Bool(false) => return Ok(None),
        Value::Number(n) => {
            let b = n.as_f64().unwrap_or(f64::NAN);
            if b == 0.0 {
                return Ok(None);
            }
            if b.is_nan() || b < 0.0 {
                return Err(format!("`{n}` must be a positive number of bytes"));
            }
            b
        }
        Value::String(s) if s.is_empty() => return Ok(None),
        Value::String(s) => {
            let lower = s.trim().to_ascii_lowercase();
            let caps = SIZE.captures(&lower).ok_or_else(|| format!("`{s}` is not a valid size"))?;
            let n: f64 = caps[1].parse().map_err(|_| format!("`{s}` is not a valid size"))?;
            let factor = match caps.get(2).map(|m| m.as_str()) {
                Some("kb") => 1024.0,
                Some("mb") => 1024.0 * 1024.0,
                Some("gb") => 1024.0 * 1024.0 * 1024.0,
                _ => 1.0,
            };
            (n * factor).floor()
        }
        other => return Err(format!("expected a size, found {}", kind(other))),
    };
    if !bytes.is_finite() || bytes > MAX_SAFE {
        return Err("is too large".to_owned());
    }
    // In range and finite, so the cast is exact up to 2^53.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(Some(bytes.floor() as u64))
}

/// Parses a lenient number (spec §1.2): `null`, `""`, `0` and `false` give `None` (the default);
/// anything else goes through JavaScript's `Number()`; NaN and infinities give `None`.
pub fn lenient_number(v: &Value) -> Option<f64> {
    let n = match v {
        Value::Null | Value::Bool(false) => return None,
        Value::Bool(true) => 1.0,
        Value::Number(n) => n.as_f64()?,
        Value::String(s) if s.is_empty() => return None,
        Value::String(s) => js_number(s)?,
        Value::Array(_) | Value::Object(_) => return None,
    };
    if n == 0.0 && !matches!(v, Value::String(_)) {
        return None;
    }
    n.is_finite().then_some(n)
}

/// Parses a lenient boolean (spec §1.2): only `true`, `"true"` and `"1"` are true.
pub fn lenient_bool(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => s == "true" || s == "1",
        _ => false,
    }
}

/// JavaScript's `Number(string)`: trimmed, `""` is 0, hex/octal/binary prefixes, decimals and
/// exponents; anything else is NaN (`None`).
fn js_number(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() {
        return Some(0.0);
    }
    let radix = |digits: &str, radix: u32| u64::from_str_radix(digits, radix).ok().map(|n| n as f64);
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return radix(h, 16);
    }
    if let Some(o) = t.strip_prefix("0o").or_else(|| t.strip_prefix("0O")) {
        return radix(o, 8);
    }
    if let Some(b) = t.strip_prefix("0b").or_else(|| t.strip_prefix("0B")) {
        return radix(b, 2);
    }
    match t {
        "Infinity" | "+Infinity" => return Some(f64::INFINITY),
        "-Infinity" => return Some(f64::NEG_INFINITY),
        _ => {}
    }
    // Rust accepts words JavaScript rejects ("inf", "nan"); JavaScript numbers use only these.
    if !t.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-')) {
        return None;
    }
    t.parse::<f64>().ok()
}

/// Names a JSON value's type for error messages (the same words plugin manifests use).
pub(crate) use buntime_core::manifest::type_name as kind;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_follow_the_ms_grammar() {
        let cases: &[(Value, Option<f64>)] = &[
            (json!(30), Some(30_000.0)),
            (json!(1.5), Some(1_500.0)),
            (json!(0), Some(0.0)),
            (json!(-1), None),
            (json!("30"), Some(30.0)),
            (json!("30s"), Some(30_000.0)),
            (json!("1m"), Some(60_000.0)),
            (json!("1.5h"), Some(5_400_000.0)),
            (json!(".5s"), Some(500.0)),
            (json!("2 days"), Some(172_800_000.0)),
            (json!("1y"), Some(31_557_600_000.0)),
            (json!("100ms"), Some(100.0)),
            (json!("5 MINUTES"), Some(300_000.0)),
            (json!("-5s"), Some(-5_000.0)),
            (json!("0s"), Some(0.0)),
            (json!(""), None),
            (json!("abc"), None),
            (json!("5 fortnights"), None),
            (json!("1".repeat(101)), None),
            (json!(true), None),
            (json!(null), None),
        ];
        for (input, expected) in cases {
            assert_eq!(duration_ms(input).ok(), *expected, "input {input}");
        }
    }

    #[test]
    fn sizes_use_binary_units_and_floor() {
        let cases: &[(Value, Result<Option<u64>, ()>)] = &[
            (json!(1024), Ok(Some(1024))),
            (json!("50mb"), Ok(Some(50 * 1024 * 1024))),
            (json!("50MB"), Ok(Some(50 * 1024 * 1024))),
            (json!("1.5kb"), Ok(Some(1536))),
            (json!("1 gb"), Ok(Some(1024 * 1024 * 1024))),
            (json!("100"), Ok(Some(100))),
            (json!("10.7"), Ok(Some(10))),
            (json!(0), Ok(None)),
            (json!(""), Ok(None)),
            (json!(null), Ok(None)),
            (json!(false), Ok(None)),
            (json!(-5), Err(())),
            (json!("5tb"), Err(())),
            (json!("-5mb"), Err(())),
            (json!([1]), Err(())),
            (json!("99999999999999999gb"), Err(())),
        ];
        for (input, expected) in cases {
            assert_eq!(size_bytes(input).map_err(|_| ()), *expected, "input {input}");
        }
    }

    #[test]
    fn lenient_numbers_follow_javascript() {
        let cases: &[(Value, Option<f64>)] = &[
            (json!(null), None),
            (json!(""), None),
            (json!(0), None),
            (json!(false), None),
            (json!("0"), Some(0.0)),
            (json!("1e3"), Some(1000.0)),
            (json!("0x10"), Some(16.0)),
            (json!(" 42 "), Some(42.0)),
            (json!("abc"), None),
            (json!("Infinity"), None),
            (json!("nan"), None),
            (json!(500), Some(500.0)),
            (json!(true), Some(1.0)),
        ];
        for (input, expected) in cases {
            assert_eq!(lenient_number(input), *expected, "input {input}");
        }
    }

    #[test]
    fn lenient_booleans_accept_only_true_and_one_strings() {
        let cases: &[(Value, bool)] = &[
            (json!(true), true),
            (json!("true"), true),
            (json!("1"), true),
            (json!(1), false),
            (json!("yes"), false),
            (json!("TRUE"), false),
            (json!(false), false),
            (json!(null), false),
            (json!(""), false),
            (json!(0), false),
        ];
        for (input, expected) in cases {
            assert_eq!(lenient_bool(input), *expected, "input {input}");
        }
    }
}
