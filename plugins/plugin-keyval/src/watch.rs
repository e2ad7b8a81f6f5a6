//! Watching (§A.12, §S-15): a [`Watcher`] follows a set of keys or a prefix through the engine's
//! broadcast channel of committed changes, so an idle watcher costs nothing and a change arrives as
//! soon as its transaction commits. A watcher that falls behind the channel re-reads its keys.

use std::collections::{HashMap, HashSet};

use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;

use crate::entries::Entry;
use crate::error::KvError;
use crate::keys::{Key, is_descendant};
use crate::list::{ListOptions, Selector};
use crate::store::{ChangeBatch, Kv};

/// What a watcher follows.
#[derive(Debug, Clone)]
pub enum Target {
    /// These exact keys.
    Keys(Vec<Key>),
    /// The strict descendants of a prefix; `limit` bounds the initial snapshot and re-reads.
    Prefix {
        /// The prefix.
        prefix: Key,
        /// Most entries read at once.
        limit: usize,
    },
}

/// A live subscription to a target's changes.
#[derive(Debug)]
pub struct Watcher {
    kv: Kv,
    target: Target,
    prefix_enc: Vec<u8>,
    keys_enc: HashSet<Vec<u8>>,
    /// The last versionstamp reported per key (`None`: absent).
    known: HashMap<Vec<u8>, Option<String>>,
    rx: tokio::sync::broadcast::Receiver<ChangeBatch>,
}

fn change_json(key: &Key, value: Option<&Value>, versionstamp: Option<&String>) -> Value {
    serde_json::json!({"key": key.to_json(), "value": value, "versionstamp": versionstamp})
}

impl Watcher {
    /// Subscribes, then reads the current state (so no commit between the two is missed); returns
    /// the watcher and that snapshot as `{key, value, versionstamp}` items (absent keys as nulls).
    ///
    /// # Errors
    /// The database failed.
    pub async fn start(kv: &Kv, target: Target) -> Result<(Self, Vec<Value>), KvError> {
        let rx = kv.subscribe();
        let (prefix_enc, keys_enc) = match &target {
            Target::Keys(keys) => (Vec::new(), keys.iter().map(Key::encode).collect()),
            Target::Prefix { prefix, .. } => (prefix.encode(), HashSet::new()),
        };
        let mut w = Self {
            kv: kv.clone(),
            target,
            prefix_enc,
            keys_enc,
            known: HashMap::new(),
            rx,
        };
        let snapshot = w.read().await?;
        let items = snapshot
            .iter()
            .map(|(k, e)| {
                e.as_ref()
                    .map_or_else(|| Entry::missing_json(k), Entry::to_json)
            })
            .collect();
        for (k, e) in snapshot {
            w.known.insert(k.encode(), e.map(|e| e.versionstamp));
        }
        Ok((w, items))
    }

    /// The current state of the target: each key with its entry, or `None` when absent.
    async fn read(&self) -> Result<Vec<(Key, Option<Entry>)>, KvError> {
        match &self.target {
            Target::Keys(keys) => Ok(keys
                .iter()
                .cloned()
                .zip(self.kv.get_many(keys).await?)
                .collect()),
            Target::Prefix { prefix, limit } => {
                let sel = Selector {
                    prefix: Some(prefix.clone()),
                    ..Selector::default()
                };
                let entries = self
                    .kv
                    .list(
                        &sel,
                        &ListOptions {
                            limit: *limit,
                            reverse: false,
                        },
                    )
                    .await?;
                Ok(entries
                    .into_iter()
                    .map(|e| (e.key.clone(), Some(e)))
                    .collect())
            }
        }
    }

    fn follows(&self, encoded: &[u8]) -> bool {
        match self.target {
            Target::Keys(_) => self.keys_enc.contains(encoded),
            Target::Prefix { .. } => is_descendant(encoded, &self.prefix_enc),
        }
    }

    /// Waits for the next commit touching the target and returns its changes (deletions as null
    /// entries); `None` when the engine is gone.
    ///
    /// # Errors
    /// The database failed while re-reading after falling behind.
    pub async fn next(&mut self) -> Result<Option<Vec<Value>>, KvError> {
        loop {
            match self.rx.recv().await {
                Ok(batch) => {
                    // The last change to a key within one commit is its state after the commit.
                    let mut order: Vec<&[u8]> = Vec::new();
                    let mut last: HashMap<&[u8], usize> = HashMap::new();
                    for (i, c) in batch.iter().enumerate() {
                        if self.follows(&c.encoded) && last.insert(&c.encoded, i).is_none() {
                            order.push(&c.encoded);
                        }
                    }
                    let mut out = Vec::new();
                    for enc in order {
                        let c = &batch[last[enc]];
                        let before = self.known.get(enc).cloned().flatten();
                        if before == c.versionstamp && c.versionstamp.is_none() {
                            continue; // deleting what was already absent is no change
                        }
                        self.known.insert(c.encoded.clone(), c.versionstamp.clone());
                        out.push(change_json(
                            &c.key,
                            c.value.as_ref(),
                            c.versionstamp.as_ref(),
                        ));
                    }
                    if !out.is_empty() {
                        return Ok(Some(out));
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    let out = self.resync().await?;
                    if !out.is_empty() {
                        return Ok(Some(out));
                    }
                }
                Err(RecvError::Closed) => return Ok(None),
            }
        }
    }

    /// Re-reads the target and reports what differs from what was last reported.
    async fn resync(&mut self) -> Result<Vec<Value>, KvError> {
        let now = self.read().await?;
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for (k, e) in now {
            let enc = k.encode();
            let vs = e.as_ref().map(|e| e.versionstamp.clone());
            if self.known.get(&enc).cloned().flatten() != vs {
                out.push(
                    e.as_ref()
                        .map_or_else(|| Entry::missing_json(&k), Entry::to_json),
                );
            }
            self.known.insert(enc.clone(), vs);
            seen.insert(enc);
        }
        // Prefix entries no longer listed are gone.
        let gone: Vec<Vec<u8>> = self
            .known
            .iter()
            .filter(|(k, v)| v.is_some() && !seen.contains(*k))
            .map(|(k, _)| k.clone())
            .collect();
        for enc in gone {
            if let Ok(k) = Key::decode(&enc) {
                out.push(Entry::missing_json(&k));
            }
            self.known.insert(enc, None);
        }
        Ok(out)
    }
}
