//! Folder sizes and file counts without walking the tree on every listing: an in-memory cache
//! (the original's `.dirinfo` files, kept out of the app folders), valid while neither the folder
//! nor any direct child changed since it was computed, and dropped for a path and its ancestors
//! on every write made through the plugin.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// The most folders remembered; past it the cache starts over (a bound, not an LRU).
const MAX_ENTRIES: usize = 50_000;

/// The summary of one folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirInfo {
    /// Bytes of every file below it (symlinks not followed; excluded names left out).
    pub size: u64,
    /// Files below it.
    pub files: u64,
    /// The newest modification time of it and everything below it.
    pub updated: SystemTime,
}

/// The cache.
#[derive(Debug, Default)]
pub struct DirInfoCache {
    entries: Mutex<HashMap<PathBuf, (SystemTime, DirInfo)>>,
}

fn newest_direct(dir: &Path) -> Option<SystemTime> {
    let mut newest = std::fs::symlink_metadata(dir).and_then(|m| m.modified()).ok()?;
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        if let Ok(t) = e.metadata().and_then(|m| m.modified()) {
            newest = newest.max(t);
        }
    }
    Some(newest)
}

impl DirInfoCache {
    /// Returns `dir`'s summary, from the cache when nothing directly in it is newer.
    pub fn get(&self, dir: &Path, excluded: &dyn Fn(&str) -> bool) -> DirInfo {
        let fresh_mark = newest_direct(dir);
        if let (Some(mark), Ok(map)) = (fresh_mark, self.entries.lock())
            && let Some((at, info)) = map.get(dir)
            && mark <= *at
        {
            return *info;
        }
        let computed_at = SystemTime::now();
        let info = compute(dir, excluded);
        if let Ok(mut map) = self.entries.lock() {
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.insert(dir.to_owned(), (computed_at, info));
        }
        info
    }

    /// Drops `path`, everything below it and its ancestors (after a write, or `refresh`).
    pub fn invalidate(&self, path: &Path) {
        if let Ok(mut map) = self.entries.lock() {
            map.retain(|k, _| !(k.starts_with(path) || path.starts_with(k)));
        }
    }
}

/// Walks `dir` (symlinks not followed; excluded names skipped with everything below them).
pub fn compute(dir: &Path, excluded: &dyn Fn(&str) -> bool) -> DirInfo {
    let mut info = DirInfo { size: 0, files: 0, updated: SystemTime::UNIX_EPOCH };
    let walk = walkdir::WalkDir::new(dir).follow_links(false).into_iter().filter_entry(|e| e.depth() == 0 || !excluded(&e.file_name().to_string_lossy()));
    for e in walk.flatten() {
        let Ok(m) = e.metadata() else { continue };
        if let Ok(t) = m.modified() {
            info.updated = info.updated.max(t);
        }
        if m.is_file() {
            info.size += m.len();
            info.files += 1;
        }
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_cached_until_a_child_changes_or_the_path_is_invalidated() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("app");
        std::fs::create_dir_all(d.join("src/.git")).unwrap();
        std::fs::write(d.join("a.txt"), "12345").unwrap();
        std::fs::write(d.join("src/b.txt"), "123").unwrap();
        std::fs::write(d.join("src/.git/big"), "x".repeat(100)).unwrap();
        let cache = DirInfoCache::default();
        let ex = |n: &str| n == ".git";
        let first = cache.get(&d, &ex);
        assert_eq!((first.size, first.files), (8, 2));
        // A deep change the cache cannot see without a walk: served from the cache...
        std::fs::write(d.join("src/b.txt"), "123456789").unwrap();
        assert_eq!(cache.get(&d, &ex).size, 8);
        // ...until the path is invalidated (a write through the plugin, or refresh).
        cache.invalidate(&d.join("src/b.txt"));
        assert_eq!(cache.get(&d, &ex).size, 14);
        // A new direct child is newer than the cached summary.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(d.join("c.txt"), "1").unwrap();
        assert_eq!(cache.get(&d, &ex).files, 3);
    }
}
