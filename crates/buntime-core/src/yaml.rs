//! The one YAML reader for manifests (plugin manifests, app manifests, uploaded archives'
//! manifests): finding the file, size and nesting limits checked before the parser sees the text,
//! and duplicate keys rejected.
//!
//! The limits exist because the YAML parser is quadratic in nesting depth: 100 000 nested `[`
//! (462 bytes gzipped) take the parser close to a minute. [`parse`] scans the text once, in linear
//! time, and refuses anything nested deeper than [`MAX_DEPTH`] before parsing it.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// The largest manifest accepted, in bytes (1 MiB).
pub const MAX_BYTES: u64 = 1024 * 1024;

/// The deepest nesting accepted: block indentation levels plus open flow brackets (`[`, `{`).
pub const MAX_DEPTH: usize = 64;

/// Manifest file names, in the order they are tried.
pub const MANIFEST_FILES: &[&str] = &["manifest.yaml", "manifest.yml"];

/// Why a YAML file or text cannot be used. `Display` reads as a clause after the file name
/// (`manifest.yaml is a directory, not a file`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum YamlError {
    /// The file is larger than [`MAX_BYTES`].
    #[error("is {size} bytes, over the {limit}-byte limit for manifests")]
    TooLarge {
        /// The file's size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The text nests deeper than [`MAX_DEPTH`].
    #[error("nests deeper than {limit} levels (at line {line}); manifests are limited to {limit} levels of nesting")]
    TooDeep {
        /// The limit.
        limit: usize,
        /// The 1-based line where the limit was passed.
        line: usize,
    },
    /// A mapping has the same key twice.
    #[error("has the key `{key}` twice{} (a later value would silently replace the earlier one)", at_line(*.line))]
    DuplicateKey {
        /// The key's path, such as `env.PORT`.
        key: String,
        /// The 1-based line of the mapping holding it, when known.
        line: Option<usize>,
    },
    /// The parser rejected the text.
    #[error("is not valid YAML: {message}")]
    Syntax {
        /// The parser's message, with its line and column.
        message: String,
        /// The 1-based line, when the parser gave one.
        line: Option<usize>,
        /// The 1-based column, when the parser gave one.
        column: Option<usize>,
    },
    /// The document is not a mapping of keys.
    #[error("must be a mapping of keys, found {found}")]
    NotAMapping {
        /// What it is instead (`a list`).
        found: &'static str,
    },
    /// The path is a directory (or another non-file, such as a FIFO).
    #[error("is a directory, not a file")]
    NotAFile,
    /// The file cannot be read.
    #[error("cannot be read: {0}")]
    Io(String),
}

impl YamlError {
    /// Returns how to fix the problem.
    pub fn fix(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "keep the manifest under 1 MiB; put large data in files of its own",
            Self::TooDeep { .. } => "flatten the structure: manifests need only a few levels of nesting",
            Self::DuplicateKey { .. } => "remove one of the two entries",
            Self::Syntax { .. } => "fix the YAML syntax at the position shown",
            Self::NotAMapping { .. } => "write one `key: value` per line",
            Self::NotAFile => "remove the directory, or replace it with the manifest file",
            Self::Io(_) => "make the file readable by the runtime",
        }
    }

    /// Returns the key at fault, for duplicate keys.
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::DuplicateKey { key, .. } => Some(key),
            _ => None,
        }
    }
}

fn at_line(line: Option<usize>) -> String {
    line.map(|l| format!(" (line {l})")).unwrap_or_default()
}

/// The manifest file of a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The file used (`manifest.yaml`, else `manifest.yml`).
    pub file: PathBuf,
    /// A warning when another manifest file beside it is ignored.
    pub warning: Option<String>,
}

/// Finds the manifest file of `dir`: `manifest.yaml`, else `manifest.yml`. Returns `None` when
/// neither exists, and a warning when both do (`manifest.yml` is then ignored).
///
/// # Errors
/// A manifest name exists but is not a regular file (a directory, a FIFO): returns that path.
pub fn locate(dir: &Path) -> Result<Option<Located>, (PathBuf, YamlError)> {
    let mut found: Vec<PathBuf> = Vec::new();
    for name in MANIFEST_FILES {
        let path = dir.join(name);
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => found.push(path),
            Ok(_) => return Err((path, YamlError::NotAFile)),
            Err(_) => {}
        }
    }
    let mut found = found.into_iter();
    let Some(file) = found.next() else { return Ok(None) };
    let warning = found.next().map(|ignored| {
        format!("{}: ignored, because {} is used (both exist); fix: delete one of them", ignored.display(), file.display())
    });
    Ok(Some(Located { file, warning }))
}

/// Reads and parses the YAML file `file`, with [`MAX_BYTES`] checked before reading.
///
/// # Errors
/// The file is missing, unreadable, not a file, too large, too deep, has duplicate keys or is not YAML.
pub fn read(file: &Path) -> Result<Value, YamlError> {
    let io = |e: std::io::Error| YamlError::Io(e.to_string());
    // `metadata` first: opening a FIFO would block.
    let meta = std::fs::metadata(file).map_err(io)?;
    if !meta.is_file() {
        return Err(YamlError::NotAFile);
    }
    if meta.len() > MAX_BYTES {
        return Err(YamlError::TooLarge { size: meta.len(), limit: MAX_BYTES });
    }
    let mut text = String::new();
    // The file may grow between the check and the read: never read more than the limit.
    std::fs::File::open(file).map_err(io)?.take(MAX_BYTES + 1).read_to_string(&mut text).map_err(io)?;
    if text.len() as u64 > MAX_BYTES {
        return Err(YamlError::TooLarge { size: text.len() as u64, limit: MAX_BYTES });
    }
    parse(&text)
}

/// Parses YAML text into JSON values: the size and depth limits first, then the parser, with
/// duplicate keys rejected. An empty document is `Null`.
///
/// # Errors
/// The text is too large, too deep, has duplicate keys or is not YAML.
pub fn parse(text: &str) -> Result<Value, YamlError> {
    if text.len() as u64 > MAX_BYTES {
        return Err(YamlError::TooLarge { size: text.len() as u64, limit: MAX_BYTES });
    }
    check_depth(text, MAX_DEPTH)?;
    let de = serde_yaml_ng::Deserializer::from_str(text);
    match (Node { path: String::new() }).deserialize(de) {
        Ok(v) => Ok(v),
        Err(e) => {
            let message = e.to_string();
            let (line, column) = e.location().map_or((None, None), |l| (Some(l.line()), Some(l.column())));
            // The parser prefixes the path of the failing node and appends the position.
            if let Some((_, rest)) = message.split_once(DUPLICATE_MARK) {
                let key = rest.split(" at line ").next().unwrap_or(rest).to_owned();
                return Err(YamlError::DuplicateKey { key, line });
            }
            Err(YamlError::Syntax { message, line, column })
        }
    }
}

/// Reads a manifest file into its mapping: an empty file is an empty mapping.
///
/// # Errors
/// See [`read`]; also a document that is not a mapping.
pub fn read_mapping(file: &Path) -> Result<Map<String, Value>, YamlError> {
    match read(file)? {
        Value::Object(m) => Ok(m),
        Value::Null => Ok(Map::new()),
        other => Err(YamlError::NotAMapping { found: crate::manifest::type_name(&other) }),
    }
}

/// Walks the text once and fails as soon as it nests deeper than `limit`.
///
/// The count is an estimate that errs on the high side for ordinary YAML: each block indentation
/// level, each `- `/`? ` indicator further right on a line, and each open flow bracket counts one.
/// Quoted scalars, comments and block scalars (`|`, `>`) are skipped, so brackets inside text do
/// not count.
fn check_depth(text: &str, limit: usize) -> Result<(), YamlError> {
    let too_deep = |line: usize| YamlError::TooDeep { limit, line: line + 1 };
    let mut indents: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    let mut quote: Option<u8> = None;
    // The column a block scalar's content must be indented past.
    let mut block_scalar: Option<usize> = None;
    // Whether the next character may start a node (so `[`, `{`, `"`, `'` are indicators).
    let mut token_start = true;
    for (n, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw).as_bytes();
        let indent = line.iter().take_while(|&&b| b == b' ').count();
        let blank = line[indent..].iter().all(|b| b.is_ascii_whitespace());
        if let Some(owner) = block_scalar {
            if blank || indent > owner {
                continue;
            }
            block_scalar = None;
        }
        let mut i = 0;
        if quote.is_none() && flow == 0 {
            if blank || line[indent] == b'#' || (indent == 0 && line[0] == b'%') {
                continue;
            }
            if indent == 0 && (line.starts_with(b"---") || line.starts_with(b"...")) && line.get(3).is_none_or(u8::is_ascii_whitespace) {
                indents.clear();
                i = 3;
            } else {
                while indents.last().is_some_and(|&top| top >= indent) {
                    indents.pop();
                }
                indents.push(indent);
                i = indent;
            }
            if indents.len() > limit {
                return Err(too_deep(n));
            }
            token_start = true;
        }
        let mut node_col = indent;
        while i < line.len() {
            let c = line[i];
            if let Some(q) = quote {
                match (q, c) {
                    (b'"', b'\\') => i += 1,
                    (b'"', b'"') => quote = None,
                    (b'\'', b'\'') if line.get(i + 1) == Some(&b'\'') => i += 1,
                    (b'\'', b'\'') => quote = None,
                    _ => {}
                }
                i += 1;
                continue;
            }
            let next_is_space = line.get(i + 1).is_none_or(|b| b.is_ascii_whitespace());
            match c {
                b' ' | b'\t' => {}
                b'#' if i == 0 || line[i - 1].is_ascii_whitespace() => break,
                b'"' | b'\'' if token_start => {
                    quote = Some(c);
                    token_start = false;
                }
                b'[' | b'{' if token_start || flow > 0 => {
                    flow += 1;
                    if indents.len() + flow > limit {
                        return Err(too_deep(n));
                    }
                    token_start = true;
                }
                b']' | b'}' if flow > 0 => {
                    flow -= 1;
                    token_start = false;
                }
                b',' if flow > 0 => token_start = true,
                b'-' | b'?' if token_start && next_is_space => {
                    node_col = i;
                    if flow == 0 && indents.last().is_some_and(|&top| i > top) {
                        indents.push(i);
                        if indents.len() > limit {
                            return Err(too_deep(n));
                        }
                    }
                }
                b':' if next_is_space || (flow > 0 && line.get(i + 1).is_some_and(|b| b",[]{}".contains(b))) => token_start = true,
                b'&' | b'!' if token_start => {
                    // A node property: skip it; the node itself follows.
                    while i + 1 < line.len() && !line[i + 1].is_ascii_whitespace() && !(flow > 0 && b",[]{}".contains(&line[i + 1])) {
                        i += 1;
                    }
                }
                b'|' | b'>' if token_start && flow == 0 => {
                    block_scalar = Some(node_col);
                    break;
                }
                _ => {
                    if token_start {
                        node_col = i;
                    }
                    token_start = false;
                }
            }
            i += 1;
        }
    }
    Ok(())
}

/// Prefix of the custom error a duplicate key raises inside the parser, to recognise it after.
const DUPLICATE_MARK: &str = "\u{0}duplicate key:";

/// Builds a JSON value from the YAML deserializer, rejecting duplicate keys (the stock
/// `serde_json::Value` visitor keeps the last one silently).
struct Node {
    /// Where this node is, for messages: `env.PORT`, `menus[0].title`.
    path: String,
}

impl Node {
    fn child(&self, key: &str) -> Self {
        Self { path: if self.path.is_empty() { key.to_owned() } else { format!("{}.{key}", self.path) } }
    }
}

impl<'de> DeserializeSeed<'de> for Node {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        #[allow(clippy::cast_precision_loss)]
        Ok(i64::try_from(v).map_or_else(|_| serde_json::Number::from_f64(v as f64).map_or(Value::Null, Value::Number), Value::from))
    }

    fn visit_u128<E>(self, v: u128) -> Result<Value, E> {
        #[allow(clippy::cast_precision_loss)]
        Ok(u64::try_from(v).map_or_else(|_| serde_json::Number::from_f64(v as f64).map_or(Value::Null, Value::Number), Value::from))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(self.child(&format!("[{}]", out.len())).indexed())? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let child = self.child(&key);
            if out.contains_key(&key) {
                return Err(de::Error::custom(format_args!("{DUPLICATE_MARK}{}", child.path)));
            }
            let value = map.next_value_seed(child)?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

impl Node {
    /// Turns `a.[0]` into `a[0]` for sequence items.
    fn indexed(mut self) -> Self {
        if let Some(at) = self.path.rfind(".[") {
            self.path.remove(at);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn deep_flow(n: usize) -> String {
        format!("name: {}{}\n", "[".repeat(n), "]".repeat(n))
    }

    #[test]
    fn deep_nesting_is_refused_quickly_whatever_its_form() {
        let n = 100_000;
        let mut indented = String::new();
        for i in 0..200 {
            indented.push_str(&" ".repeat(i));
            indented.push_str("a:\n");
        }
        let cases = [
            deep_flow(n),
            format!("a: {}1\n", "{a: ".repeat(n)),
            format!("{}x\n", "- ".repeat(n)),
            format!("{}x\n", "? ".repeat(n)),
            format!("a: !!seq &x {}\n", "[".repeat(n)),
            format!("a: 'quoted' \n  b: {}", "[".repeat(n)),
            indented,
        ];
        for text in &cases {
            let started = Instant::now();
            let err = parse(text).unwrap_err();
            assert!(matches!(err, YamlError::TooDeep { limit: MAX_DEPTH, .. }), "{err} for {}", &text[..40.min(text.len())]);
            assert!(err.to_string().contains("nests deeper than 64 levels"), "{err}");
            // Generous: the scan is linear (microseconds); the parser takes seconds on these.
            assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
        }
    }

    #[test]
    fn ordinary_manifests_pass_the_depth_scan() {
        let texts = [
            "name: \"@buntime/plugin-hello\"\nbase: /hello\nmenus:\n  - { title: Hello, icon: lucide:hand, path: /hello }\n",
            "title: don't [stop\nregex: \"^[a-z\"\nother: '[['\n# [[[[[[[[\nnote: |\n  [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n  {{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{\nafter: 1\n",
            "- a: |\n    [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n  b: 1\n",
            "---\na: 1\n...\n---\nb: 2\n",
        ];
        for t in texts {
            check_depth(t, MAX_DEPTH).unwrap_or_else(|e| panic!("{e}: {t}"));
        }
        assert_eq!(check_depth(&deep_flow(MAX_DEPTH - 1), MAX_DEPTH), Ok(()));
        assert!(check_depth(&deep_flow(MAX_DEPTH), MAX_DEPTH).is_err());
    }

    #[test]
    fn a_block_scalar_cannot_hide_nesting_below_its_owner() {
        // `b`'s value is not inside the `|` scalar (it is indented only as far as `a`), so its
        // brackets count.
        let text = format!("- a: |\n    text\n  b: {}\n", "[".repeat(100));
        assert!(check_depth(&text, MAX_DEPTH).is_err());
    }

    #[test]
    fn duplicate_keys_are_errors_naming_the_key_path() {
        let key = |text: &str| match parse(text) {
            Err(e @ YamlError::DuplicateKey { .. }) => (e.key().unwrap().to_owned(), e.to_string()),
            other => panic!("{other:?}"),
        };
        assert_eq!(key("name: a\nbase: /x\nname: b\n").0, "name");
        let (k, message) = key("env:\n  PORT: 1\n  PORT: 2\n");
        assert_eq!(k, "env.PORT");
        assert!(message.contains("has the key `env.PORT` twice (line 2)"), "{message}");
        assert_eq!(key("menus:\n  - { title: a, title: b }\n").0, "menus[0].title");
        assert!(parse("a: {x: 1}\nb: {x: 1}\n").is_ok());
    }

    #[test]
    fn syntax_errors_keep_the_parsers_line_and_column() {
        let Err(YamlError::Syntax { message, line, column }) = parse("name: a\nbase: [oops\n") else { panic!() };
        assert!(message.contains("line"), "{message}");
        assert!(line.is_some() && column.is_some());
    }

    #[test]
    fn values_match_the_plain_json_conversion() {
        let text = "a: 1\nb: -2\nc: 1.5\nd: true\ne: ~\nf: [x, 'y']\ng: {h: i}\n1: one\n";
        let ours = parse(text).unwrap();
        let theirs: Value = serde_yaml_ng::from_str(text).unwrap();
        assert_eq!(ours, theirs);
        assert_eq!(parse("").unwrap(), Value::Null);
        assert!(parse("big: 99999999999999999999\n").unwrap()["big"].is_number());
    }

    #[test]
    fn a_directory_named_like_a_manifest_is_an_error_and_two_manifests_warn() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(locate(t.path()), Ok(None));
        std::fs::write(t.path().join("manifest.yml"), "a: 1").unwrap();
        assert_eq!(locate(t.path()).unwrap().unwrap().file, t.path().join("manifest.yml"));
        std::fs::write(t.path().join("manifest.yaml"), "a: 1").unwrap();
        let found = locate(t.path()).unwrap().unwrap();
        assert_eq!(found.file, t.path().join("manifest.yaml"));
        let w = found.warning.unwrap();
        assert!(w.contains("manifest.yml: ignored") && w.contains("manifest.yaml is used"), "{w}");
        std::fs::remove_file(t.path().join("manifest.yaml")).unwrap();
        std::fs::create_dir(t.path().join("manifest.yaml")).unwrap();
        assert_eq!(locate(t.path()), Err((t.path().join("manifest.yaml"), YamlError::NotAFile)));
        assert_eq!(read(&t.path().join("manifest.yaml")), Err(YamlError::NotAFile));
    }

    #[test]
    fn oversized_files_are_refused_before_reading() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("manifest.yaml");
        std::fs::write(&f, format!("a: \"{}\"\n", "x".repeat(usize::try_from(MAX_BYTES).unwrap()))).unwrap();
        assert!(matches!(read(&f), Err(YamlError::TooLarge { limit: MAX_BYTES, .. })));
    }
}
