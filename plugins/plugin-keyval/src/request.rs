//! Request shapes shared by the HTTP routes and the JSON service: keys, prefixes, limits, list
//! selectors and delete options, each parsed with errors naming the field.
//!
//! Keys and prefixes are JSON arrays; a string is taken as a `/`-joined path (what the original
//! SDK and UIs send in a few places, §S-2).

use serde_json::{Map, Value};

use crate::entries::{DeleteOptions, MAX_BATCH};
use crate::error::KvError;
use crate::filter;
use crate::keys::Key;
use crate::list::{DEFAULT_LIMIT, ListOptions, Selector};
use crate::store::Kv;
use crate::value::now_ms;

/// Reads a required key field (array, or `/`-path string).
///
/// # Errors
/// Missing or invalid; the message names `name`.
pub fn key(v: Option<&Value>, name: &str) -> Result<Key, KvError> {
    let k = match v {
        Some(Value::String(s)) => {
            Key::prefix_from_path(s).and_then(|k| Key::new(k.parts().to_vec()))
        }
        Some(v @ Value::Array(_)) => Key::from_json(v),
        _ => {
            return Err(KvError::invalid(format!(
                "{name} must be a key (an array of parts)"
            )));
        }
    };
    k.map_err(|e| KvError::invalid(format!("{name}: {}", e.0)))
}

/// Reads an optional prefix/start/end field (array or `/`-path string; empty allowed for prefixes).
///
/// # Errors
/// Invalid; the message names `name`.
pub fn opt_key(v: Option<&Value>, name: &str, empty_ok: bool) -> Result<Option<Key>, KvError> {
    let k = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => Key::prefix_from_path(s),
        Some(v @ Value::Array(_)) => Key::prefix_from_json(v),
        Some(_) => {
            return Err(KvError::invalid(format!(
                "{name} must be a key (an array of parts)"
            )));
        }
    }
    .map_err(|e| KvError::invalid(format!("{name}: {}", e.0)))?;
    if k.is_empty() && !empty_ok {
        return Err(KvError::invalid(format!("{name} must not be empty")));
    }
    Ok(Some(k))
}

/// Reads a list of keys (1..=1000).
///
/// # Errors
/// Not an array, empty, too long, or a bad key (named by index).
pub fn keys(v: Option<&Value>, name: &str) -> Result<Vec<Key>, KvError> {
    let Some(Value::Array(items)) = v else {
        return Err(KvError::invalid(format!("{name} must be an array of keys")));
    };
    if items.is_empty() {
        return Err(KvError::invalid(format!("{name} must not be empty")));
    }
    if items.len() > MAX_BATCH {
        return Err(KvError::invalid(format!(
            "{name}: at most {MAX_BATCH} keys per batch"
        )));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, k)| key(Some(k), &format!("{name}[{i}]")))
        .collect()
}

/// Parses a `limit`: a positive integer (values above the maximum are capped later).
///
/// # Errors
/// Not a positive integer.
pub fn limit(v: Option<&Value>) -> Result<usize, KvError> {
    match v {
        None | Some(Value::Null) => Ok(DEFAULT_LIMIT),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(DEFAULT_LIMIT),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok().map_or_else(
            || Err(KvError::invalid("limit must be a positive integer")),
            |n| limit(Some(&Value::from(n))),
        ),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(n) if n > 0 => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
            _ => Err(KvError::invalid("limit must be a positive integer")),
        },
        Some(_) => Err(KvError::invalid("limit must be a positive integer")),
    }
}

/// Parses a boolean flag (`true`/`false`, or the strings a query string carries).
///
/// # Errors
/// Anything else.
pub fn flag(v: Option<&Value>, name: &str) -> Result<bool, KvError> {
    match v {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if matches!(s.as_str(), "true" | "1") => Ok(true),
        Some(Value::String(s)) if matches!(s.as_str(), "false" | "0" | "") => Ok(false),
        Some(_) => Err(KvError::invalid(format!("{name} must be true or false"))),
    }
}

/// Compiles an optional `where` filter.
///
/// # Errors
/// See [`filter::compile`].
pub fn filter_of(kv: &Kv, v: Option<&Value>) -> Result<Option<filter::Filter>, KvError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) if m.is_empty() => Ok(None),
        Some(f) => filter::compile(f, kv.dialect(), now_ms()).map(Some),
    }
}

/// Reads `{prefix?, start?, end?, limit?, reverse?, where?}`.
///
/// # Errors
/// Any field invalid.
pub fn list(kv: &Kv, obj: &Map<String, Value>) -> Result<(Selector, ListOptions), KvError> {
    let sel = Selector {
        prefix: opt_key(obj.get("prefix"), "prefix", true)?,
        start: opt_key(obj.get("start"), "start", false)?,
        end: opt_key(obj.get("end"), "end", false)?,
        filter: filter_of(kv, obj.get("where"))?,
    };
    Ok((
        sel,
        ListOptions {
            limit: limit(obj.get("limit"))?,
            reverse: flag(obj.get("reverse"), "reverse")?,
        },
    ))
}

/// Reads `{exact?, where?}`.
///
/// # Errors
/// Any field invalid.
pub fn delete_options(kv: &Kv, obj: &Map<String, Value>) -> Result<DeleteOptions, KvError> {
    Ok(DeleteOptions {
        exact: flag(obj.get("exact"), "exact")?,
        filter: filter_of(kv, obj.get("where"))?,
    })
}

/// Reads an optional `expiresIn` (ms, > 0), as a number or a numeric string.
///
/// # Errors
/// Not a positive number.
pub fn expires_in(v: Option<&Value>) -> Result<Option<f64>, KvError> {
    let bad = || KvError::invalid("expiresIn must be a positive number of milliseconds");
    let ms = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) if s.is_empty() => return Ok(None),
        Some(Value::String(s)) => buntime_core::duration::parse(&Value::String(s.clone()))
            .map(|d| d.as_secs_f64() * 1000.0)
            .ok_or_else(bad)?,
        Some(Value::Number(n)) => n.as_f64().ok_or_else(bad)?,
        Some(_) => return Err(bad()),
    };
    if ms > 0.0 && ms.is_finite() {
        Ok(Some(ms))
    } else {
        Err(bad())
    }
}

/// Returns the object, or an empty one for `null`/absent.
///
/// # Errors
/// Another JSON type; the message names `name`.
pub fn object(v: Option<&Value>, name: &str) -> Result<Map<String, Value>, KvError> {
    match v {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(_) => Err(KvError::invalid(format!("{name} must be an object"))),
    }
}
