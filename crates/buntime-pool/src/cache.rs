//! The warm-worker cache: one slot per app key, strict LRU at the pool size, and single-flight
//! starts (every concurrent cold request for a key waits on the same start).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::OnceCell;

use crate::error::StartError;
use crate::worker::Worker;

/// One app key's worker, started at most once.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) key: String,
    pub(crate) dir: PathBuf,
    pub(crate) cell: OnceCell<Result<Arc<Worker>, StartError>>,
    evicted: AtomicBool,
    /// The slot of the worker warmed to take over from this one (see `recycle`), until it does.
    successor: Mutex<Option<Arc<Slot>>>,
}

impl Slot {
    pub(crate) fn new(key: String, dir: PathBuf) -> Arc<Self> {
        Arc::new(Self { key, dir, cell: OnceCell::new(), evicted: AtomicBool::new(false), successor: Mutex::new(None) })
    }

    /// The successor being warmed (or warm) for this slot's worker.
    pub(crate) fn successor(&self) -> MutexGuard<'_, Option<Arc<Slot>>> {
        self.successor.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the start finished with an error.
    pub(crate) fn failed(&self) -> bool {
        matches!(self.cell.get(), Some(Err(_)))
    }

    /// The started worker, if its start finished and succeeded.
    pub(crate) fn worker(&self) -> Option<&Arc<Worker>> {
        self.cell.get().and_then(|r| r.as_ref().ok())
    }

    /// Whether the slot left the cache (its worker must be retired once started).
    pub(crate) fn is_evicted(&self) -> bool {
        self.evicted.load(Ordering::SeqCst)
    }
}

/// Slots by key, with a use counter for LRU order.
#[derive(Debug)]
pub(crate) struct Cache {
    cap: usize,
    tick: u64,
    entries: HashMap<String, (Arc<Slot>, u64)>,
}

impl Cache {
    pub(crate) fn new(cap: usize) -> Self {
        Self { cap: cap.max(1), tick: 0, entries: HashMap::new() }
    }

    /// Returns the slot of `key` and marks it most recently used.
    pub(crate) fn get(&mut self, key: &str) -> Option<Arc<Slot>> {
        self.tick += 1;
        let tick = self.tick;
        self.entries.get_mut(key).map(|(slot, used)| {
            *used = tick;
            slot.clone()
        })
    }

    /// Inserts a slot as most recently used; returns the slots evicted to stay within the size.
    pub(crate) fn insert(&mut self, slot: Arc<Slot>) -> Vec<Arc<Slot>> {
        self.tick += 1;
        let mut evicted = Vec::new();
        if let Some((old, _)) = self.entries.insert(slot.key.clone(), (slot, self.tick)) {
            old.evicted.store(true, Ordering::SeqCst);
            evicted.push(old);
        }
        while self.entries.len() > self.cap {
            let Some(lru) = self.entries.iter().min_by_key(|(_, (_, used))| *used).map(|(k, _)| k.clone()) else { break };
            if let Some((old, _)) = self.entries.remove(&lru) {
                old.evicted.store(true, Ordering::SeqCst);
                evicted.push(old);
            }
        }
        evicted
    }

    /// Removes `slot` if it is still the one cached for its key.
    pub(crate) fn remove(&mut self, slot: &Arc<Slot>) -> bool {
        let same = self.entries.get(&slot.key).is_some_and(|(s, _)| Arc::ptr_eq(s, slot));
        if same {
            self.entries.remove(&slot.key);
            slot.evicted.store(true, Ordering::SeqCst);
        }
        same
    }

    /// Puts `new` in the place of `old` (same use tick), if `old` is still the one cached for its
    /// key; `old` counts as evicted. Returns whether it did.
    pub(crate) fn replace(&mut self, old: &Arc<Slot>, new: Arc<Slot>) -> bool {
        match self.entries.get_mut(&old.key) {
            Some((slot, _)) if Arc::ptr_eq(slot, old) => {
                old.evicted.store(true, Ordering::SeqCst);
                *slot = new;
                true
            }
            _ => false,
        }
    }

    /// Removes and returns the slot of `key`.
    pub(crate) fn remove_key(&mut self, key: &str) -> Option<Arc<Slot>> {
        let (slot, _) = self.entries.remove(key)?;
        slot.evicted.store(true, Ordering::SeqCst);
        Some(slot)
    }

    /// Every cached slot.
    pub(crate) fn slots(&self) -> Vec<Arc<Slot>> {
        self.entries.values().map(|(s, _)| s.clone()).collect()
    }

    /// Removes every slot.
    pub(crate) fn drain(&mut self) -> Vec<Arc<Slot>> {
        self.entries.drain().map(|(_, (s, _))| s).inspect(|s| s.evicted.store(true, Ordering::SeqCst)).collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(key: &str) -> Arc<Slot> {
        Slot::new(key.to_owned(), PathBuf::from(format!("/apps/{key}")))
    }

    #[test]
    fn the_least_recently_used_slot_is_evicted_at_capacity() {
        let mut c = Cache::new(2);
        assert!(c.insert(slot("a")).is_empty());
        assert!(c.insert(slot("b")).is_empty());
        c.get("a");
        let evicted = c.insert(slot("c"));
        assert_eq!(evicted.len(), 1);
        assert_eq!(evicted[0].key, "b");
        assert!(evicted[0].is_evicted());
        assert!(c.get("a").is_some() && c.get("c").is_some() && c.get("b").is_none());
    }

    #[test]
    fn removing_a_replaced_slot_keeps_the_new_one() {
        let mut c = Cache::new(4);
        let old = slot("a");
        c.insert(old.clone());
        c.remove(&old);
        let new = slot("a");
        c.insert(new.clone());
        assert!(!c.remove(&old));
        assert!(Arc::ptr_eq(&c.get("a").unwrap(), &new));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn a_successor_replaces_only_the_slot_it_was_made_for() {
        let mut c = Cache::new(4);
        let old = slot("a");
        c.insert(old.clone());
        let next = slot("a");
        assert!(c.replace(&old, next.clone()));
        assert!(old.is_evicted() && !next.is_evicted());
        assert!(Arc::ptr_eq(&c.get("a").unwrap(), &next));
        assert!(!c.replace(&old, slot("a")), "a stale slot replaces nothing");
        assert!(Arc::ptr_eq(&c.get("a").unwrap(), &next));
        assert_eq!(c.len(), 1);
    }
}
