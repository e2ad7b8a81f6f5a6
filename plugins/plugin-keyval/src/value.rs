//! Values (§A.2): JSON documents stored as JSON text; bigints travel tagged as
//! `{"__type":"bigint","value":"…"}`, and `{"$now":true,"$offset"?:ms}` placeholders become the
//! server's epoch milliseconds when written (or, in `where` filters, when queried).

use serde_json::{Map, Value, json};

/// Returns the current time in epoch milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Returns the epoch-ms a `$now` placeholder stands for, or `None` when `v` is not one.
///
/// `{"$now": true}` alone, optionally with a numeric `$offset` (or `offset`, which the original SDK's
/// `now().add()` sends) in milliseconds.
pub fn now_placeholder(v: &Map<String, Value>, now: i64) -> Option<i64> {
    if v.get("$now") != Some(&Value::Bool(true)) {
        return None;
    }
    let mut offset = 0_i64;
    for (k, val) in v {
        match k.as_str() {
            "$now" => {}
            "$offset" | "offset" => offset = val.as_f64().filter(|f| f.is_finite())?.trunc() as i64,
            _ => return None,
        }
    }
    Some(now.saturating_add(offset))
}

/// Replaces every `$now` placeholder in `v` (at any depth) by `now` plus its offset.
pub fn resolve_now(v: &mut Value, now: i64) {
    match v {
        Value::Object(map) => {
            if let Some(ms) = now_placeholder(map, now) {
                *v = json!(ms);
            } else {
                map.values_mut().for_each(|x| resolve_now(x, now));
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|x| resolve_now(x, now)),
        _ => {}
    }
}

/// Returns whether `v` is a tagged bigint.
pub fn is_bigint(v: &Value) -> bool {
    v.get("__type").and_then(Value::as_str) == Some("bigint")
        && v.get("value").is_some_and(Value::is_string)
}

/// Reads an integer operand: a JSON integer, an integral float, a decimal string or a tagged bigint.
pub fn integer_operand(v: &Value) -> Option<i128> {
    match v {
        Value::Number(n) => n.as_i64().map(i128::from).or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 1e18)
                .map(|f| f as i128)
        }),
        Value::String(s) => s.trim().parse::<i128>().ok(),
        Value::Object(_) if is_bigint(v) => v["value"].as_str()?.parse::<i128>().ok(),
        _ => None,
    }
}

/// Serialises a value for storage.
pub fn to_stored(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_else(|_| b"null".to_vec())
}

/// Parses a stored value; unreadable bytes come back as a string rather than failing the read.
pub fn from_stored(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_placeholders_resolve_at_any_depth_with_offsets() {
        let mut v = json!({"at": {"$now": true}, "later": [{"$now": true, "$offset": 1500}], "sdk": {"$now": true, "offset": -10}, "keep": {"$now": true, "x": 1}, "no": {"$now": false}});
        resolve_now(&mut v, 1_000);
        assert_eq!(
            v,
            json!({"at": 1000, "later": [2500], "sdk": 990, "keep": {"$now": true, "x": 1}, "no": {"$now": false}})
        );
    }

    #[test]
    fn integer_operands_accept_every_wire_form() {
        assert_eq!(integer_operand(&json!(5)), Some(5));
        assert_eq!(integer_operand(&json!("-12")), Some(-12));
        assert_eq!(
            integer_operand(&json!({"__type": "bigint", "value": "9007199254740993"})),
            Some(9_007_199_254_740_993)
        );
        assert_eq!(integer_operand(&json!(2.0)), Some(2));
        for bad in [
            json!(1.5),
            json!("x"),
            json!(null),
            json!([1]),
            json!({"value": "1"}),
        ] {
            assert_eq!(integer_operand(&bad), None, "{bad}");
        }
    }

    #[test]
    fn stored_values_round_trip_and_bigints_stay_tagged() {
        let v = json!({"n": {"__type": "bigint", "value": "123"}, "s": "é"});
        assert_eq!(from_stored(&to_stored(&v)), v);
        assert!(is_bigint(&v["n"]));
        assert_eq!(from_stored(b"\xffnot json"), json!("\u{fffd}not json"));
    }
}
