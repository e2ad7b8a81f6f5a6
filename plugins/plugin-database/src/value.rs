//! Engine-neutral SQL values, statements and results, serialised the way HRANA spells them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::json;

/// One SQL value. On the wire: `{"type":"null"}`, `{"type":"integer","value":"42"}` (a decimal
/// string, so 64-bit integers survive JSON), `{"type":"float","value":1.5}`,
/// `{"type":"text","value":"…"}`, `{"type":"blob","base64":"…"}`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// A 64-bit integer.
    Integer(i64),
    /// A double.
    Float(f64),
    /// UTF-8 text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

impl Value {
    /// Returns the value as plain JSON for the admin API: numbers, strings, `null`; blobs as
    /// (lossy) text, as the original studio shows them.
    pub fn to_plain_json(&self) -> serde_json::Value {
        match self {
            Self::Null => serde_json::Value::Null,
            Self::Integer(i) => json!(i),
            Self::Float(f) => json!(f),
            Self::Text(s) => json!(s),
            Self::Blob(b) => json!(String::from_utf8_lossy(b)),
        }
    }

    /// Converts plain JSON (the admin API's and the typed API's arguments) into a value:
    /// booleans become 0/1, objects and arrays their JSON text.
    pub fn from_plain_json(v: &serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => Self::Null,
            serde_json::Value::Bool(b) => Self::Integer(i64::from(*b)),
            serde_json::Value::Number(n) => n.as_i64().map_or_else(|| Self::Float(n.as_f64().unwrap_or(f64::NAN)), Self::Integer),
            serde_json::Value::String(s) => Self::Text(s.clone()),
            other => Self::Text(other.to_string()),
        }
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::Integer(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Self::Float(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Self::Blob(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Self::Integer(i64::from(v))
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Self::Null, Into::into)
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = match self {
            Self::Null => json!({"type": "null"}),
            Self::Integer(i) => json!({"type": "integer", "value": i.to_string()}),
            Self::Float(f) if f.is_finite() => json!({"type": "float", "value": f}),
            // JSON has no NaN/inf; HRANA servers send them as null.
            Self::Float(_) => json!({"type": "null"}),
            Self::Text(t) => json!({"type": "text", "value": t}),
            Self::Blob(b) => json!({"type": "blob", "base64": B64.encode(b)}),
        };
        v.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            #[serde(rename = "type")]
            ty: String,
            #[serde(default)]
            value: serde_json::Value,
            #[serde(default)]
            base64: Option<String>,
        }
        let raw = Raw::deserialize(d)?;
        match raw.ty.as_str() {
            "null" => Ok(Self::Null),
            "integer" => match &raw.value {
                serde_json::Value::String(s) => s.trim().parse().map(Self::Integer).map_err(|_| D::Error::custom(format!("integer value `{s}` is not a 64-bit integer"))),
                serde_json::Value::Number(n) => n.as_i64().map(Self::Integer).ok_or_else(|| D::Error::custom("integer value is not a 64-bit integer")),
                _ => Err(D::Error::custom("integer value must be a decimal string")),
            },
            "float" => match &raw.value {
                serde_json::Value::Number(n) => Ok(Self::Float(n.as_f64().unwrap_or(f64::NAN))),
                serde_json::Value::String(s) => s.trim().parse().map(Self::Float).map_err(|_| D::Error::custom("float value is not a number")),
                _ => Err(D::Error::custom("float value must be a number")),
            },
            "text" => match raw.value {
                serde_json::Value::String(s) => Ok(Self::Text(s)),
                _ => Err(D::Error::custom("text value must be a string")),
            },
            "blob" => {
                let b = raw.base64.ok_or_else(|| D::Error::custom("blob value needs `base64`"))?;
                // Clients differ on padding; accept both.
                let trimmed = b.trim_end_matches('=');
                base64::engine::general_purpose::STANDARD_NO_PAD
                    .decode(trimmed)
                    .map(Self::Blob)
                    .map_err(|_| D::Error::custom("blob `base64` is not valid base64"))
            }
            other => Err(D::Error::custom(format!("unknown value type `{other}`"))),
        }
    }
}

/// One statement with its arguments.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Statement {
    /// The SQL text (one statement).
    pub sql: String,
    /// Positional arguments, bound to `?`, `?1`, … in order.
    pub args: Vec<Value>,
    /// Named arguments (`:name`, `@name`, `$name`; the prefix may be omitted).
    pub named_args: Vec<(String, Value)>,
    /// When false, rows are not returned (the statement still runs to completion).
    pub want_rows: bool,
}

impl Statement {
    /// Creates a statement without arguments that returns its rows.
    pub fn new(sql: impl Into<String>) -> Self {
        Self { sql: sql.into(), want_rows: true, ..Self::default() }
    }

    /// Creates a statement with positional arguments that returns its rows.
    pub fn with_args(sql: impl Into<String>, args: impl IntoIterator<Item = Value>) -> Self {
        Self { sql: sql.into(), args: args.into_iter().collect(), want_rows: true, named_args: Vec::new() }
    }
}

/// A result column.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Column {
    /// The column name.
    pub name: Option<String>,
    /// The declared type, when the column comes straight from a table.
    pub decltype: Option<String>,
}

/// What one statement produced.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StmtResult {
    /// The result columns.
    pub cols: Vec<Column>,
    /// The rows (empty when `want_rows` was false).
    pub rows: Vec<Vec<Value>>,
    /// Rows inserted, updated or deleted by this statement (0 for queries).
    pub affected_row_count: u64,
    /// The rowid of the last insert on this connection, as a decimal string.
    #[serde(serialize_with = "ser_rowid")]
    pub last_insert_rowid: Option<i64>,
    /// Rows the statement returned.
    pub rows_read: u64,
    /// Rows the statement changed.
    pub rows_written: u64,
    /// How long the statement took, in milliseconds.
    pub query_duration_ms: f64,
}

fn ser_rowid<S: Serializer>(v: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(i) => s.serialize_str(&i.to_string()),
        None => s.serialize_none(),
    }
}

impl StmtResult {
    /// Returns the rows as JSON objects keyed by column name (the admin API's shape).
    pub fn rows_as_objects(&self) -> Vec<serde_json::Value> {
        self.rows
            .iter()
            .map(|row| {
                let mut obj = serde_json::Map::new();
                for (i, v) in row.iter().enumerate() {
                    let name = self.cols.get(i).and_then(|c| c.name.clone()).unwrap_or_else(|| format!("column{i}"));
                    obj.insert(name, v.to_plain_json());
                }
                serde_json::Value::Object(obj)
            })
            .collect()
    }
}

/// What `describe` learned about a statement without running it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Describe {
    /// The parameters, in order (`name` is `None` for `?`).
    pub params: Vec<DescribeParam>,
    /// The result columns.
    pub cols: Vec<DescribeCol>,
    /// Whether the statement is `EXPLAIN`.
    pub is_explain: bool,
    /// Whether the statement only reads.
    pub is_readonly: bool,
}

/// A described parameter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DescribeParam {
    /// The parameter's name with its prefix (`:id`), if named.
    pub name: Option<String>,
}

/// A described result column.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DescribeCol {
    /// The column name.
    pub name: String,
    /// The declared type.
    pub decltype: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_in_hrana_json() {
        for v in [Value::Null, Value::Integer(i64::MAX), Value::Float(1.5), Value::Text("é".into()), Value::Blob(vec![0, 255, 7])] {
            let text = serde_json::to_string(&v).unwrap();
            assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), v, "{text}");
        }
        assert_eq!(serde_json::to_value(Value::Integer(-3)).unwrap(), json!({"type": "integer", "value": "-3"}));
    }

    #[test]
    fn bad_values_are_errors_not_panics() {
        for text in [r#"{"type":"integer","value":"x"}"#, r#"{"type":"blob"}"#, r#"{"type":"nope"}"#, r#"{"type":"text","value":1}"#, "3"] {
            assert!(serde_json::from_str::<Value>(text).is_err(), "{text}");
        }
    }

    #[test]
    fn plain_json_booleans_become_integers() {
        assert_eq!(Value::from_plain_json(&json!(true)), Value::Integer(1));
        assert_eq!(Value::from_plain_json(&json!({"a": 1})), Value::Text(r#"{"a":1}"#.into()));
    }
}
