//! The SCIM filter grammar (RFC 7644 §3.4.2.2), parsed by recursive descent and compiled to a
//! parameterised SQL condition that SQLite and PostgreSQL both run; user input is only ever bound.

use buntime_plugin_database::Value;

/// How an attribute's column compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text compared case-insensitively (`caseExact: false`).
    Text,
    /// Text compared exactly (ids, `externalId`).
    ExactText,
    /// An `INTEGER` 0/1 column.
    Bool,
    /// Unix milliseconds; filter values are RFC 3339 date-times.
    Time,
}

/// A filterable attribute: its column expression (a constant of ours, never user input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// The SQL column expression.
    pub sql: &'static str,
    /// How it compares.
    pub kind: Kind,
}

/// Maps a lower-cased attribute path (schema URN prefix removed) to its column.
pub type Attributes = fn(&str) -> Option<Column>;

/// Why a filter was refused (`scimType: invalidFilter`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FilterError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, FilterError> {
    Err(FilterError(msg.into()))
}

/// A comparison value.
#[derive(Debug, Clone, PartialEq)]
enum Lit {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Num(f64),
    Open,
    Close,
}

fn lex(input: &str) -> Result<Vec<Tok>, FilterError> {
    let mut out = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                out.push(Tok::Open);
            }
            ')' => {
                chars.next();
                out.push(Tok::Close);
            }
            '"' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        None => return err(format!("unterminated string starting at {at}")),
                        Some((_, '"')) => break,
                        Some((_, '\\')) => match chars.next() {
                            Some((_, '"')) => s.push('"'),
                            Some((_, '\\')) => s.push('\\'),
                            Some((_, '/')) => s.push('/'),
                            Some((_, 'n')) => s.push('\n'),
                            Some((_, 't')) => s.push('\t'),
                            Some((_, 'r')) => s.push('\r'),
                            Some((_, 'u')) => {
                                let hex: String = (0..4)
                                    .filter_map(|_| chars.next())
                                    .map(|(_, c)| c)
                                    .collect();
                                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                                    Some(c) if hex.len() == 4 => s.push(c),
                                    _ => {
                                        return err(format!(
                                            "bad \\u escape `\\u{hex}` in a string"
                                        ));
                                    }
                                }
                            }
                            Some((_, other)) => {
                                return err(format!("unknown escape `\\{other}` in a string"));
                            }
                            None => return err("unterminated string"),
                        },
                        Some((_, c)) => s.push(c),
                    }
                }
                out.push(Tok::Str(s));
            }
            c if c == '-' || c.is_ascii_digit() => {
                let mut s = String::new();
                while let Some(&(_, c)) = chars.peek() {
                    if c.is_ascii_digit() || "+-.eE".contains(c) {
                        s.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                match s.parse::<f64>() {
                    Ok(n) => out.push(Tok::Num(n)),
                    Err(_) => return err(format!("`{s}` is not a number")),
                }
            }
            c if c.is_ascii_alphabetic() || c == '$' || c == '_' => {
                let mut s = String::new();
                while let Some(&(_, c)) = chars.peek() {
                    if c.is_ascii_alphanumeric() || "._:-$".contains(c) {
                        s.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push(Tok::Word(s));
            }
            other => return err(format!("unexpected `{other}` at {at}")),
        }
    }
    Ok(out)
}

/// A compiled filter: a SQL condition with `?` placeholders and their values, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    /// The condition.
    pub sql: String,
    /// The bound values.
    pub args: Vec<Value>,
}

struct Parser<'a> {
    toks: Vec<Tok>,
    at: usize,
    attrs: Attributes,
    args: &'a mut Vec<Value>,
}

fn is_kw(t: Option<&Tok>, kw: &str) -> bool {
    matches!(t, Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
}

/// Resolves an attribute path with `attrs`, ignoring a core schema URN prefix and case.
pub fn column(attrs: Attributes, path: &str) -> Result<Column, FilterError> {
    let lower = path.to_ascii_lowercase();
    let short = lower
        .strip_prefix("urn:ietf:params:scim:schemas:core:2.0:user:")
        .or_else(|| lower.strip_prefix("urn:ietf:params:scim:schemas:core:2.0:group:"))
        .unwrap_or(&lower);
    attrs(short).ok_or_else(|| FilterError(format!("unknown attribute `{path}`")))
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn or_expr(&mut self) -> Result<String, FilterError> {
        let mut left = self.and_expr()?;
        while is_kw(self.peek(), "or") {
            self.at += 1;
            let right = self.and_expr()?;
            left = format!("({left} OR {right})");
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<String, FilterError> {
        let mut left = self.unary()?;
        while is_kw(self.peek(), "and") {
            self.at += 1;
            let right = self.unary()?;
            left = format!("({left} AND {right})");
        }
        Ok(left)
    }

    fn group(&mut self) -> Result<String, FilterError> {
        if self.next() != Some(Tok::Open) {
            return err("expected `(`");
        }
        let inner = self.or_expr()?;
        if self.next() != Some(Tok::Close) {
            return err("expected `)`");
        }
        Ok(inner)
    }

    fn unary(&mut self) -> Result<String, FilterError> {
        if is_kw(self.peek(), "not") {
            self.at += 1;
            let inner = self.group()?;
            return Ok(format!("(NOT {inner})"));
        }
        if self.peek() == Some(&Tok::Open) {
            return self.group();
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<String, FilterError> {
        let Some(Tok::Word(path)) = self.next() else {
            return err("expected an attribute name");
        };
        let col = column(self.attrs, &path)?;
        let Some(Tok::Word(op)) = self.next() else {
            return err(format!("expected an operator after `{path}`"));
        };
        let op = op.to_ascii_lowercase();
        if op == "pr" {
            return Ok(match col.kind {
                Kind::Text | Kind::ExactText => {
                    format!("({c} IS NOT NULL AND {c} <> '')", c = col.sql)
                }
                Kind::Bool | Kind::Time => format!("({} IS NOT NULL)", col.sql),
            });
        }
        if !["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"].contains(&op.as_str()) {
            return err(format!("unknown operator `{op}`"));
        }
        let lit = match self.next() {
            Some(Tok::Str(s)) => Lit::Str(s),
            Some(Tok::Num(n)) => Lit::Num(n),
            Some(Tok::Word(w)) if w == "true" => Lit::Bool(true),
            Some(Tok::Word(w)) if w == "false" => Lit::Bool(false),
            Some(Tok::Word(w)) if w == "null" => Lit::Null,
            _ => return err(format!("expected a value after `{path} {op}`")),
        };
        self.compare(col, &path, &op, lit)
    }

    fn bind(&mut self, v: Value) -> &'static str {
        self.args.push(v);
        "?"
    }

    fn compare(
        &mut self,
        col: Column,
        path: &str,
        op: &str,
        lit: Lit,
    ) -> Result<String, FilterError> {
        let c = col.sql;
        if lit == Lit::Null {
            return match op {
                "eq" => Ok(format!("({c} IS NULL)")),
                "ne" => Ok(format!("({c} IS NOT NULL)")),
                _ => err(format!("`{op}` cannot compare with null")),
            };
        }
        match (col.kind, lit) {
            (Kind::Bool, Lit::Bool(b)) => {
                // A constant of ours, not user input: 0/1 columns on every engine.
                let v = i32::from(b);
                match op {
                    "eq" => Ok(format!("({c} = {v})")),
                    "ne" => Ok(format!("({c} <> {v})")),
                    _ => err(format!("`{path}` is a boolean: only eq, ne and pr apply")),
                }
            }
            (Kind::Time, Lit::Str(s)) => {
                let Ok(t) = chrono::DateTime::parse_from_rfc3339(&s) else {
                    return err(format!("`{path}` needs an RFC 3339 date-time, not `{s}`"));
                };
                let sql_op = match op {
                    "eq" => "=",
                    "ne" => "<>",
                    "gt" => ">",
                    "ge" => ">=",
                    "lt" => "<",
                    "le" => "<=",
                    _ => return err(format!("`{path}` is a date-time: `{op}` does not apply")),
                };
                let p = self.bind(Value::Integer(t.timestamp_millis()));
                Ok(format!("({c} {sql_op} {p})"))
            }
            (Kind::Text | Kind::ExactText, Lit::Str(s)) => {
                let exact = col.kind == Kind::ExactText;
                // The value is lower-cased here, not by `LOWER(?)`: PostgreSQL cannot infer the
                // type of a parameter inside an overloaded function. ASCII only, as SQLite's LOWER.
                let (lhs, wrap, s) = if exact {
                    (c.to_owned(), "?", s)
                } else {
                    (format!("LOWER({c})"), "?", s.to_ascii_lowercase())
                };
                let like = |s: &str| {
                    s.replace('\\', "\\\\")
                        .replace('%', "\\%")
                        .replace('_', "\\_")
                };
                let (sql_op, value) = match op {
                    "eq" => ("=", s),
                    "ne" => ("<>", s),
                    "gt" => (">", s),
                    "ge" => (">=", s),
                    "lt" => ("<", s),
                    "le" => ("<=", s),
                    "co" => ("LIKE", format!("%{}%", like(&s))),
                    "sw" => ("LIKE", format!("{}%", like(&s))),
                    _ => ("LIKE", format!("%{}", like(&s))),
                };
                self.bind(Value::Text(value));
                Ok(match (op, sql_op) {
                    (_, "LIKE") => format!("({lhs} LIKE {wrap} ESCAPE '\\')"),
                    // SCIM's `ne` matches resources without the attribute too.
                    ("ne", _) => format!("({c} IS NULL OR {lhs} <> {wrap})"),
                    _ => format!("({lhs} {sql_op} {wrap})"),
                })
            }
            (kind, lit) => err(format!(
                "`{path}` cannot be compared with {}: it is {}",
                match lit {
                    Lit::Num(n) => format!("the number {n}"),
                    Lit::Bool(b) => format!("`{b}`"),
                    Lit::Str(s) => format!("the string \"{s}\""),
                    Lit::Null => "null".to_owned(),
                },
                match kind {
                    Kind::Bool => "a boolean",
                    Kind::Time => "a date-time string",
                    Kind::Text | Kind::ExactText => "a string",
                }
            )),
        }
    }
}

/// Compiles `filter` against the resource's attributes.
///
/// # Errors
/// A syntax error or an unknown attribute, described.
pub fn compile(filter: &str, attrs: Attributes) -> Result<Compiled, FilterError> {
    let toks = lex(filter)?;
    if toks.is_empty() {
        return err("the filter is empty");
    }
    let mut args = Vec::new();
    let mut p = Parser {
        toks,
        at: 0,
        attrs,
        args: &mut args,
    };
    let sql = p.or_expr()?;
    if p.at < p.toks.len() {
        return err(format!(
            "unexpected {:?} after a complete filter",
            p.toks[p.at]
        ));
    }
    Ok(Compiled { sql, args })
}

/// Reads a value filter of the form `value eq "<string>"` (a `members[…]` path).
pub fn value_eq(filter: &str) -> Option<String> {
    match lex(filter).ok()?.as_slice() {
        [Tok::Word(a), Tok::Word(op), Tok::Str(v)]
            if a.eq_ignore_ascii_case("value") && op.eq_ignore_ascii_case("eq") =>
        {
            Some(v.clone())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(name: &str) -> Option<Column> {
        match name {
            "username" => Some(Column {
                sql: "u.email",
                kind: Kind::Text,
            }),
            "externalid" => Some(Column {
                sql: "u.external_id",
                kind: Kind::ExactText,
            }),
            "active" => Some(Column {
                sql: "u.active",
                kind: Kind::Bool,
            }),
            "meta.created" => Some(Column {
                sql: "u.created_at",
                kind: Kind::Time,
            }),
            _ => None,
        }
    }

    fn sql(f: &str) -> (String, Vec<Value>) {
        let c = compile(f, attrs).unwrap();
        (c.sql, c.args)
    }

    #[test]
    fn and_binds_tighter_than_or_and_not_needs_parentheses() {
        let (s, a) = sql(r#"userName eq "A" or userName eq "b" and active eq true"#);
        assert_eq!(
            s,
            "((LOWER(u.email) = ?) OR ((LOWER(u.email) = ?) AND (u.active = 1)))"
        );
        assert_eq!(a, vec![Value::Text("a".into()), Value::Text("b".into())]);
        let (s, _) = sql(r#"(userName eq "a" or userName eq "b") and not (active eq false)"#);
        assert_eq!(
            s,
            "(((LOWER(u.email) = ?) OR (LOWER(u.email) = ?)) AND (NOT (u.active = 0)))"
        );
    }

    #[test]
    fn escapes_and_like_wildcards_stay_data() {
        let (s, a) = sql(r#"userName co "50%_\"x\\""#);
        assert_eq!(s, "(LOWER(u.email) LIKE ? ESCAPE '\\')");
        assert_eq!(a, vec![Value::Text(r#"%50\%\_"x\\%"#.into())]);
        let (_, a) = sql(r#"externalId sw "a\u0041""#);
        assert_eq!(a, vec![Value::Text("aA%".into())]);
    }

    #[test]
    fn operators_keywords_and_urns_are_case_insensitive() {
        let (s, _) = sql("urn:ietf:params:scim:schemas:core:2.0:User:USERNAME PR");
        assert_eq!(s, "(u.email IS NOT NULL AND u.email <> '')");
        let (s, a) = sql(r#"meta.created GT "2020-01-01T00:00:00Z""#);
        assert_eq!(s, "(u.created_at > ?)");
        assert_eq!(a, vec![Value::Integer(1_577_836_800_000)]);
        assert_eq!(sql("externalId eq null").0, "(u.external_id IS NULL)");
    }

    #[test]
    fn bad_filters_are_named() {
        for (f, want) in [
            (r#"nickName eq "x""#, "unknown attribute `nickName`"),
            (r#"userName zz "x""#, "unknown operator"),
            (r#"userName eq "x"#, "unterminated string"),
            (r#"(userName eq "x""#, "expected `)`"),
            ("active gt true", "boolean"),
            ("userName eq 3", "cannot be compared"),
            (r#"userName eq "x" userName"#, "after a complete filter"),
            ("", "empty"),
            (r#"meta.created gt "yesterday""#, "RFC 3339"),
        ] {
            let e = compile(f, attrs).unwrap_err();
            assert!(e.0.contains(want), "{f}: {e}");
        }
    }
}
