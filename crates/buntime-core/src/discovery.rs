//! Plugin discovery: scanning plugin dirs in a deterministic order and reading each manifest.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::config::Env;
use crate::manifest::{Manifest, ManifestError, yaml_error};
use crate::problem::Problem;

/// A plugin found on disk, with a valid manifest.
#[derive(Debug, Clone)]
pub struct DiscoveredPlugin {
    /// The validated manifest.
    pub manifest: Manifest,
    /// The plugin's directory.
    pub dir: PathBuf,
}

/// Everything one scan found.
#[derive(Debug, Default)]
pub struct Discovery {
    /// Plugins with valid manifests, in scan order (dirs in list order, names sorted).
    pub plugins: Vec<DiscoveredPlugin>,
    /// Manifests that could not be used, and rejected duplicates of base paths.
    pub problems: Vec<Problem>,
    /// Non-fatal notes: shadowed duplicates, likely typos.
    pub warnings: Vec<String>,
    /// Names whose manifest or registration failed, so dependents can say why they are excluded.
    pub broken: HashMap<String, String>,
}

/// Scans `dirs` in order, substituting `${VAR}` placeholders from `env` in every manifest. Missing
/// dirs are skipped; nothing here panics or aborts on bad input.
pub fn discover(dirs: &[PathBuf], reserved: &[String], env: &Env) -> Discovery {
    let mut found = Discovery::default();
    let mut seen: HashMap<String, PathBuf> = HashMap::new();
    let mut bases: HashMap<String, String> = HashMap::new();
    for dir in dirs {
        if !dir.is_dir() {
            continue;
        }
        for candidate in candidates(dir, &mut found.warnings) {
            let file = match crate::yaml::locate(&candidate) {
                Ok(Some(located)) => {
                    found.warnings.extend(located.warning);
                    located.file
                }
                Ok(None) => continue,
                Err((file, e)) => {
                    found.problems.push(Problem::from(yaml_error(&file, &e)));
                    continue;
                }
            };
            let mut doc = match crate::yaml::read(&file) {
                Ok(doc) => doc,
                Err(e) => {
                    found.problems.push(Problem::from(yaml_error(&file, &e)));
                    continue;
                }
            };
            let name = lenient_name(&doc);
            let disabled = doc.get("enabled") == Some(&serde_json::Value::Bool(false));
            let substituted = crate::subst::substitute(&mut doc, &|var| env.get(var).map(str::to_owned)).map_err(|errors| {
                errors.into_iter().map(|e| ManifestError { file: file.clone(), key: Some(e.path), message: e.message, fix: e.fix }).collect()
            });
            match substituted.and_then(|()| Manifest::from_value(doc, &file, reserved)) {
                Ok((manifest, warnings)) => {
                    found.warnings.extend(warnings);
                    let name = manifest.name.as_str().to_owned();
                    if let Some(first) = seen.get(&name) {
                        found.warnings.push(format!(
                            "duplicate plugin name `{name}`: keeping {} and ignoring {}",
                            first.display(),
                            candidate.display()
                        ));
                        continue;
                    }
                    seen.insert(name.clone(), candidate.clone());
                    if let (true, Some(base)) = (manifest.enabled, &manifest.base) {
                        if let Some(owner) = bases.get(base.as_str()) {
                            let message = format!(
                                "{}: key `base`: `{base}` is already used by plugin `{owner}`; fix: give one of them another base",
                                file.display()
                            );
                            found.broken.insert(name.clone(), format!("its base `{base}` collides with `{owner}`"));
                            found.problems.push(Problem { plugin: Some(name), file: Some(file), key: Some("base".into()), message });
                            continue;
                        }
                        bases.insert(base.as_str().to_owned(), name.clone());
                    }
                    found.plugins.push(DiscoveredPlugin { manifest, dir: candidate });
                }
                // A disabled plugin is never loaded: its mistakes are warnings, and never block a reload.
                Err(errors) if disabled => {
                    for e in errors {
                        found.warnings.push(format!("disabled plugin `{}`: {e}", name.as_deref().unwrap_or("?")));
                    }
                }
                Err(errors) => {
                    if let Some(n) = &name {
                        found.broken.insert(n.clone(), "its manifest has errors".to_owned());
                    }
                    for e in errors {
                        let mut p = Problem::from(e);
                        p.plugin.clone_from(&name);
                        found.problems.push(p);
                    }
                }
            }
        }
    }
    found
}

/// Directories that may hold a plugin: the dir itself when it has a manifest (direct layout), else
/// its children and `@scope/*` grandchildren, hidden entries skipped, sorted by name.
fn candidates(dir: &Path, warnings: &mut Vec<String>) -> Vec<PathBuf> {
    if has_manifest_entry(dir) {
        return vec![dir.to_path_buf()];
    }
    let mut out = Vec::new();
    for child in sorted_subdirs(dir, warnings) {
        let name = child.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name.starts_with('@') {
            out.extend(sorted_subdirs(&child, warnings));
        } else {
            out.push(child);
        }
    }
    let unique: HashSet<_> = out.iter().cloned().collect();
    debug_assert_eq!(unique.len(), out.len());
    out
}

fn sorted_subdirs(dir: &Path, warnings: &mut Vec<String>) -> Vec<PathBuf> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            warnings.push(format!("cannot read plugin dir {}: {e}", dir.display()));
            return Vec::new();
        }
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter(|e| e.path().is_dir())
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs
}

/// Returns `manifest.yaml`, else `manifest.yml`, if one exists in `dir`.
pub fn manifest_file(dir: &Path) -> Option<PathBuf> {
    crate::yaml::locate(dir).ok().flatten().map(|l| l.file)
}

/// Returns whether `dir` has an entry named like a manifest, usable or not (a directory named
/// `manifest.yaml` still makes `dir` a plugin, so the mistake is reported rather than skipped).
fn has_manifest_entry(dir: &Path) -> bool {
    crate::yaml::MANIFEST_FILES.iter().any(|n| std::fs::symlink_metadata(dir.join(n)).is_ok())
}

/// Pulls `name` out of a manifest that failed validation, for messages about its dependents.
fn lenient_name(doc: &serde_json::Value) -> Option<String> {
    doc.get("name")?.as_str().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn names(d: &Discovery) -> Vec<&str> {
        d.plugins.iter().map(|p| p.manifest.name.as_str()).collect()
    }

    #[test]
    fn scans_sorted_with_scopes_and_skips_hidden() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "zeta/manifest.yaml", "name: zeta\n");
        write(t.path(), "alpha/manifest.yml", "name: alpha\n");
        write(t.path(), "@acme/beta/manifest.yaml", "name: \"@acme/beta\"\n");
        write(t.path(), ".hidden/manifest.yaml", "name: hidden\n");
        write(t.path(), "no-manifest/plugin.ts", "");
        let d = discover(&[t.path().to_path_buf()], &[], &Env::default());
        assert_eq!(names(&d), vec!["@acme/beta", "alpha", "zeta"]);
        assert!(d.problems.is_empty());
    }

    #[test]
    fn a_dir_with_a_manifest_is_one_plugin() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "manifest.yaml", "name: direct\n");
        write(t.path(), "child/manifest.yaml", "name: child\n");
        let d = discover(&[t.path().to_path_buf()], &[], &Env::default());
        assert_eq!(names(&d), vec!["direct"]);
    }

    #[test]
    fn first_dir_wins_duplicate_names_with_a_warning_naming_both() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        write(a.path(), "p/manifest.yaml", "name: p\nversion: \"1\"\n");
        write(b.path(), "p/manifest.yaml", "name: p\nversion: \"2\"\n");
        let d = discover(&[a.path().to_path_buf(), b.path().to_path_buf()], &[], &Env::default());
        assert_eq!(d.plugins.len(), 1);
        assert_eq!(d.plugins[0].manifest.version.as_deref(), Some("1"));
        let w = &d.warnings[0];
        assert!(w.contains(&a.path().join("p").display().to_string()) && w.contains(&b.path().join("p").display().to_string()), "{w}");
    }

    #[test]
    fn the_second_plugin_with_a_base_is_rejected() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "a/manifest.yaml", "name: a\nbase: /x\n");
        write(t.path(), "b/manifest.yaml", "name: b\nbase: /x\n");
        write(t.path(), "c/manifest.yaml", "name: c\nbase: /x\nenabled: false\n");
        let d = discover(&[t.path().to_path_buf()], &[], &Env::default());
        assert_eq!(names(&d), vec!["a", "c"]);
        assert_eq!(d.problems.len(), 1);
        assert!(d.problems[0].message.contains("already used by plugin `a`"), "{}", d.problems[0].message);
        assert!(d.broken.contains_key("b"));
    }

    #[test]
    fn bad_manifests_are_problems_not_crashes() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "bad/manifest.yaml", "name: bad\nbase: nope\n");
        write(t.path(), "worse/manifest.yaml", ":\n  - [\n");
        write(t.path(), "good/manifest.yaml", "name: good\n");
        let d = discover(&[t.path().to_path_buf(), t.path().join("missing")], &[], &Env::default());
        assert_eq!(names(&d), vec!["good"]);
        assert_eq!(d.problems.len(), 2);
        assert_eq!(d.problems[0].plugin.as_deref(), Some("bad"));
        assert_eq!(d.broken.get("bad").map(String::as_str), Some("its manifest has errors"));
    }

    #[test]
    fn an_empty_base_is_no_base_and_a_disabled_plugins_errors_are_warnings() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "vhosts/manifest.yaml", "name: vhosts\nbase: \"\"\nenabled: true\n");
        write(t.path(), "off/manifest.yaml", "name: off\nbase: nope\nenabled: false\n");
        let d = discover(&[t.path().to_path_buf()], &[], &Env::default());
        assert_eq!(names(&d), vec!["vhosts"]);
        assert!(d.plugins[0].manifest.base.is_none());
        assert!(d.problems.is_empty(), "{:?}", d.problems);
        assert!(d.broken.is_empty());
        assert!(d.warnings.iter().any(|w| w.contains("disabled plugin `off`") && w.contains("not a valid base path")), "{:?}", d.warnings);
    }

    #[test]
    fn manifest_mistakes_name_the_file_and_key() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("dir-manifest/manifest.yaml")).unwrap();
        write(t.path(), "both/manifest.yaml", "name: both\n");
        write(t.path(), "both/manifest.yml", "name: other\n");
        write(t.path(), "dup/manifest.yaml", "name: dup\nbase: /a\nbase: /b\n");
        write(t.path(), "escape/manifest.yaml", "name: ../../etc\n");
        write(t.path(), "deep/manifest.yaml", &format!("name: deep\nx: {}\n", "[".repeat(100_000)));
        let d = discover(&[t.path().to_path_buf()], &[], &Env::default());
        assert_eq!(names(&d), vec!["both"]);
        let problem = |dir: &str| {
            let file = t.path().join(dir).join("manifest.yaml");
            d.problems.iter().find(|p| p.file.as_ref() == Some(&file)).unwrap_or_else(|| panic!("no problem for {dir}: {:?}", d.problems))
        };
        assert!(problem("dir-manifest").message.contains("manifest.yaml: is a directory, not a file"), "{}", problem("dir-manifest").message);
        let dup = problem("dup");
        assert_eq!(dup.key.as_deref(), Some("base"));
        assert!(dup.message.contains("key `base`: appears twice"), "{}", dup.message);
        let escape = problem("escape");
        assert_eq!(escape.key.as_deref(), Some("name"));
        assert!(escape.message.contains("`../../etc` is not a valid plugin name"), "{}", escape.message);
        assert!(problem("deep").message.contains("nests deeper than 64 levels"), "{}", problem("deep").message);
        let w = d.warnings.iter().find(|w| w.contains("manifest.yml")).expect("a warning about the ignored manifest.yml");
        assert!(w.contains(&t.path().join("both/manifest.yml").display().to_string()) && w.contains("ignored"), "{w}");
    }

    #[test]
    fn placeholders_are_substituted_and_an_unset_one_names_file_key_and_variable() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "db/manifest.yaml", "name: db\nurl: \"postgres://${DB_HOST}/app\"\nversion: \"${DB_VERSION:-1.2.3}\"\n");
        write(t.path(), "oauth/manifest.yaml", "name: oauth\nproviders:\n  - type: google\n    clientSecret: ${GOOGLE_SECRET}\n");
        write(t.path(), "off/manifest.yaml", "name: off\nenabled: false\nsecret: ${OFF_SECRET}\n");
        let env = Env::from_pairs([("DB_HOST", "db.internal")]);
        let d = discover(&[t.path().to_path_buf()], &[], &env);
        assert_eq!(names(&d), vec!["db"]);
        assert_eq!(d.plugins[0].manifest.raw["url"], "postgres://db.internal/app");
        assert_eq!(d.plugins[0].manifest.version.as_deref(), Some("1.2.3"));
        assert_eq!(d.problems.len(), 1, "{:?}", d.problems);
        let p = &d.problems[0];
        assert_eq!(p.file.as_deref(), Some(t.path().join("oauth/manifest.yaml").as_path()));
        assert_eq!(p.key.as_deref(), Some("providers[0].clientSecret"));
        assert_eq!(p.plugin.as_deref(), Some("oauth"));
        assert!(p.message.contains("`GOOGLE_SECRET` is not set"), "{}", p.message);
        assert_eq!(d.broken.get("oauth").map(String::as_str), Some("its manifest has errors"));
        assert!(d.warnings.iter().any(|w| w.contains("disabled plugin `off`") && w.contains("OFF_SECRET")), "{:?}", d.warnings);
    }
}
