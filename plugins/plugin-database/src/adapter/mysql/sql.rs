//! MySQL placeholders: libSQL's `?NNN` and named arguments rewritten to `?`, with the values
//! reordered to match, outside strings, `` `identifiers` `` and comments.

use crate::adapter::sql::{Dialect, code_spans};
use crate::error::DbError;
use crate::value::Value;

/// Rewrites libSQL placeholders to MySQL's `?` and orders the values to match: `?` takes the next
/// positional argument, `?NNN` the NNN-th, and `:name`/`@name`/`$name` the named argument (only
/// names given are touched, so `@user_variables` stay).
pub(super) fn bind(
    sql: &str,
    args: &[Value],
    named: &[(String, Value)],
) -> Result<(String, Vec<Value>), DbError> {
    let names: Vec<&str> = named
        .iter()
        .map(|(n, _)| n.trim_start_matches([':', '@', '$']))
        .collect();
    let mut out = String::with_capacity(sql.len());
    let mut values = Vec::new();
    let mut next = 0usize;
    let mut last = 0;
    let range = |n: usize| DbError::Sql {
        code: "SQLITE_RANGE".into(),
        message: format!("the statement uses argument {n}, {} given", args.len()),
    };
    for span in code_spans(sql, Dialect::MySql) {
        out.push_str(&sql[last..span.start]);
        let code = &sql[span.clone()];
        let b = code.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            if c == b'?' {
                let digits = b[i + 1..].iter().take_while(|d| d.is_ascii_digit()).count();
                let n = if digits > 0 {
                    code[i + 1..i + 1 + digits].parse().unwrap_or(0)
                } else {
                    next + 1
                };
                next = next.max(n);
                values.push(
                    args.get(n.wrapping_sub(1))
                        .cloned()
                        .ok_or_else(|| range(n))?,
                );
                out.push('?');
                i += 1 + digits;
                continue;
            }
            let prev_ok = i == 0
                || !(b[i - 1].is_ascii_alphanumeric()
                    || b[i - 1] == b'_'
                    || b[i - 1] == b':'
                    || b[i - 1] == b'@');
            if matches!(c, b':' | b'@' | b'$') && prev_ok && !names.is_empty() {
                let len = b[i + 1..]
                    .iter()
                    .take_while(|d| d.is_ascii_alphanumeric() || **d == b'_')
                    .count();
                if let Some(k) = names
                    .iter()
                    .position(|n| len > 0 && *n == &code[i + 1..i + 1 + len])
                {
                    values.push(named[k].1.clone());
                    out.push('?');
                    i += 1 + len;
                    continue;
                }
            }
            let ch = code[i..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&code[i..i + ch]);
            i += ch;
        }
        last = span.end;
    }
    out.push_str(&sql[last..]);
    if next < args.len() {
        return Err(DbError::Sql {
            code: "SQLITE_RANGE".into(),
            message: format!("{} arguments given, the statement takes {next}", args.len()),
        });
    }
    Ok((out, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_question_marks_in_value_order() {
        let args = [Value::Integer(1), Value::Integer(2)];
        let named = [("n".to_owned(), Value::from("x"))];
        let (sql, vals) = bind("SELECT ?2, '?', `?`, ?1, :n, @user # ?", &args, &named).unwrap();
        assert_eq!(sql, "SELECT ?, '?', `?`, ?, ?, @user # ?");
        assert_eq!(
            vals,
            vec![Value::Integer(2), Value::Integer(1), Value::from("x")]
        );
        assert!(bind("SELECT ?", &[], &[]).is_err(), "too few arguments");
        assert!(bind("SELECT 1", &args, &[]).is_err(), "too many arguments");
    }
}
