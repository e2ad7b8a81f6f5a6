//! `where` filters (§A.8), compiled to one parameterised SQL predicate over the stored JSON value.
//!
//! Every operand and every JSON path is a bound parameter; only operator shapes come from code, so
//! no part of a filter is ever spliced into the SQL text.

use buntime_plugin_database::Value as Sql;
use serde_json::{Map, Value};

use crate::dialect::Dialect;
use crate::error::KvError;
use crate::value::now_placeholder;

/// The deepest `$and`/`$or`/`$not` nesting accepted.
const MAX_DEPTH: usize = 16;
/// The most conditions one filter may hold.
const MAX_CONDITIONS: usize = 256;

/// A compiled filter: an SQL boolean expression and its arguments, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// The predicate, parenthesised.
    pub sql: String,
    /// Its arguments.
    pub args: Vec<Sql>,
}

struct Builder {
    d: Dialect,
    now: i64,
    args: Vec<Sql>,
    conditions: usize,
}

fn bad(msg: impl Into<String>) -> KvError {
    KvError::invalid(format!("where: {}", msg.into()))
}

/// Compiles a `where` object; `now` (epoch ms) resolves `$now` operands.
///
/// # Errors
/// An unknown operator, an operand of the wrong type, or a filter over the size limits; the
/// message names the field and operator.
pub fn compile(filter: &Value, d: Dialect, now: i64) -> Result<Filter, KvError> {
    let Value::Object(map) = filter else {
        return Err(bad("must be an object"));
    };
    let mut b = Builder {
        d,
        now,
        args: Vec::new(),
        conditions: 0,
    };
    let sql = b.object(map, 0)?;
    Ok(Filter { sql, args: b.args })
}

/// Turns a field name into a JSON path: `$…` is taken as written; dot paths are split, numeric
/// segments become array indexes and other segments are quoted.
pub fn json_path(field: &str) -> Result<String, KvError> {
    if field.is_empty() {
        return Err(bad("field names must not be empty"));
    }
    if field.starts_with('$') {
        return Ok(field.to_owned());
    }
    let mut path = String::from("$");
    for seg in field.split('.') {
        if seg.is_empty() {
            return Err(bad(format!("field `{field}` has an empty path segment")));
        }
        if seg.bytes().all(|b| b.is_ascii_digit()) {
            path.push_str(&format!("[{seg}]"));
        } else {
            path.push_str(&format!(
                ".\"{}\"",
                seg.replace('\\', "\\\\").replace('"', "\\\"")
            ));
        }
    }
    Ok(path)
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
pub fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn and(d: Dialect, parts: Vec<String>) -> String {
    if parts.is_empty() {
        d.true_sql().into()
    } else {
        format!("({})", parts.join(" AND "))
    }
}

impl Builder {
    fn object(&mut self, map: &Map<String, Value>, depth: usize) -> Result<String, KvError> {
        if depth > MAX_DEPTH {
            return Err(bad(format!("filters nest at most {MAX_DEPTH} levels")));
        }
        let mut parts = Vec::new();
        for (k, v) in map {
            let part = match k.as_str() {
                "$and" | "$or" => {
                    let Value::Array(items) = v else {
                        return Err(bad(format!("{k} must be an array of filters")));
                    };
                    let mut subs = Vec::new();
                    for item in items {
                        let Value::Object(m) = item else {
                            return Err(bad(format!("{k} must be an array of filters")));
                        };
                        subs.push(self.object(m, depth + 1)?);
                    }
                    match (k.as_str(), subs.is_empty()) {
                        (_, true) => self.d.true_sql().into(),
                        ("$and", _) => format!("({})", subs.join(" AND ")),
                        _ => format!("({})", subs.join(" OR ")),
                    }
                }
                "$not" => {
                    let Value::Object(m) = v else {
                        return Err(bad("$not must be a filter object"));
                    };
                    let inner = self.object(m, depth + 1)?;
                    self.not(&inner)
                }
                field => self.field(field, v)?,
            };
            parts.push(part);
        }
        Ok(and(self.d, parts))
    }

    /// `NOT x`, where an unknown (NULL) `x` counts as false.
    fn not(&self, x: &str) -> String {
        format!("(NOT COALESCE({x}, {}))", self.d.false_sql())
    }

    fn field(&mut self, field: &str, cond: &Value) -> Result<String, KvError> {
        let path = self.d.bind_path(&json_path(field)?)?;
        match cond {
            Value::Object(ops)
                if ops.keys().any(|k| k.starts_with('$'))
                    && now_placeholder(ops, self.now).is_none() =>
            {
                let mut parts = Vec::new();
                for (op, operand) in ops {
                    parts.push(self.op(field, &path, op, operand)?);
                }
                Ok(and(self.d, parts))
            }
            other => self.op(field, &path, "$eq", other),
        }
    }

    fn count(&mut self) -> Result<(), KvError> {
        self.conditions += 1;
        if self.conditions > MAX_CONDITIONS {
            Err(bad(format!(
                "filters hold at most {MAX_CONDITIONS} conditions"
            )))
        } else {
            Ok(())
        }
    }

    /// The number at the path, with the path bound.
    fn num_at(&mut self, path: &str) -> String {
        self.args.push(Sql::Text(path.to_owned()));
        self.d.json_num().to_owned()
    }

    /// The string at the path, with the path bound.
    fn str_at(&mut self, path: &str) -> String {
        self.args.push(Sql::Text(path.to_owned()));
        self.d.json_str().to_owned()
    }

    /// `json_type(value, ?)` with the path bound.
    fn jtype(&mut self, path: &str) -> String {
        self.args.push(Sql::Text(path.to_owned()));
        self.d.json_type().to_owned()
    }

    fn arg(&mut self, v: Sql) -> &'static str {
        self.args.push(v);
        "?"
    }

    /// Resolves `$now` placeholders in a comparison operand.
    fn operand(&self, v: &Value) -> Value {
        match v {
            Value::Object(m) => now_placeholder(m, self.now).map_or_else(|| v.clone(), Value::from),
            _ => v.clone(),
        }
    }

    fn eq(&mut self, path: &str, v: &Value) -> String {
        match v {
            Value::Null => {
                let t = self.jtype(path);
                format!("({t} = 'null')")
            }
            Value::Bool(b) => {
                let t = self.jtype(path);
                format!("({t} = '{b}')")
            }
            Value::Number(n) => {
                let t = self.jtype(path);
                let x = self.num_at(path);
                let a = self.arg(num(n));
                format!("({t} IN ('integer', 'real') AND {x} = {a})")
            }
            Value::String(s) => {
                let t = self.jtype(path);
                let x = self.str_at(path);
                let a = self.arg(Sql::Text(s.clone()));
                format!("({t} = 'text' AND {x} = {a})")
            }
            Value::Array(_) | Value::Object(_) => {
                self.args.push(Sql::Text(path.to_owned()));
                self.args.push(Sql::Text(v.to_string()));
                format!("({})", self.d.json_doc_eq())
            }
        }
    }

    fn compare(
        &mut self,
        field: &str,
        path: &str,
        op: &str,
        sql_op: &str,
        v: &Value,
    ) -> Result<String, KvError> {
        let v = self.operand(v);
        let (ty, arg, numeric) = match &v {
            Value::Number(n) => ("IN ('integer', 'real')", num(n), true),
            Value::String(s) => ("= 'text'", Sql::Text(s.clone()), false),
            _ => {
                return Err(bad(format!(
                    "`{field}`: {op} needs a number, a string or {{\"$now\":true}}"
                )));
            }
        };
        let t = self.jtype(path);
        let x = if numeric {
            self.num_at(path)
        } else {
            self.str_at(path)
        };
        let a = self.arg(arg);
        Ok(format!("({t} {ty} AND {x} {sql_op} {a})"))
    }

    fn text_op(&mut self, field: &str, path: &str, op: &str, v: &Value) -> Result<String, KvError> {
        let Value::String(s) = v else {
            return Err(bad(format!("`{field}`: {op} needs a string")));
        };
        let t = self.jtype(path);
        let x = self.str_at(path);
        let ta = self.d.text_arg();
        let expr = match op {
            "$contains" | "$notContains" => {
                self.args.push(Sql::Text(s.clone()));
                self.d.contains(&x)
            }
            "$startsWith" => {
                self.args.push(Sql::Text(s.clone()));
                self.args.push(Sql::Text(s.clone()));
                format!("substr({x}, 1, length({ta})) = {ta}")
            }
            "$endsWith" => {
                // Arguments bind in text order: `x` was pushed first, so it comes first.
                for _ in 0..3 {
                    self.args.push(Sql::Text(s.clone()));
                }
                self.d.ends_with(&x)
            }
            _ => {
                let pattern = match op {
                    "$containsi" | "$notContainsi" => format!("%{}%", like_escape(s)),
                    "$startsWithi" => format!("{}%", like_escape(s)),
                    _ => format!("%{}", like_escape(s)),
                };
                self.args.push(Sql::Text(pattern));
                format!("lower({x}) LIKE lower({ta}) ESCAPE '\\'")
            }
        };
        let positive = format!("({t} = 'text' AND {expr})");
        Ok(if op.starts_with("$not") {
            self.not(&positive)
        } else {
            positive
        })
    }

    fn empty(&mut self, path: &str) -> String {
        let t1 = self.jtype(path);
        let t2 = self.jtype(path);
        let t3 = self.jtype(path);
        let x = self.str_at(path);
        let t4 = self.jtype(path);
        self.args.push(Sql::Text(path.to_owned()));
        let len = self.d.json_array_length();
        format!(
            "({t1} IS NULL OR {t2} = 'null' OR ({t3} = 'text' AND {x} = '') OR ({t4} = 'array' AND {len} = 0))"
        )
    }

    fn op(&mut self, field: &str, path: &str, op: &str, v: &Value) -> Result<String, KvError> {
        self.count()?;
        let flag = |v: &Value| {
            v.as_bool()
                .ok_or_else(|| bad(format!("`{field}`: {op} needs true or false")))
        };
        Ok(match op {
            "$eq" => {
                let v = self.operand(v);
                self.eq(path, &v)
            }
            "$ne" => {
                let v = self.operand(v);
                let e = self.eq(path, &v);
                self.not(&e)
            }
            "$gt" => self.compare(field, path, op, ">", v)?,
            "$gte" => self.compare(field, path, op, ">=", v)?,
            "$lt" => self.compare(field, path, op, "<", v)?,
            "$lte" => self.compare(field, path, op, "<=", v)?,
            "$between" => {
                let Some([lo, hi]) = v
                    .as_array()
                    .and_then(|a| <&[Value; 2]>::try_from(a.as_slice()).ok())
                else {
                    return Err(bad(format!("`{field}`: $between needs [low, high]")));
                };
                let a = self.compare(field, path, op, ">=", lo)?;
                let b = self.compare(field, path, op, "<=", hi)?;
                format!("({a} AND {b})")
            }
            "$in" | "$nin" => {
                let Value::Array(items) = v else {
                    return Err(bad(format!("`{field}`: {op} needs an array")));
                };
                let mut alts = Vec::new();
                for item in items {
                    self.count()?;
                    let item = self.operand(item);
                    alts.push(self.eq(path, &item));
                }
                let any = if alts.is_empty() {
                    self.d.false_sql().to_owned()
                } else {
                    format!("({})", alts.join(" OR "))
                };
                if op == "$in" { any } else { self.not(&any) }
            }
            "$contains" | "$notContains" | "$startsWith" | "$endsWith" | "$containsi"
            | "$notContainsi" | "$startsWithi" | "$endsWithi" => {
                self.text_op(field, path, op, v)?
            }
            "$null" => {
                let t1 = self.jtype(path);
                let t2 = self.jtype(path);
                let is_null = format!("({t1} IS NULL OR {t2} = 'null')");
                if flag(v)? {
                    is_null
                } else {
                    format!("(NOT {is_null})")
                }
            }
            "$empty" | "$notEmpty" => {
                let e = self.empty(path);
                if flag(v)? == (op == "$empty") {
                    e
                } else {
                    format!("(NOT {e})")
                }
            }
            other => return Err(bad(format!("`{field}`: unknown operator {other}"))),
        })
    }
}

fn num(n: &serde_json::Number) -> Sql {
    n.as_i64()
        .map_or_else(|| Sql::Float(n.as_f64().unwrap_or(0.0)), Sql::Integer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_are_quoted_and_indexed() {
        assert_eq!(json_path("a.b").unwrap(), "$.\"a\".\"b\"");
        assert_eq!(
            json_path("items.0.name").unwrap(),
            "$.\"items\"[0].\"name\""
        );
        assert_eq!(json_path("we\"ird").unwrap(), "$.\"we\\\"ird\"");
        assert_eq!(json_path("$.x[1]").unwrap(), "$.x[1]");
        assert!(json_path("a..b").is_err() && json_path("").is_err());
    }

    #[test]
    fn operands_are_bound_never_spliced() {
        let f = compile(
            &json!({"name": "x' OR 1=1 --", "n": {"$gt": 3}}),
            Dialect::Sqlite,
            0,
        )
        .unwrap();
        assert!(!f.sql.contains("OR 1=1"), "{}", f.sql);
        assert!(
            f.args.contains(&Sql::Text("x' OR 1=1 --".into())) && f.args.contains(&Sql::Integer(3))
        );
        assert_eq!(f.sql.matches('?').count(), f.args.len());
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_escape("50%_a\\b"), "50\\%\\_a\\\\b");
    }

    #[test]
    fn bad_filters_name_field_and_operator() {
        let cases = [
            (json!({"a": {"$gt": [1]}}), "`a`: $gt"),
            (json!({"a": {"$nope": 1}}), "unknown operator $nope"),
            (
                json!({"a": {"$between": [1]}}),
                "$between needs [low, high]",
            ),
            (json!({"a": {"$in": 3}}), "$in needs an array"),
            (json!({"a": {"$null": "yes"}}), "$null needs true or false"),
            (json!({"$or": {}}), "$or must be an array"),
            (json!([1]), "must be an object"),
        ];
        for (f, needle) in cases {
            let e = compile(&f, Dialect::Sqlite, 0).unwrap_err().to_string();
            assert!(e.starts_with("where: ") && e.contains(needle), "{f}: {e}");
        }
    }
}
