//! The request log: a ring of the most recent requests the gateway saw, with filters and stats.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use serde_json::{Value, json};

/// One logged request.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    /// Increasing id.
    pub id: u64,
    /// When it arrived (epoch ms).
    pub timestamp: u64,
    /// The client address the rate limiter used.
    pub ip: String,
    /// The method.
    pub method: String,
    /// The path (no query).
    pub path: String,
    /// The status answered.
    pub status: u16,
    /// Milliseconds from the gateway's `on_request` to its `on_response`.
    pub duration: f64,
    /// Whether the gateway answered 429.
    pub rate_limited: bool,
}

/// Which entries to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// At most this many (newest first).
    pub limit: usize,
    /// Only this client address.
    pub ip: Option<String>,
    /// Only 429s answered by the gateway.
    pub rate_limited: bool,
    /// Only this status class (`4` for 4xx).
    pub status_range: Option<u16>,
}

impl LogFilter {
    /// Reads `limit`, `ip`, `rateLimited` and `statusRange` from a query.
    ///
    /// # Errors
    /// A parameter that does not parse, named.
    pub fn from_query(q: &std::collections::HashMap<String, String>) -> Result<Self, String> {
        let limit = match q.get("limit") {
            None => 50,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("`limit`: `{v}` is not a positive number"))?,
        };
        let status_range = match q
            .get("statusRange")
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(v) => Some(
                v.trim_end_matches("xx")
                    .parse::<u16>()
                    .ok()
                    .filter(|n| (1..=5).contains(n))
                    .ok_or_else(|| {
                        format!(
                            "`statusRange`: `{v}` is not 1 to 5 (a status class such as 4 for 4xx)"
                        )
                    })?,
            ),
        };
        Ok(Self {
            limit,
            ip: q
                .get("ip")
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty()),
            rate_limited: q
                .get("rateLimited")
                .is_some_and(|v| v == "true" || v == "1"),
            status_range,
        })
    }

    fn matches(&self, e: &LogEntry) -> bool {
        self.ip.as_ref().is_none_or(|ip| &e.ip == ip)
            && (!self.rate_limited || e.rate_limited)
            && self.status_range.is_none_or(|c| e.status / 100 == c)
    }
}

/// The ring.
#[derive(Debug)]
pub struct RequestLog {
    cap: usize,
    entries: Mutex<VecDeque<LogEntry>>,
    next: AtomicU64,
}

impl RequestLog {
    /// A ring of `cap` entries.
    pub fn new(cap: usize) -> Self {
        Self {
            cap: cap.max(1),
            entries: Mutex::new(VecDeque::with_capacity(cap.min(4096))),
            next: AtomicU64::new(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<LogEntry>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds an entry (its `id` is assigned here), dropping the oldest past capacity.
    pub fn push(&self, mut entry: LogEntry) {
        entry.id = self.next.fetch_add(1, Ordering::Relaxed);
        let mut e = self.lock();
        if e.len() == self.cap {
            e.pop_front();
        }
        e.push_back(entry);
    }

    /// Entries matching `filter`, newest first.
    pub fn query(&self, filter: &LogFilter) -> Vec<LogEntry> {
        self.lock()
            .iter()
            .rev()
            .filter(|e| filter.matches(e))
            .take(filter.limit)
            .cloned()
            .collect()
    }

    /// Forgets every entry.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// `{total, rateLimited, byStatus: {"2xx": n, …}, avgDuration}` over the entries kept.
    pub fn stats(&self) -> Value {
        let e = self.lock();
        let mut by_status: BTreeMap<String, u64> = BTreeMap::new();
        let mut limited = 0;
        let mut sum = 0.0;
        for x in e.iter() {
            *by_status
                .entry(format!("{}xx", x.status / 100))
                .or_default() += 1;
            limited += u64::from(x.rate_limited);
            sum += x.duration;
        }
        let avg = if e.is_empty() {
            0.0
        } else {
            (sum / e.len() as f64 * 100.0).round() / 100.0
        };
        json!({"total": e.len(), "rateLimited": limited, "byStatus": by_status, "avgDuration": avg})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ip: &str, status: u16) -> LogEntry {
        LogEntry {
            id: 0,
            timestamp: 1,
            ip: ip.into(),
            method: "GET".into(),
            path: "/x".into(),
            status,
            duration: 2.0,
            rate_limited: status == 429,
        }
    }

    #[test]
    fn the_ring_keeps_the_newest_and_filters() {
        let log = RequestLog::new(3);
        for (ip, s) in [("a", 200), ("b", 429), ("a", 404), ("a", 500)] {
            log.push(entry(ip, s));
        }
        let all = log.query(&LogFilter {
            limit: 10,
            ..LogFilter::default()
        });
        assert_eq!(
            all.iter().map(|e| e.id).collect::<Vec<_>>(),
            [4, 3, 2],
            "newest first, oldest dropped"
        );
        let q = |pairs: &[(&str, &str)]| {
            let m = pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            log.query(&LogFilter::from_query(&m).unwrap())
                .iter()
                .map(|e| e.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(q(&[("ip", "a")]), [4, 3]);
        assert_eq!(q(&[("rateLimited", "true")]), [2]);
        assert_eq!(q(&[("statusRange", "4")]), [3, 2]);
        assert_eq!(q(&[("statusRange", "4"), ("limit", "1")]), [3]);
        assert_eq!(
            log.stats(),
            json!({"total": 3, "rateLimited": 1, "byStatus": {"4xx": 2, "5xx": 1}, "avgDuration": 2.0})
        );
        log.clear();
        assert_eq!(log.stats()["total"], 0);
    }

    #[test]
    fn bad_filters_are_named() {
        let m = |k: &str, v: &str| std::iter::once((k.to_owned(), v.to_owned())).collect();
        assert!(
            LogFilter::from_query(&m("limit", "x"))
                .unwrap_err()
                .contains("`limit`")
        );
        assert!(
            LogFilter::from_query(&m("statusRange", "9"))
                .unwrap_err()
                .contains("`statusRange`")
        );
        assert_eq!(
            LogFilter::from_query(&m("statusRange", "4xx"))
                .unwrap()
                .status_range,
            Some(4)
        );
    }
}
