//! The roots the file manager serves: the app and plugin directories, each under a unique name,
//! and the menu items they give (`/deployments/<root>`).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// What a root holds; decides the permissions a write needs and where versions exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootKind {
    /// A worker (app) directory: `app/version/…` or `app@version/…`.
    Apps,
    /// A plugin directory.
    Plugins,
}

/// One served directory.
#[derive(Debug, Clone)]
pub struct Root {
    /// The first path segment naming it: the directory's basename, suffixed `-2`, `-3`… when two
    /// roots share one.
    pub name: String,
    /// The directory as configured (what the app resolver joins paths to).
    pub dir: PathBuf,
    /// The directory with symlinks resolved: every path served must stay below it.
    pub real: PathBuf,
    /// Apps or plugins.
    pub kind: RootKind,
}

impl Root {
    /// Whether the root is left out of menus (a basename starting with `.`); it is still served.
    pub fn hidden(&self) -> bool {
        self.name.starts_with('.')
    }
}

/// Names the roots: worker dirs first, then plugin dirs; a directory listed twice is served once.
pub fn build(worker_dirs: &[PathBuf], plugin_dirs: &[PathBuf]) -> Vec<Root> {
    let mut roots: Vec<Root> = Vec::new();
    let all = worker_dirs.iter().map(|d| (d, RootKind::Apps)).chain(plugin_dirs.iter().map(|d| (d, RootKind::Plugins)));
    for (dir, kind) in all {
        let real = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
        if roots.iter().any(|r| r.real == real) {
            continue;
        }
        let base = basename(dir);
        let mut name = base.clone();
        let mut n = 2;
        while roots.iter().any(|r| r.name == name) {
            name = format!("{base}-{n}");
            n += 1;
        }
        roots.push(Root { name, dir: dir.clone(), real, kind });
    }
    roots
}

fn basename(dir: &Path) -> String {
    dir.file_name().map(|n| n.to_string_lossy().into_owned()).filter(|n| !n.is_empty()).unwrap_or_else(|| "root".to_owned())
}

/// The manifest's menus with the first menu's children replaced by one item per visible root,
/// when there is more than one (one root needs no sub-menu).
pub fn menus(manifest_menus: Option<&Value>, base: &str, roots: &[Root]) -> Option<Value> {
    let mut menus = manifest_menus?.clone();
    let visible: Vec<&Root> = roots.iter().filter(|r| !r.hidden()).collect();
    if visible.len() < 2 {
        return Some(menus);
    }
    let items: Vec<Value> = visible
        .iter()
        .map(|r| json!({"title": r.name, "icon": "lucide:folder", "path": format!("{base}/{}", r.name)}))
        .collect();
    if let Some(first) = menus.as_array_mut().and_then(|m| m.first_mut()).and_then(Value::as_object_mut) {
        first.insert("items".to_owned(), Value::Array(items));
    }
    Some(menus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_basenames_get_suffixes_and_a_dir_listed_twice_is_served_once() {
        let t = tempfile::tempdir().unwrap();
        let (a, b, c) = (t.path().join("x/apps"), t.path().join("y/apps"), t.path().join("plugins"));
        for d in [&a, &b, &c] {
            std::fs::create_dir_all(d).unwrap();
        }
        let roots = build(&[a.clone(), b, a], &[c]);
        let names: Vec<&str> = roots.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["apps", "apps-2", "plugins"]);
        assert_eq!(roots[2].kind, RootKind::Plugins);
    }

    #[test]
    fn menus_list_one_item_per_visible_root_only_when_there_are_several() {
        let menu = json!([{"title": "Deployments", "icon": "lucide:rocket", "path": "/deployments"}]);
        let root = |name: &str| Root { name: name.into(), dir: name.into(), real: name.into(), kind: RootKind::Apps };
        assert_eq!(menus(Some(&menu), "/deployments", &[root("apps"), root(".hidden")]).unwrap(), menu);
        let m = menus(Some(&menu), "/deployments", &[root("apps"), root(".hidden"), root("plugins")]).unwrap();
        assert_eq!(
            m[0]["items"],
            json!([
                {"title": "apps", "icon": "lucide:folder", "path": "/deployments/apps"},
                {"title": "plugins", "icon": "lucide:folder", "path": "/deployments/plugins"}
            ])
        );
        assert_eq!(m[0]["title"], "Deployments");
    }
}
