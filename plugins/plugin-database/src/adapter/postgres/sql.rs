//! PostgreSQL dialect rewriting: a lexer that skips string literals, quoted identifiers, comments
//! and dollar quotes, used to turn libSQL-style placeholders into `$n`, find a statement's verb
//! and translate the few SQLite-only statements the libSQL client sends by itself.

use std::ops::Range;

use crate::error::DbError;
use crate::value::Value;

/// What to do with a statement before PostgreSQL sees it.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Compat {
    /// Send it as written.
    Pass,
    /// Send this PostgreSQL spelling instead (SQLite's `BEGIN IMMEDIATE` …).
    Replace(&'static str),
    /// Answer an empty result without running anything (`PRAGMA foreign_keys = …`).
    NoOp,
}

/// Maps SQLite spellings that `@libsql/client` emits on its own to PostgreSQL.
///
/// `transaction("write"|"read"|"deferred")` and `batch` send `BEGIN IMMEDIATE`,
/// `BEGIN TRANSACTION READONLY` or `BEGIN DEFERRED`; `migrate` wraps its batch in
/// `PRAGMA foreign_keys=off` / `=on`, which has no PostgreSQL equivalent a normal role may use, so
/// it is accepted and ignored. Anything else (including PostgreSQL's own `BEGIN ISOLATION LEVEL …`)
/// passes unchanged.
pub(super) fn sqlite_compat(sql: &str) -> Compat {
    let norm: String = sql
        .trim()
        .trim_end_matches(';')
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_uppercase();
    match norm.as_str() {
        "BEGIN DEFERRED"
        | "BEGIN IMMEDIATE"
        | "BEGIN EXCLUSIVE"
        | "BEGIN DEFERRED TRANSACTION"
        | "BEGIN IMMEDIATE TRANSACTION"
        | "BEGIN EXCLUSIVE TRANSACTION" => Compat::Replace("BEGIN"),
        "BEGIN TRANSACTION READONLY" | "BEGIN READONLY" => Compat::Replace("BEGIN READ ONLY"),
        _ => {
            let compact = norm.replace(' ', "");
            let pragma = compact.strip_prefix("PRAGMAFOREIGN_KEYS=").or_else(|| {
                compact
                    .strip_prefix("PRAGMAFOREIGN_KEYS(")
                    .and_then(|s| s.strip_suffix(')'))
            });
            match pragma {
                Some("ON" | "OFF" | "0" | "1" | "TRUE" | "FALSE") => Compat::NoOp,
                _ => Compat::Pass,
            }
        }
    }
}

/// Returns the byte ranges of `sql` that are code: outside string literals (`'…'`, `E'…'`),
/// quoted identifiers (`"…"`), comments (`--`, nested `/* */`) and dollar quotes (`$tag$…$tag$`).
pub(super) fn code_spans(sql: &str) -> Vec<Range<usize>> {
    let b = sql.as_bytes();
    let mut spans = Vec::new();
    let (mut i, mut start) = (0, 0);
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80;
    while i < b.len() {
        let skip_to = match b[i] {
            b'\'' => {
                let escapes =
                    i > 0 && (b[i - 1] == b'e' || b[i - 1] == b'E') && (i < 2 || !ident(b[i - 2]));
                Some(end_of_quote(b, i + 1, b'\'', escapes))
            }
            b'"' => Some(end_of_quote(b, i + 1, b'"', false)),
            b'-' if b.get(i + 1) == Some(&b'-') => Some(
                b[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(b.len(), |p| i + p + 1),
            ),
            b'/' if b.get(i + 1) == Some(&b'*') => Some(end_of_block_comment(b, i + 2)),
            b'$' if (i == 0 || !ident(b[i - 1]))
                && !b.get(i + 1).is_some_and(u8::is_ascii_digit) =>
            {
                let tag_len = b[i + 1..]
                    .iter()
                    .position(|&c| !(c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80));
                match tag_len {
                    Some(n) if b[i + 1 + n] == b'$' => {
                        let tag = &b[i..i + n + 2];
                        let body = i + n + 2;
                        Some(
                            b[body..]
                                .windows(tag.len())
                                .position(|w| w == tag)
                                .map_or(b.len(), |p| body + p + tag.len()),
                        )
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        match skip_to {
            Some(end) => {
                if start < i {
                    spans.push(start..i);
                }
                i = end;
                start = end;
            }
            None => i += 1,
        }
    }
    if start < b.len() {
        spans.push(start..b.len());
    }
    spans
}

fn end_of_quote(b: &[u8], mut i: usize, q: u8, backslash: bool) -> usize {
    while i < b.len() {
        if backslash && b[i] == b'\\' {
            i += 2;
            continue;
        }
        if b[i] == q {
            // A doubled quote is an escaped one.
            if b.get(i + 1) == Some(&q) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    b.len()
}

fn end_of_block_comment(b: &[u8], mut i: usize) -> usize {
    let mut depth = 1;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            depth += 1;
            i += 2;
        } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    b.len()
}

/// Returns the statement's main verb, uppercased: its first keyword, or for `WITH …` the first
/// `SELECT`/`INSERT`/`UPDATE`/`DELETE`/`MERGE`/`VALUES`/`TABLE` outside the CTEs' parentheses.
pub(super) fn verb(sql: &str) -> String {
    let mut depth = 0i32;
    let mut first: Option<String> = None;
    for span in code_spans(sql) {
        let code = &sql[span];
        let b = code.as_bytes();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'(' => depth += 1,
                b')' => depth -= 1,
                c if c.is_ascii_alphabetic() && depth == 0 => {
                    let end = b[i..]
                        .iter()
                        .position(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))
                        .map_or(b.len(), |p| i + p);
                    let word = code[i..end].to_ascii_uppercase();
                    match &first {
                        None if word != "WITH" => return word,
                        None => first = Some(word),
                        Some(_)
                            if matches!(
                                word.as_str(),
                                "SELECT"
                                    | "INSERT"
                                    | "UPDATE"
                                    | "DELETE"
                                    | "MERGE"
                                    | "VALUES"
                                    | "TABLE"
                            ) =>
                        {
                            return word;
                        }
                        Some(_) => {}
                    }
                    i = end;
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
    }
    first.unwrap_or_default()
}

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
    let spans = code_spans(sql);
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

    #[test]
    fn verbs_see_through_comments_and_ctes() {
        assert_eq!(verb("  /* x */ select 1"), "SELECT");
        assert_eq!(
            verb(
                "WITH a AS (SELECT 1), b AS (DELETE FROM t RETURNING *) INSERT INTO u SELECT * FROM b"
            ),
            "INSERT"
        );
        assert_eq!(
            verb("WITH RECURSIVE r(n) AS (VALUES (1)) SELECT * FROM r"),
            "SELECT"
        );
        assert_eq!(verb("-- c\nBEGIN"), "BEGIN");
    }

    #[test]
    fn sqlite_spellings_from_the_libsql_client_map_to_postgres() {
        assert_eq!(sqlite_compat("BEGIN IMMEDIATE"), Compat::Replace("BEGIN"));
        assert_eq!(sqlite_compat("begin deferred;"), Compat::Replace("BEGIN"));
        assert_eq!(
            sqlite_compat("BEGIN TRANSACTION READONLY"),
            Compat::Replace("BEGIN READ ONLY")
        );
        assert_eq!(sqlite_compat("PRAGMA foreign_keys=off"), Compat::NoOp);
        assert_eq!(sqlite_compat("PRAGMA foreign_keys = ON"), Compat::NoOp);
        assert_eq!(sqlite_compat("PRAGMA journal_mode=wal"), Compat::Pass);
        assert_eq!(
            sqlite_compat("BEGIN ISOLATION LEVEL SERIALIZABLE"),
            Compat::Pass
        );
    }
}
