//! PostgreSQL placeholders: libSQL's `?`, `?NNN` and named arguments rewritten to `$n`, outside
//! string literals, quoted identifiers, comments and dollar quotes.

use crate::adapter::sql::{Dialect, code_spans};
use crate::error::DbError;
use crate::value::Value;

/// A statement rewritten for PostgreSQL: `$n` placeholders and the arguments in `$n` order.
#[derive(Debug, PartialEq)]
pub(super) struct Bound {
    /// The SQL with `$1`, `$2`, … only.
    pub(super) sql: String,
    /// The values for `$1`, `$2`, …
    pub(super) args: Vec<Value>,
}

/// Rewrites placeholders outside literals, identifiers and comments:
///
/// * with `translate_question_marks`, and only if the SQL has no `$n` of its own: `?` becomes the
///   next `$n` and `?NNN` becomes `$NNN` (SQLite numbering);
/// * each named argument's `:name`, `@name` or `$name` becomes `$k` after the positional ones
///   (only names the caller passed are touched, so `::` casts and operators stay intact).
///
/// # Errors
/// A named argument the statement does not use (`SQLITE_RANGE`, as SQLite reports it).
pub(super) fn bind(
    sql: &str,
    args: Vec<Value>,
    named: Vec<(String, Value)>,
    translate_question_marks: bool,
) -> Result<Bound, DbError> {
    let spans = code_spans(sql, Dialect::Postgres);
    let has_dollar_n = spans.iter().any(|s| {
        sql[s.clone()]
            .as_bytes()
            .windows(2)
            .any(|w| w[0] == b'$' && w[1].is_ascii_digit())
    });
    let translate_q = translate_question_marks && !has_dollar_n;
    if !translate_q && named.is_empty() {
        return Ok(Bound {
            sql: sql.to_owned(),
            args,
        });
    }
    let names: Vec<String> = named
        .iter()
        .map(|(n, _)| n.trim_start_matches([':', '@', '$']).to_owned())
        .collect();
    let mut used = vec![false; names.len()];
    let positional = args.len();
    let mut out = String::with_capacity(sql.len() + 8);
    let mut next_q = 0usize;
    let mut last = 0;
    for span in spans {
        out.push_str(&sql[last..span.start]);
        let code = &sql[span.clone()];
        let b = code.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            if c == b'?' && translate_q {
                let digits = b[i + 1..].iter().take_while(|d| d.is_ascii_digit()).count();
                if digits > 0 {
                    let n: usize = code[i + 1..i + 1 + digits].parse().unwrap_or(0);
                    next_q = next_q.max(n);
                    out.push('$');
                    out.push_str(&code[i + 1..i + 1 + digits]);
                } else {
                    next_q += 1;
                    out.push_str(&format!("${next_q}"));
                }
                i += 1 + digits;
                continue;
            }
            let prev_ok = i == 0
                || !(b[i - 1].is_ascii_alphanumeric()
                    || b[i - 1] == b'_'
                    || b[i - 1] == b':'
                    || b[i - 1] == b'$');
            if matches!(c, b':' | b'@' | b'$') && prev_ok && !names.is_empty() {
                let len = b[i + 1..]
                    .iter()
                    .take_while(|d| d.is_ascii_alphanumeric() || **d == b'_')
                    .count();
                let word = &code[i + 1..i + 1 + len];
                if len > 0
                    && !(c == b':' && b.get(i + 1) == Some(&b':'))
                    && let Some(k) = names.iter().position(|n| n == word)
                {
                    used[k] = true;
                    out.push_str(&format!("${}", positional + k + 1));
                    i += 1 + len;
                    continue;
                }
            }
            // Copy one UTF-8 character.
            let ch_len = code[i..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&code[i..i + ch_len]);
            i += ch_len;
        }
        last = span.end;
    }
    out.push_str(&sql[last..]);
    if let Some(k) = used.iter().position(|u| !u) {
        return Err(DbError::Sql {
            code: "SQLITE_RANGE".into(),
            message: format!("the statement has no parameter named `{}`", names[k]),
        });
    }
    let mut all = args;
    all.extend(named.into_iter().map(|(_, v)| v));
    Ok(Bound {
        sql: out,
        args: all,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(sql: &str) -> String {
        bind(sql, vec![], vec![], true).unwrap().sql
    }

    #[test]
    fn question_marks_outside_literals_become_dollar_numbers() {
        assert_eq!(q("SELECT ?, ?"), "SELECT $1, $2");
        assert_eq!(q("SELECT ?2, ?1, ?"), "SELECT $2, $1, $3");
        assert_eq!(
            q("SELECT '?', \"a?\", ? -- ?\n, /* ? /* ? */ ? */ ?"),
            "SELECT '?', \"a?\", $1 -- ?\n, /* ? /* ? */ ? */ $2"
        );
        assert_eq!(
            q("SELECT 'it''s ?', E'\\' ?', ?"),
            "SELECT 'it''s ?', E'\\' ?', $1"
        );
        assert_eq!(
            q("SELECT $$ ? $$, $f$ ?$$ $f$, ?"),
            "SELECT $$ ? $$, $f$ ?$$ $f$, $1"
        );
        assert_eq!(q("SELECT 'héllo', ?"), "SELECT 'héllo', $1");
    }

    #[test]
    fn native_dollar_placeholders_turn_question_mark_translation_off() {
        assert_eq!(
            q("SELECT data ? 'k' FROM t WHERE id = $1"),
            "SELECT data ? 'k' FROM t WHERE id = $1"
        );
        assert_eq!(
            bind("SELECT data ? 'k'", vec![], vec![], false)
                .unwrap()
                .sql,
            "SELECT data ? 'k'"
        );
        assert_eq!(
            q("SELECT '$1', ?"),
            "SELECT '$1', $1",
            "a `$1` inside a literal does not count"
        );
    }

    #[test]
    fn named_arguments_follow_the_positional_ones() {
        let named = vec![
            ("b".to_owned(), Value::Integer(2)),
            (":a".to_owned(), Value::Integer(1)),
        ];
        let b = bind(
            "SELECT :a + @b + $b, x::int, ?",
            vec![Value::Integer(9)],
            named,
            true,
        )
        .unwrap();
        assert_eq!(b.sql, "SELECT $3 + $2 + $2, x::int, $1");
        assert_eq!(
            b.args,
            vec![Value::Integer(9), Value::Integer(2), Value::Integer(1)]
        );
        let err = bind("SELECT :a", vec![], vec![("zz".into(), Value::Null)], true).unwrap_err();
        assert!(err.to_string().contains("`zz`"), "{err}");
    }
}
