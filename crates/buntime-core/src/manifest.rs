//! Plugin manifests (`manifest.yaml`): parsing, validation with errors that name the fix, and the
//! plugin options handed to plugin code.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

/// Keys the runtime understands; anything else is the plugin's own config.
const KNOWN_KEYS: &[&str] = &[
    "name",
    "enabled",
    "base",
    "version",
    "pluginEntry",
    "entrypoint",
    "native",
    "dependencies",
    "optionalDependencies",
    "menus",
    "config",
    "publicRoutes",
    "timeout",
    "ttl",
    "idleTimeout",
    "maxRequests",
    "lowMemory",
    "autoInstall",
    "maxBodySize",
    "injectBase",
    "env",
    "envPrefix",
];

/// Keys stripped from the manifest before it becomes the plugin's options (spec §3.4).
const NOT_OPTIONS: &[&str] = &["name", "version", "enabled", "entrypoint", "dependencies", "optionalDependencies"];

static BASE_RE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^/[a-zA-Z0-9_-]+$").expect("static regex is valid"));

/// A plugin's unique name, such as `@buntime/plugin-hello`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PluginName(String);

impl PluginName {
    /// Returns the name as written in the manifest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PluginName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for PluginName {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

/// A validated plugin base path: one segment such as `/hello`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BasePath(String);

impl BasePath {
    /// Validates `raw` against the base rule and the reserved paths.
    ///
    /// # Errors
    /// Returns what is wrong and how to fix it.
    pub fn parse(raw: &str, reserved: &[String]) -> Result<Self, (String, String)> {
        if !BASE_RE.is_match(raw) {
            let fix = if raw.ends_with('/') && raw.len() > 1 {
                format!("remove the trailing `/`: `{}`", raw.trim_end_matches('/'))
            } else if !raw.starts_with('/') {
                format!("start it with `/`: `/{raw}`")
            } else {
                "use one segment of letters, digits, `-` or `_`, such as `/hello`".to_owned()
            };
            return Err((format!("`{raw}` is not a valid base path (must match ^/[a-zA-Z0-9_-]+$)"), fix));
        }
        if let Some(r) = reserved.iter().find(|r| r.eq_ignore_ascii_case(raw)) {
            return Err((
                format!("`{raw}` is reserved by the runtime (reserved: {})", reserved.join(", ")),
                format!("choose another base, such as `{r}-plugin`"),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// Returns the base, such as `/hello`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns the path below this base (`/hello/a` → `/a`, `/hello` → `/`), or `None` when the path
    /// is not under it.
    pub fn strip<'a>(&self, path: &'a str) -> Option<&'a str> {
        let rest = path.strip_prefix(self.0.as_str())?;
        if rest.is_empty() {
            Some("/")
        } else if rest.starts_with('/') {
            Some(rest)
        } else {
            None
        }
    }
}

impl fmt::Display for BasePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One problem in a manifest, naming the file, the key and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    /// The manifest file.
    pub file: PathBuf,
    /// The key at fault, if the problem is with one key.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub fix: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(key) => write!(f, "{}: key `{key}`: {}; fix: {}", self.file.display(), self.message, self.fix),
            None => write!(f, "{}: {}; fix: {}", self.file.display(), self.message, self.fix),
        }
    }
}

impl std::error::Error for ManifestError {}

/// A validated plugin manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The file it was read from.
    pub file: PathBuf,
    /// `name`.
    pub name: PluginName,
    /// `enabled` (only `false` disables).
    pub enabled: bool,
    /// `base`, absent for hook-only plugins.
    pub base: Option<BasePath>,
    /// `version`, informational.
    pub version: Option<String>,
    /// `pluginEntry`: the plugin module, relative to the plugin dir.
    pub plugin_entry: Option<String>,
    /// `entrypoint`: a serverless worker entry served under `base`.
    pub entrypoint: Option<String>,
    /// `native`: the compiled-in plugin this manifest configures (defaults to `name`).
    pub native: Option<String>,
    /// `dependencies`.
    pub dependencies: Vec<String>,
    /// `optionalDependencies`.
    pub optional_dependencies: Vec<String>,
    /// `menus`, echoed by `GET /api/plugins/loaded`.
    pub menus: Value,
    /// The whole document as JSON.
    pub raw: Map<String, Value>,
}

impl Manifest {
    /// Parses and validates a manifest's text, reporting every problem at once.
    ///
    /// Returns the manifest and its warnings (likely typos of known keys).
    ///
    /// # Errors
    /// Returns every problem found, each naming `file`, the key and the fix.
    pub fn parse(text: &str, file: &Path, reserved: &[String]) -> Result<(Self, Vec<String>), Vec<ManifestError>> {
        let doc = match crate::yaml::parse(text) {
            Ok(v) => v,
            Err(e) => return Err(vec![yaml_error(file, &e)]),
        };
        Self::from_value(doc, file, reserved)
    }

    /// Validates a parsed manifest document (see [`Manifest::parse`]).
    ///
    /// # Errors
    /// Returns every problem found, each naming `file`, the key and the fix.
    pub fn from_value(doc: Value, file: &Path, reserved: &[String]) -> Result<(Self, Vec<String>), Vec<ManifestError>> {
        let err = |key: Option<&str>, message: String, fix: &str| ManifestError {
            file: file.to_path_buf(),
            key: key.map(str::to_owned),
            message,
            fix: fix.to_owned(),
        };
        let raw = match doc {
            Value::Object(map) => map,
            Value::Null => return Err(vec![err(None, "the file is empty".into(), "add at least `name: my-plugin`")]),
            _ => return Err(vec![err(None, "the document is not a mapping of keys".into(), "write `key: value` lines, starting with `name: my-plugin`")]),
        };
        let mut errors = Vec::new();
        let mut warnings = Vec::new();

        let name = match raw.get("name") {
            Some(Value::String(s)) if is_package_name(s.trim()) => Some(PluginName(s.trim().to_owned())),
            Some(Value::String(s)) if !s.trim().is_empty() => {
                errors.push(err(
                    Some("name"),
                    format!("`{}` is not a valid plugin name", s.trim()),
                    "use `name` or `@scope/name` with letters, digits, `.`, `_`, `~`, `-`, `+` (not starting with `.`), such as `@acme/plugin-hello`",
                ));
                None
            }
            Some(Value::String(_)) => {
                errors.push(err(Some("name"), "is empty".into(), "give the plugin a unique name, such as `@acme/plugin-hello`"));
                None
            }
            Some(other) => {
                errors.push(err(Some("name"), format!("must be a string, found {}", type_name(other)), "quote it: `name: \"my-plugin\"`"));
                None
            }
            None => {
                errors.push(err(Some("name"), "is missing".into(), "add `name: my-plugin` (a unique name)"));
                None
            }
        };
        let enabled = match raw.get("enabled") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                errors.push(err(Some("enabled"), format!("must be true or false, found {}", type_name(other)), "write `enabled: true` or `enabled: false`"));
                true
            }
        };
        let base = match raw.get("base") {
            // `base: ""` is the original's "no base" (its vhosts plugin): a hook-only plugin.
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => match BasePath::parse(s, reserved) {
                Ok(b) => Some(b),
                Err((message, fix)) => {
                    errors.push(err(Some("base"), message, &fix));
                    None
                }
            },
            Some(other) => {
                errors.push(err(Some("base"), format!("must be a string, found {}", type_name(other)), "write `base: \"/my-plugin\"`, or omit it for a hook-only plugin"));
                None
            }
        };
        let version = match raw.get("version") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                errors.push(err(Some("version"), format!("must be a string, found {}", type_name(other)), "quote it: `version: \"1.0.0\"`"));
                None
            }
        };
        let mut string_key = |key: &str, fix: &str| match raw.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            Some(other) => {
                errors.push(err(Some(key), format!("must be a non-empty string, found {}", type_name(other)), fix));
                None
            }
        };
        let plugin_entry = string_key("pluginEntry", "give the module path relative to the plugin dir, such as `dist/plugin.js`");
        let entrypoint = string_key("entrypoint", "give the worker entry relative to the plugin dir, such as `index.ts`");
        let native = string_key("native", "name the compiled-in plugin, such as `@buntime/plugin-hello`");
        let mut list_key = |key: &str| -> Vec<String> {
            match raw.get(key) {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(items)) => {
                    let mut out = Vec::new();
                    for (i, item) in items.iter().enumerate() {
                        match item {
                            Value::String(s) if !s.trim().is_empty() => out.push(s.trim().to_owned()),
                            other => errors.push(err(Some(&format!("{key}[{i}]")), format!("must be a plugin name, found {}", type_name(other)), "list plugin names as strings")),
                        }
                    }
                    out
                }
                Some(other) => {
                    errors.push(err(Some(key), format!("must be a list of plugin names, found {}", type_name(other)), &format!("write `{key}: [\"@scope/plugin-a\"]`")));
                    Vec::new()
                }
            }
        };
        let dependencies = list_key("dependencies");
        let optional_dependencies = list_key("optionalDependencies");
        let menus = match raw.get("menus") {
            None | Some(Value::Null) => Value::Array(Vec::new()),
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    check_menu(item, &format!("menus[{i}]"), &mut |k, m| errors.push(err(Some(&k), m, "each menu is `{ title: Hello, path: /hello }` with optional `icon` and `items`")));
                }
                Value::Array(items.clone())
            }
            Some(other) => {
                errors.push(err(Some("menus"), format!("must be a list, found {}", type_name(other)), "write `menus: [{ title: Hello, path: /hello }]`"));
                Value::Array(Vec::new())
            }
        };
        if let Some(v) = raw.get("config")
            && !matches!(v, Value::Object(_) | Value::Null) {
                errors.push(err(Some("config"), format!("must be a mapping of field schemas, found {}", type_name(v)), "write `config: { apiKey: { type: string } }`"));
            }
        if let Some(v) = raw.get("publicRoutes")
            && let Err(m) = crate::public_routes::PublicRoutes::from_json(v) {
                errors.push(err(Some("publicRoutes"), m, "use a list of globs (`[\"/api/health\", \"/public/**\"]`) or a map of methods to lists (`{ GET: [\"/feed\"] }`)"));
            }
        for key in raw.keys() {
            if KNOWN_KEYS.contains(&key.as_str()) {
                continue;
            }
            if let Some(known) = KNOWN_KEYS.iter().find(|k| is_likely_typo(key, k)) {
                warnings.push(format!("{}: unknown key `{key}` is passed to the plugin as config; did you mean `{known}`?", file.display()));
            }
        }

        match (errors.is_empty(), name) {
            (true, Some(name)) => Ok((
                Self {
                    file: file.to_path_buf(),
                    name,
                    enabled,
                    base,
                    version,
                    plugin_entry,
                    entrypoint,
                    native,
                    dependencies,
                    optional_dependencies,
                    menus,
                    raw,
                },
                warnings,
            )),
            _ => Err(errors),
        }
    }

    /// Returns the plugin options (spec §3.4): the manifest minus `name`, `version`, `enabled`,
    /// `entrypoint` and the dependency lists. These are the factory's argument and `ctx.config`.
    pub fn options(&self) -> Map<String, Value> {
        self.raw.iter().filter(|(k, _)| !NOT_OPTIONS.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Returns the version shown in listings (`0.0.0` when absent).
    pub fn display_version(&self) -> &str {
        self.version.as_deref().unwrap_or("0.0.0")
    }
}

/// Turns a YAML reading failure into the manifest error that names the file (and the key, for a
/// duplicate key).
pub fn yaml_error(file: &Path, e: &crate::yaml::YamlError) -> ManifestError {
    let message = match e {
        crate::yaml::YamlError::DuplicateKey { .. } => "appears twice (a later value would silently replace the earlier one)".to_owned(),
        other => other.to_string(),
    };
    ManifestError { file: file.to_path_buf(), key: e.key().map(str::to_owned), message, fix: e.fix().to_owned() }
}

/// Returns whether `s` is a safe single directory name for an app, plugin, scope (without `@`) or
/// version: ASCII letters, digits, `.`, `_`, `~`, `-`, `+`; not starting with `.`; at most 214 chars.
pub fn is_safe_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 214
        && !s.starts_with('.')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-' | b'+'))
}

/// Returns whether `s` is `name` or `@scope/name`, each part a [safe name](is_safe_name): a plugin
/// or app name that maps to a directory without leaving its parent.
pub fn is_package_name(s: &str) -> bool {
    match s.strip_prefix('@') {
        Some(rest) => rest.split_once('/').is_some_and(|(scope, name)| is_safe_name(scope) && is_safe_name(name)),
        None => is_safe_name(s),
    }
}

fn check_menu(item: &Value, at: &str, report: &mut dyn FnMut(String, String)) {
    let Value::Object(map) = item else {
        report(at.to_owned(), format!("must be a mapping, found {}", type_name(item)));
        return;
    };
    for key in ["title", "path"] {
        match map.get(key) {
            Some(Value::String(_)) => {}
            Some(other) => report(format!("{at}.{key}"), format!("must be a string, found {}", type_name(other))),
            None => report(format!("{at}.{key}"), "is missing".to_owned()),
        }
    }
    if let Some(items) = map.get("items") {
        match items {
            Value::Array(children) => {
                for (i, child) in children.iter().enumerate() {
                    check_menu(child, &format!("{at}.items[{i}]"), report);
                }
            }
            other => report(format!("{at}.items"), format!("must be a list, found {}", type_name(other))),
        }
    }
}

/// Names a JSON value's type the way a YAML author would.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Whether an unknown top-level key looks like a misspelt known one: one edit (a transposition
/// counts as one) for short keys, two for long ones. Plugin config keys sit beside the known keys,
/// so a looser rule would warn about real ones (`session` is two edits from `version`).
fn is_likely_typo(key: &str, known: &str) -> bool {
    let allowed = if key.len() >= 10 { 2 } else { 1 };
    key.len() > 3 && strsim::damerau_levenshtein(known, key) <= allowed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reserved() -> Vec<String> {
        vec!["/api".into(), "/health".into(), "/.well-known".into()]
    }

    fn parse(text: &str) -> Result<Manifest, Vec<ManifestError>> {
        Manifest::parse(text, Path::new("plugins/p/manifest.yaml"), &reserved()).map(|(m, _)| m)
    }

    fn only_error(text: &str) -> ManifestError {
        let errs = parse(text).unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        errs.into_iter().next().unwrap()
    }

    #[test]
    fn the_seed_manifest_parses() {
        let m = parse("name: \"@buntime/plugin-hello\"\nbase: \"/hello\"\nenabled: true\npluginEntry: dist/plugin.js\nmenus:\n  - { title: Hello, icon: lucide:hand, path: /hello }\n").unwrap();
        assert_eq!(m.name.as_str(), "@buntime/plugin-hello");
        assert_eq!(m.base.as_ref().unwrap().as_str(), "/hello");
        assert_eq!(m.plugin_entry.as_deref(), Some("dist/plugin.js"));
        assert_eq!(m.menus[0]["icon"], "lucide:hand");
        assert!(m.enabled);
    }

    #[test]
    fn options_drop_identity_keys_and_keep_custom_ones() {
        let m = parse("name: a\nversion: \"1\"\nenabled: true\nbase: /a\napiKey: xyz\ndependencies: [b]\n").unwrap();
        let opts = m.options();
        assert_eq!(opts.get("apiKey").unwrap(), "xyz");
        assert_eq!(opts.get("base").unwrap(), "/a");
        for k in ["name", "version", "enabled", "dependencies"] {
            assert!(!opts.contains_key(k), "{k}");
        }
    }

    #[test]
    fn every_manifest_error_names_file_key_and_fix() {
        let cases: &[(&str, Option<&str>, &str)] = &[
            ("name: [oops", None, "not valid YAML"),
            ("name: a\nbase: /a\nname: b\n", Some("name"), "appears twice"),
            ("name: ../../etc\n", Some("name"), "not a valid plugin name"),
            ("name: \"@a/b/c\"\n", Some("name"), "not a valid plugin name"),
            ("name: \"a b\"\n", Some("name"), "not a valid plugin name"),
            (&format!("name: a\nx: {}\n", "[".repeat(100_000)), None, "nests deeper than 64 levels"),
            ("", None, "empty"),
            ("- a\n- b\n", None, "not a mapping"),
            ("base: /a\n", Some("name"), "missing"),
            ("name: 42\n", Some("name"), "must be a string"),
            ("name: \"  \"\n", Some("name"), "empty"),
            ("name: a\nenabled: \"no\"\n", Some("enabled"), "true or false"),
            ("name: a\nbase: hello\n", Some("base"), "not a valid base"),
            ("name: a\nbase: /a/b\n", Some("base"), "not a valid base"),
            ("name: a\nbase: /hello/\n", Some("base"), "not a valid base"),
            ("name: a\nbase: 5\n", Some("base"), "must be a string"),
            ("name: a\nbase: /api\n", Some("base"), "reserved"),
            ("name: a\nbase: /health\n", Some("base"), "reserved"),
            ("name: a\nversion: 1.0\n", Some("version"), "must be a string"),
            ("name: a\npluginEntry: 3\n", Some("pluginEntry"), "non-empty string"),
            ("name: a\ndependencies: b\n", Some("dependencies"), "list of plugin names"),
            ("name: a\noptionalDependencies: [1]\n", Some("optionalDependencies[0]"), "plugin name"),
            ("name: a\nmenus: {}\n", Some("menus"), "must be a list"),
            ("name: a\nmenus: [{ title: 1, path: /a }]\n", Some("menus[0].title"), "must be a string"),
            ("name: a\nconfig: 3\n", Some("config"), "mapping"),
            ("name: a\npublicRoutes: 3\n", Some("publicRoutes"), "list"),
        ];
        for (text, key, needle) in cases {
            let e = only_error(text);
            assert_eq!(e.key.as_deref(), *key, "{text}");
            assert!(e.message.contains(needle), "{text}: {}", e.message);
            assert!(!e.fix.is_empty());
            let line = e.to_string();
            assert!(line.starts_with("plugins/p/manifest.yaml"), "{line}");
            assert!(line.contains("fix:"), "{line}");
        }
    }

    #[test]
    fn all_errors_are_reported_at_once() {
        let errs = parse("name: 1\nbase: nope\nenabled: 3\n").unwrap_err();
        let keys: Vec<_> = errs.iter().filter_map(|e| e.key.clone()).collect();
        assert_eq!(keys, vec!["name", "enabled", "base"]);
    }

    #[test]
    fn reserved_base_error_lists_reserved_paths() {
        let e = only_error("name: a\nbase: /API\n");
        assert!(e.message.contains("/api, /health, /.well-known"), "{}", e.message);
    }

    #[test]
    fn a_plugin_config_key_near_a_known_one_is_no_typo() {
        // plugin-authn's `session` block is two edits from `version`: a real key, not a typo.
        let (_, warnings) = Manifest::parse("name: a\nsession: { ttl: 7d }\nbaes: /a\n", Path::new("m.yaml"), &reserved()).unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("`baes`") && warnings[0].contains("did you mean `base`"), "{}", warnings[0]);
    }

    #[test]
    fn likely_typos_warn_but_still_load() {
        let (m, warnings) = Manifest::parse("name: a\ndependancies: [b]\n", Path::new("m.yaml"), &reserved()).unwrap();
        assert!(m.dependencies.is_empty());
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("did you mean `dependencies`"), "{}", warnings[0]);
    }

    #[test]
    fn base_strip_respects_segment_boundaries() {
        let b = BasePath::parse("/hello", &[]).unwrap();
        assert_eq!(b.strip("/hello"), Some("/"));
        assert_eq!(b.strip("/hello/api/greeting"), Some("/api/greeting"));
        assert_eq!(b.strip("/helloworld"), None);
        assert_eq!(b.strip("/other"), None);
    }
}
