//! Resolving `/<name>[@range]` and `/@scope/<name>[@range]` to an app directory (spec §8.2).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use percent_encoding::percent_decode_str;

use crate::range::{Range, parse_label};

/// Files that make a plain `<wd>/<name>/` directory an app (simple layout).
const APP_MARKERS: &[&str] =
    &["package.json", "manifest.yaml", "manifest.yml", "index.html", "index.ts", "index.js", "index.mjs"];

/// The most cache entries kept before the cache is cleared (a bound against unbounded growth).
const MAX_CACHE_ENTRIES: usize = 10_000;

/// The app a path names, before any directory is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppPath {
    /// `@scope` when the app is scoped.
    pub scope: Option<String>,
    /// The package name without scope.
    pub name: String,
    /// The text after the first `@` of the name segment, if any and not empty.
    pub range: Option<String>,
    /// The mount prefix as it appears in the request path (still percent-encoded).
    pub base_path: String,
    /// The decoded segment(s), `@range` included: `todo@1`, `@acme/todo`.
    pub display: String,
}

impl AppPath {
    /// Returns `[@scope/]name`.
    pub fn full_name(&self) -> String {
        match &self.scope {
            Some(s) => format!("{s}/{}", self.name),
            None => self.name.clone(),
        }
    }
}

pub use buntime_core::manifest::is_safe_name;

/// Parses the app part of a request path. Returns `None` for paths that can never name an app:
/// `/`, hidden segments, bad percent-encoding, separators or traversal in the decoded name.
pub fn parse_app_path(path: &str) -> Option<AppPath> {
    let rest = path.strip_prefix('/')?;
    let mut segments = rest.split('/');
    let raw1 = segments.next().filter(|s| !s.is_empty())?;
    let d1 = decode(raw1)?;
    if let Some(scope) = d1.strip_prefix('@') {
        if !is_safe_name(scope) {
            return None;
        }
        let raw2 = segments.next().filter(|s| !s.is_empty())?;
        let d2 = decode(raw2)?;
        let (name, range) = split_range(&d2)?;
        return Some(AppPath {
            scope: Some(d1.clone()),
            name,
            range,
            base_path: format!("/{raw1}/{raw2}"),
            display: format!("{d1}/{d2}"),
        });
    }
    let (name, range) = split_range(&d1)?;
    Some(AppPath { scope: None, name, range, base_path: format!("/{raw1}"), display: d1 })
}

fn decode(raw: &str) -> Option<String> {
    let d = percent_decode_str(raw).decode_utf8().ok()?;
    if d.contains(['/', '\\', '\0']) {
        return None;
    }
    Some(d.into_owned())
}

fn split_range(segment: &str) -> Option<(String, Option<String>)> {
    let (name, range) = match segment.split_once('@') {
        Some((n, r)) => (n, Some(r.split('@').next().unwrap_or_default())),
        None => (segment, None),
    };
    if !is_safe_name(name) {
        return None;
    }
    Some((name.to_owned(), range.filter(|r| !r.is_empty()).map(str::to_owned)))
}

/// An app directory found for a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// What the path named.
    pub app: AppPath,
    /// The absolute app directory.
    pub dir: PathBuf,
    /// The version label of the directory (`latest` or a semver).
    pub label: String,
    /// The pool key `[@scope/]name@version`, where a `package.json` version overrides the label.
    pub key: String,
}

/// Why a path names an app that cannot be used.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResolveError {
    /// Two app directories map to the same pool key.
    #[error(
        "app key collision: `{key}` is used by both `{}` and `{}`; give one of them a different `version` in its package.json or move it",
        first.display(),
        second.display()
    )]
    Collision {
        /// The shared key.
        key: String,
        /// The directory that is served.
        first: PathBuf,
        /// The other directory with the same key.
        second: PathBuf,
    },
}

/// One directory found for an app name, with its version label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// `latest` or a semver as written in the directory name.
    pub label: String,
    /// The directory.
    pub dir: PathBuf,
}

/// Collects the app directories of `[@scope/]name` across `worker_dirs` in order. The first
/// directory seen for a label is the one served (flat, then nested, then simple). An earlier
/// worker dir shadows a later one's label; two directories with one label in the *same* worker
/// dir (`dup@1.0.0/` and `dup/1.0.0/`) are both returned, so the key collision is reported.
pub fn candidates(worker_dirs: &[PathBuf], scope: Option<&str>, name: &str) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::new();
    // The worker dir each candidate came from, to tell shadowing from a same-dir duplicate.
    let mut origin: Vec<usize> = Vec::new();
    let mut push = |label: String, dir: PathBuf, wd_index: usize, out: &mut Vec<Candidate>| {
        let earlier = out.iter().zip(&origin).find(|(c, _)| c.label == label).map(|(_, &o)| o);
        if earlier.is_none_or(|o| o == wd_index) {
            out.push(Candidate { label, dir });
            origin.push(wd_index);
        }
    };
    for (i, wd) in worker_dirs.iter().enumerate() {
        let parent = match scope {
            Some(s) => wd.join(s),
            None => wd.clone(),
        };
        // Flat: `<parent>/<name>@<label>/`.
        if let Ok(entries) = std::fs::read_dir(&parent) {
            let prefix = format!("{name}@");
            let mut flat: Vec<(String, PathBuf)> = entries
                .flatten()
                .filter_map(|e| {
                    let file_name = e.file_name().into_string().ok()?;
                    let label = file_name.strip_prefix(&prefix)?.to_owned();
                    is_label(&label).then(|| (label, e.path()))
                })
                .filter(|(_, p)| p.is_dir())
                .collect();
            flat.sort();
            for (label, dir) in flat {
                push(label, dir, i, &mut out);
            }
        }
        // Nested: `<parent>/<name>/<label>/`.
        let app_dir = parent.join(name);
        if !app_dir.is_dir() {
            continue;
        }
        if let Ok(entries) = std::fs::read_dir(&app_dir) {
            let mut nested: Vec<(String, PathBuf)> = entries
                .flatten()
                .filter_map(|e| {
                    let label = e.file_name().into_string().ok()?;
                    is_label(&label).then(|| (label, e.path()))
                })
                .filter(|(_, p)| p.is_dir())
                .collect();
            nested.sort();
            for (label, dir) in nested {
                push(label, dir, i, &mut out);
            }
        }
        // Simple: `<parent>/<name>/` itself.
        if APP_MARKERS.iter().any(|m| app_dir.join(m).is_file()) {
            push("latest".to_owned(), app_dir, i, &mut out);
        }
    }
    out
}

fn is_label(label: &str) -> bool {
    label == "latest" || parse_label(label).is_some()
}

/// Picks the candidate for `range` (spec §8.2): no range → `latest`, else the highest semver;
/// `latest` → only `latest`; another range → the highest satisfying semver, pre-releases included.
pub fn select<'a>(cands: &'a [Candidate], range: Option<&str>) -> Option<&'a Candidate> {
    let highest = |filter: &dyn Fn(&semver::Version) -> bool| {
        cands
            .iter()
            .filter_map(|c| parse_label(&c.label).map(|v| (v, c)))
            .filter(|(v, _)| filter(v))
            // The first of equal versions is the one served (`max_by` would take the last).
            .fold(None::<(semver::Version, &Candidate)>, |best, (v, c)| match best {
                Some((bv, bc)) if bv >= v => Some((bv, bc)),
                _ => Some((v, c)),
            })
            .map(|(_, c)| c)
    };
    match range {
        None => cands.iter().find(|c| c.label == "latest").or_else(|| highest(&|_| true)),
        Some("latest") => cands.iter().find(|c| c.label == "latest"),
        Some(r) => {
            let Ok(range) = Range::parse(r) else {
                tracing::debug!(range = %r, "Invalid version range in app path.");
                return None;
            };
            highest(&|v| range.matches(v))
        }
    }
}

/// Reads a `package.json`, refusing files over the manifest size limit.
pub(crate) fn read_package_json(file: &Path) -> Option<serde_json::Value> {
    let meta = std::fs::metadata(file).ok()?;
    if !meta.is_file() || meta.len() > buntime_core::yaml::MAX_BYTES {
        return None;
    }
    serde_json::from_str(&std::fs::read_to_string(file).ok()?).ok()
}

/// Returns the `package.json` `version` of `dir`, if it is a non-empty string.
pub fn package_version(dir: &Path) -> Option<String> {
    let json = read_package_json(&dir.join("package.json"))?;
    json.get("version").and_then(|v| v.as_str()).filter(|v| !v.trim().is_empty()).map(str::to_owned)
}

/// Returns the pool key of an app directory: `[@scope/]name@version`, where the `package.json`
/// version overrides the directory's label (spec §9.3, without the `latest@latest` collision).
pub fn key_for(full_name: &str, label: &str, dir: &Path) -> String {
    let version = package_version(dir).unwrap_or_else(|| label.to_owned());
    format!("{full_name}@{version}")
}

/// A cached lookup: when it was made, and the app found (`None`: no app has that path).
type Cached = (Instant, Option<Arc<Resolution>>);

/// Resolves app paths to directories, with a short cache of hits and of misses.
///
/// Misses are cached too: a path that names no app (a plugin's, a proxy rule's, a typo) is
/// looked up on every request otherwise, each lookup a directory scan on a blocking thread.
#[derive(Debug)]
pub struct Resolver {
    worker_dirs: Vec<PathBuf>,
    ttl: Duration,
    cache: RwLock<HashMap<String, Cached>>,
}

impl Resolver {
    /// Creates a resolver over `worker_dirs` (in priority order) caching hits for `ttl`
    /// (zero disables the cache).
    pub fn new(worker_dirs: Vec<PathBuf>, ttl: Duration) -> Self {
        Self { worker_dirs, ttl, cache: RwLock::new(HashMap::new()) }
    }

    /// Returns the worker dirs searched, in order.
    pub fn worker_dirs(&self) -> &[PathBuf] {
        &self.worker_dirs
    }

    /// Returns the cached answer for `path` when it is still fresh (`Some(None)`: no such app);
    /// `None` when it must be looked up. Never touches the disk.
    pub fn cached(&self, path: &str) -> Option<Option<Arc<Resolution>>> {
        if self.ttl.is_zero() {
            return None;
        }
        let Some(app) = parse_app_path(path) else { return Some(None) };
        let cache = self.cache.read().ok()?;
        let (at, hit) = cache.get(&app.base_path)?;
        (at.elapsed() < self.ttl).then(|| hit.clone())
    }

    /// Resolves the app a request path names. Reads directories and `package.json` files: call it
    /// from a blocking thread.
    ///
    /// # Errors
    /// The selected directory shares its pool key with another served directory.
    pub fn resolve(&self, path: &str) -> Result<Option<Arc<Resolution>>, ResolveError> {
        let Some(app) = parse_app_path(path) else { return Ok(None) };
        if !self.ttl.is_zero()
            && let Ok(cache) = self.cache.read()
            && let Some((at, hit)) = cache.get(&app.base_path)
            && at.elapsed() < self.ttl
        {
            return Ok(hit.clone());
        }
        let base_path = app.base_path.clone();
        let res = self.lookup(app)?.map(Arc::new);
        if !self.ttl.is_zero()
            && let Ok(mut cache) = self.cache.write()
        {
            if cache.len() >= MAX_CACHE_ENTRIES {
                cache.clear();
            }
            cache.insert(base_path, (Instant::now(), res.clone()));
        }
        Ok(res)
    }

    /// Forgets every cached resolution (after an upload or a delete).
    pub fn invalidate(&self) {
        if let Ok(mut cache) = self.cache.write() {
            cache.clear();
        }
    }

    fn lookup(&self, app: AppPath) -> Result<Option<Resolution>, ResolveError> {
        let cands = candidates(&self.worker_dirs, app.scope.as_deref(), &app.name);
        let Some(chosen) = select(&cands, app.range.as_deref()) else { return Ok(None) };
        let full = app.full_name();
        let key = key_for(&full, &chosen.label, &chosen.dir);
        for other in cands.iter().filter(|c| c.dir != chosen.dir) {
            if key_for(&full, &other.label, &other.dir) == key {
                return Err(ResolveError::Collision { key, first: chosen.dir.clone(), second: other.dir.clone() });
            }
        }
        Ok(Some(Resolution { dir: chosen.dir.clone(), label: chosen.label.clone(), key, app }))
    }
}

/// One entry of the `GET /apps` listing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AppListing {
    /// `[@scope/]name`.
    pub name: String,
    /// The directory holding the app (its own dir, or the worker dir for flat-only apps).
    pub path: PathBuf,
    /// Version labels, `latest` first, then semvers from highest to lowest.
    pub versions: Vec<String>,
}

/// Lists every routable app across `worker_dirs` (the same rules as [`candidates`]).
pub fn list_apps(worker_dirs: &[PathBuf]) -> Vec<AppListing> {
    let mut names: Vec<(Option<String>, String, PathBuf)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut note = |scope: Option<String>, name: String, path: PathBuf, names: &mut Vec<_>| {
        let full = match &scope {
            Some(s) => format!("{s}/{name}"),
            None => name.clone(),
        };
        if seen.insert(full) {
            names.push((scope, name, path));
        }
    };
    for wd in worker_dirs {
        let Ok(entries) = std::fs::read_dir(wd) else { continue };
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for e in entries {
            let Ok(file_name) = e.file_name().into_string() else { continue };
            if !e.path().is_dir() || file_name.starts_with('.') {
                continue;
            }
            if let Some(scope) = file_name.strip_prefix('@') {
                if !is_safe_name(scope) {
                    continue;
                }
                let Ok(subs) = std::fs::read_dir(e.path()) else { continue };
                let mut subs: Vec<_> = subs.flatten().collect();
                subs.sort_by_key(std::fs::DirEntry::file_name);
                for s in subs {
                    let Ok(sub) = s.file_name().into_string() else { continue };
                    let name = sub.split('@').next().unwrap_or_default().to_owned();
                    if is_safe_name(&name) && s.path().is_dir() {
                        note(Some(file_name.clone()), name, e.path(), &mut names);
                    }
                }
                continue;
            }
            let name = file_name.split('@').next().unwrap_or_default().to_owned();
            if is_safe_name(&name) {
                let path = if file_name.contains('@') { wd.clone() } else { e.path() };
                note(None, name, path, &mut names);
            }
        }
    }
    let mut out = Vec::new();
    for (scope, name, path) in names {
        let cands = candidates(worker_dirs, scope.as_deref(), &name);
        if cands.is_empty() {
            continue;
        }
        let mut versions: Vec<String> = cands.into_iter().map(|c| c.label).collect();
        let mut seen_labels = std::collections::HashSet::new();
        versions.retain(|v| seen_labels.insert(v.clone()));
        versions.sort_by(|a, b| match (parse_label(a), parse_label(b)) {
            (Some(x), Some(y)) => y.cmp(&x),
            (None, Some(_)) => std::cmp::Ordering::Less,
            (Some(_), None) => std::cmp::Ordering::Greater,
            (None, None) => a.cmp(b),
        });
        let full = match &scope {
            Some(s) => format!("{s}/{name}"),
            None => name,
        };
        out.push(AppListing { name: full, path, versions });
    }
    out
}

#[cfg(test)]
mod tests;
