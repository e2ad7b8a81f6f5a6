//! Dialect-aware SQL lexing shared by the server adapters: which parts of a statement are code
//! (not literals, quoted identifiers or comments), its main verb, and the SQLite spellings the
//! libSQL client sends by itself, mapped for the other engines.

use std::ops::Range;

/// What to do with a statement before a server engine sees it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Compat {
    /// Send it as written.
    Pass,
    /// SQLite's `BEGIN IMMEDIATE` and friends: open a transaction in the engine's spelling.
    Begin {
        /// `BEGIN TRANSACTION READONLY`.
        read_only: bool,
    },
    /// Answer an empty result without running anything (`PRAGMA foreign_keys = …`).
    NoOp,
}

/// What a libSQL client's statement becomes on a server engine: `None` when it is a no-op there,
/// else the SQL to send, a `BEGIN …` spelt by the engine's `begin(read_only)`.
pub(crate) fn server_sql(sql: String, begin: fn(bool) -> &'static str) -> Option<String> {
    match sqlite_compat(&sql) {
        Compat::NoOp => None,
        Compat::Begin { read_only } => Some(begin(read_only).to_owned()),
        Compat::Pass => Some(sql),
    }
}

/// Recognises the SQLite spellings that `@libsql/client` emits on its own.
///
/// `transaction("write"|"read"|"deferred")` and `batch` send `BEGIN IMMEDIATE`,
/// `BEGIN TRANSACTION READONLY` or `BEGIN DEFERRED`; `migrate` wraps its batch in
/// `PRAGMA foreign_keys=off` / `=on`, which has no PostgreSQL equivalent a normal role may use, so
/// it is accepted and ignored. Anything else (including PostgreSQL's own `BEGIN ISOLATION LEVEL …`)
/// passes unchanged.
pub(crate) fn sqlite_compat(sql: &str) -> Compat {
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
        | "BEGIN EXCLUSIVE TRANSACTION" => Compat::Begin { read_only: false },
        "BEGIN TRANSACTION READONLY" | "BEGIN READONLY" => Compat::Begin { read_only: true },
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

/// The SQL dialect a lexer follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// `'…'` (backslash escapes only in `E'…'`), `"identifiers"`, `--`, nested `/* */`, `$tag$…$tag$`.
    Postgres,
    /// `'…'` and `"…"` strings with backslash escapes, `` `identifiers` ``, `-- `, `#`, `/* */`.
    MySql,
}

/// Returns the byte ranges of `sql` that are code: outside string literals, quoted identifiers,
/// comments and (PostgreSQL) dollar quotes, as `dialect` spells them.
pub(crate) fn code_spans(sql: &str, dialect: Dialect) -> Vec<Range<usize>> {
    let pg = dialect == Dialect::Postgres;
    let b = sql.as_bytes();
    let mut spans = Vec::new();
    let (mut i, mut start) = (0, 0);
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80;
    while i < b.len() {
        let skip_to = match b[i] {
            b'\'' | b'"' if !pg => Some(end_of_quote(b, i + 1, b[i], true)),
            b'`' if !pg => Some(end_of_quote(b, i + 1, b'`', false)),
            b'#' if !pg => Some(end_of_line(b, i)),
            b'\'' => {
                let escapes =
                    i > 0 && (b[i - 1] == b'e' || b[i - 1] == b'E') && (i < 2 || !ident(b[i - 2]));
                Some(end_of_quote(b, i + 1, b'\'', escapes))
            }
            b'"' => Some(end_of_quote(b, i + 1, b'"', false)),
            // MySQL wants whitespace after `--` (`1--1` is arithmetic there).
            b'-' if b.get(i + 1) == Some(&b'-')
                && (pg || b.get(i + 2).is_none_or(u8::is_ascii_whitespace)) =>
            {
                Some(end_of_line(b, i))
            }
            b'/' if b.get(i + 1) == Some(&b'*') => Some(end_of_block_comment(b, i + 2, pg)),
            b'$' if pg
                && (i == 0 || !ident(b[i - 1]))
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

fn end_of_line(b: &[u8], i: usize) -> usize {
    b[i..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(b.len(), |p| i + p + 1)
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

fn end_of_block_comment(b: &[u8], mut i: usize, nested: bool) -> usize {
    let mut depth = 1;
    while i < b.len() {
        if nested && b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
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
pub(crate) fn verb(sql: &str, dialect: Dialect) -> String {
    let mut depth = 0i32;
    let mut first: Option<String> = None;
    for span in code_spans(sql, dialect) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_see_through_comments_and_ctes() {
        let pg = |sql: &str| verb(sql, Dialect::Postgres);
        assert_eq!(pg("  /* x */ select 1"), "SELECT");
        assert_eq!(
            pg(
                "WITH a AS (SELECT 1), b AS (DELETE FROM t RETURNING *) INSERT INTO u SELECT * FROM b"
            ),
            "INSERT"
        );
        assert_eq!(
            pg("WITH RECURSIVE r(n) AS (VALUES (1)) SELECT * FROM r"),
            "SELECT"
        );
        assert_eq!(pg("-- c\nBEGIN"), "BEGIN");
        assert_eq!(verb("# c\nupdate t set a = 1", Dialect::MySql), "UPDATE");
    }

    #[test]
    fn sqlite_spellings_from_the_libsql_client_are_recognised() {
        assert_eq!(
            sqlite_compat("BEGIN IMMEDIATE"),
            Compat::Begin { read_only: false }
        );
        assert_eq!(
            sqlite_compat("begin deferred;"),
            Compat::Begin { read_only: false }
        );
        assert_eq!(
            sqlite_compat("BEGIN TRANSACTION READONLY"),
            Compat::Begin { read_only: true }
        );
        assert_eq!(sqlite_compat("PRAGMA foreign_keys=off"), Compat::NoOp);
        assert_eq!(sqlite_compat("PRAGMA foreign_keys = ON"), Compat::NoOp);
        assert_eq!(sqlite_compat("PRAGMA journal_mode=wal"), Compat::Pass);
        assert_eq!(
            sqlite_compat("BEGIN ISOLATION LEVEL SERIALIZABLE"),
            Compat::Pass
        );
    }

    #[test]
    fn mysql_strings_identifiers_and_comments() {
        let code = |sql: &str| {
            code_spans(sql, Dialect::MySql)
                .into_iter()
                .map(|r| sql[r].to_owned())
                .collect::<String>()
        };
        assert_eq!(code(r"SELECT 'it\'s ?', `a?b`, ? # ?"), "SELECT , , ? ");
        assert_eq!(
            code("SELECT 1--1, ? -- ?\n, /* ? */ ?"),
            "SELECT 1--1, ? ,  ?"
        );
        assert_eq!(code(r#"SELECT "a\"?", ?"#), "SELECT , ?");
    }
}
