//! Metrics history: one snapshot of the rate limiter's counters a second, kept in memory and,
//! when KeyVal is loaded, one KeyVal entry per snapshot that expires by itself.

use std::collections::VecDeque;
use std::sync::Mutex;

use buntime_plugin_keyval::{DeleteOptions, Key, KeyPart, Kv, ListOptions, Selector};
use serde::{Deserialize, Serialize};

use crate::bucket::LimiterMetrics;

/// One snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// When (epoch ms).
    pub timestamp: u64,
    /// Requests checked so far.
    pub total_requests: u64,
    /// Requests refused so far.
    pub blocked_requests: u64,
    /// Requests allowed so far.
    pub allowed_requests: u64,
    /// Buckets held.
    pub active_buckets: u64,
}

impl Snapshot {
    /// The counters `m` at `timestamp`.
    pub fn of(m: LimiterMetrics, timestamp: u64) -> Self {
        Self {
            timestamp,
            total_requests: m.total_requests,
            blocked_requests: m.blocked_requests,
            allowed_requests: m.allowed_requests,
            active_buckets: m.active_buckets,
        }
    }

    fn same_counters(&self, o: &Self) -> bool {
        (
            self.total_requests,
            self.blocked_requests,
            self.active_buckets,
        ) == (o.total_requests, o.blocked_requests, o.active_buckets)
    }
}

/// The prefix of the snapshots in KeyVal: `["gateway","metrics","history", <timestamp>]`.
pub fn prefix() -> Key {
    Key::new(vec![
        KeyPart::String("gateway".into()),
        KeyPart::String("metrics".into()),
        KeyPart::String("history".into()),
    ])
    .expect("a three-string key is valid")
}

/// The history.
#[derive(Debug)]
pub struct History {
    cap: usize,
    ring: Mutex<VecDeque<Snapshot>>,
}

impl History {
    /// Keeps `cap` snapshots (one a second: `cap` seconds of history).
    pub fn new(cap: usize) -> Self {
        Self {
            cap: cap.max(1),
            ring: Mutex::new(VecDeque::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Snapshot>> {
        self.ring
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records `s` in memory; returns whether it differs from the previous one (only those are
    /// written to KeyVal: an idle gateway writes nothing).
    pub fn record(&self, s: Snapshot) -> bool {
        let mut r = self.lock();
        let changed = r.back().is_none_or(|last| !last.same_counters(&s));
        if r.len() == self.cap {
            r.pop_front();
        }
        r.push_back(s);
        changed
    }

    /// Writes `s` to KeyVal, expiring when it leaves the history.
    ///
    /// # Errors
    /// KeyVal failed.
    pub async fn persist(&self, kv: &Kv, s: Snapshot) -> Result<(), String> {
        let key = prefix()
            .child(KeyPart::Number(s.timestamp as f64))
            .map_err(|e| e.to_string())?;
        let value = serde_json::to_value(s).map_err(|e| e.to_string())?;
        kv.set(&key, value, Some(self.cap as f64 * 1000.0))
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Up to `limit` snapshots, newest first: from KeyVal when given (they survive restarts),
    /// else from memory.
    ///
    /// # Errors
    /// KeyVal failed.
    pub async fn list(&self, kv: Option<&Kv>, limit: usize) -> Result<Vec<Snapshot>, String> {
        match kv {
            Some(kv) => {
                let sel = Selector {
                    prefix: Some(prefix()),
                    ..Selector::default()
                };
                let entries = kv
                    .list(
                        &sel,
                        &ListOptions {
                            limit,
                            reverse: true,
                        },
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(entries
                    .into_iter()
                    .filter_map(|e| serde_json::from_value(e.value).ok())
                    .collect())
            }
            None => Ok(self.lock().iter().rev().take(limit).copied().collect()),
        }
    }

    /// Forgets every snapshot, in memory and in KeyVal.
    ///
    /// # Errors
    /// KeyVal failed.
    pub async fn clear(&self, kv: Option<&Kv>) -> Result<(), String> {
        self.lock().clear();
        if let Some(kv) = kv {
            kv.delete(
                &prefix(),
                &DeleteOptions {
                    exact: false,
                    filter: None,
                },
            )
            .await
            .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(t: u64, total: u64) -> Snapshot {
        Snapshot {
            timestamp: t,
            total_requests: total,
            blocked_requests: 0,
            allowed_requests: total,
            active_buckets: 1,
        }
    }

    #[tokio::test]
    async fn memory_history_is_a_ring_listed_newest_first() {
        let h = History::new(3);
        assert!(h.record(snap(1, 1)));
        assert!(!h.record(snap(2, 1)), "unchanged counters");
        assert!(h.record(snap(3, 2)));
        h.record(snap(4, 3));
        let ts: Vec<u64> = h
            .list(None, 10)
            .await
            .unwrap()
            .iter()
            .map(|s| s.timestamp)
            .collect();
        assert_eq!(ts, [4, 3, 2]);
        assert_eq!(h.list(None, 1).await.unwrap().len(), 1);
        h.clear(None).await.unwrap();
        assert!(h.list(None, 10).await.unwrap().is_empty());
    }
}
