//! The ring buffer of log entries: sequence numbers, per-level counts, filters, and the feed of
//! the runtime's own log events from the process-wide sink.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use buntime_core::logsink::{self, LogLevel, LogQueue, LogRecord};
use buntime_core::redact::{REDACTED, is_secret_field, redact};
use serde::Serialize;
use serde_json::{Map, Value, json};

/// One entry, as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// Its sequence number: increases by one per entry added, never reused (not even after a
    /// clear), so a reader can ask for "everything after N".
    pub id: u64,
    /// Its level.
    pub level: LogLevel,
    /// The message.
    pub message: String,
    /// Extra data (for runtime events: the `target` module and the event's fields).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
    /// Who logged it: the plugin's name, the runtime module, or what a caller said.
    pub source: String,
    /// When, as RFC 3339 UTC with milliseconds.
    pub timestamp: String,
    #[serde(skip)]
    timestamp_ms: u64,
}

/// An entry to add (POST /api, `addLog`): everything but the id and the timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEntry {
    /// Its level.
    pub level: LogLevel,
    /// The message.
    pub message: String,
    /// Extra data.
    pub meta: Option<Value>,
    /// Who logged it.
    pub source: String,
}

impl NewEntry {
    /// Reads `{level, message, meta?, source?}`; `source` defaults to `api`.
    ///
    /// # Errors
    /// The first field that is missing or of the wrong kind, named.
    pub fn from_json(v: &Value) -> Result<Self, String> {
        let Some(o) = v.as_object() else {
            return Err(
                "the body must be a JSON object {level, message, source?, meta?}".to_owned(),
            );
        };
        let level = match o.get("level") {
            Some(Value::String(s)) => LogLevel::parse(s).ok_or_else(|| {
                format!("field `level`: `{s}` is not one of debug, info, warn, error")
            })?,
            Some(other) => {
                return Err(format!(
                    "field `level`: expected one of debug, info, warn, error, found {other}"
                ));
            }
            None => return Err("field `level` is required (debug, info, warn or error)".to_owned()),
        };
        let message = match o.get("message") {
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err("field `message` must be a string".to_owned()),
            None => return Err("field `message` is required".to_owned()),
        };
        let source = match o.get("source") {
            None | Some(Value::Null) => "api".to_owned(),
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(_) => return Err("field `source` must be a non-empty string".to_owned()),
        };
        let meta = o.get("meta").filter(|m| !m.is_null()).cloned();
        Ok(Self {
            level,
            message,
            meta,
            source,
        })
    }
}

/// What `getLogs` / `GET /api` select.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this level.
    pub level: Option<LogLevel>,
    /// Only entries whose message or source contains this (case-insensitive).
    pub search: Option<String>,
    /// Only this source (exact).
    pub source: Option<String>,
    /// At most this many (newest first); default 100.
    pub limit: Option<usize>,
}

/// The default page of `getLogs`.
pub const DEFAULT_LIMIT: usize = 100;

/// Entries appended after a given id, for a live reader.
#[derive(Debug, Clone, PartialEq)]
pub struct Since {
    /// The entries, oldest first.
    pub logs: Vec<Entry>,
    /// Entries added after the given id that left the ring before this read (0 when none).
    pub missed: u64,
    /// The id to ask from next time.
    pub last_id: u64,
}

struct Ring {
    entries: VecDeque<Entry>,
    next_id: u64,
    /// Entries with ids up to this were cleared on purpose (not "missed" by readers).
    cleared_through: u64,
    counts: [u64; 4],
}

/// The newest store per plugin directory, for [`LogStore::open`].
static LATEST: LazyLock<Mutex<HashMap<PathBuf, Vec<Weak<LogStore>>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The ring buffer, shared by the routes, the service and the feed task.
pub struct LogStore {
    ring: Mutex<Ring>,
    max: usize,
    feed: Arc<LogQueue>,
    detached: AtomicBool,
}

impl std::fmt::Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStore")
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

fn level_index(l: LogLevel) -> usize {
    match l {
        LogLevel::Debug => 0,
        LogLevel::Info => 1,
        LogLevel::Warn => 2,
        LogLevel::Error => 3,
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Formats milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ` (what JavaScript's
/// `toISOString` gives, so the original's UI parses it).
pub fn iso8601(ms: u64) -> String {
    let secs = ms / 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

/// Redacts secrets in every string of `v`, and drops the values of keys that name secrets.
fn redact_value(v: &mut Value) {
    match v {
        Value::String(s) => {
            if let std::borrow::Cow::Owned(r) = redact(s) {
                *s = r;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_value),
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if is_secret_field(k) {
                    *val = Value::String(REDACTED.to_owned());
                } else {
                    redact_value(val);
                }
            }
        }
        _ => {}
    }
}

impl LogStore {
    /// Creates a store keeping `max` entries, fed by the runtime's log events from now on.
    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        Self {
            ring: Mutex::new(Ring {
                entries: VecDeque::with_capacity(max.min(4096)),
                next_id: 1,
                cleared_through: 0,
                counts: [0; 4],
            }),
            max,
            // Enough room for a burst between two drains; older undrained events are dropped.
            feed: logsink::subscribe(max.max(1024)),
            detached: AtomicBool::new(false),
        }
    }

    /// Opens the store of the logs plugin in `dir`: a plugin reloaded from the same directory
    /// takes over the entries (and ids) of the instance it replaces, so a reload loses no log.
    pub fn open(dir: &Path, max: usize) -> Arc<Self> {
        let mut latest = LATEST
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let stores = latest.entry(dir.to_path_buf()).or_default();
        stores.retain(|s| s.strong_count() > 0);
        // The newest store still attached: a refused reload's instance is shut down (detached)
        // and must not hand its copy on; the generation that kept serving still has the logs.
        let previous = stores
            .iter()
            .rev()
            .filter_map(Weak::upgrade)
            .find(|s| !s.detached.load(Ordering::Acquire));
        let store = Arc::new(match previous {
            Some(old) => old.successor(max),
            None => Self::new(max),
        });
        stores.push(Arc::downgrade(&store));
        store
    }

    /// A store holding this one's entries (the newest `max`), subscribed to the sink before the
    /// copy so that nothing logged from then on is missed or copied twice.
    fn successor(&self, max: usize) -> Self {
        self.absorb();
        let ring = self.lock();
        let next = Self::new(max);
        {
            let mut copy = next.lock();
            let skip = ring.entries.len().saturating_sub(next.max);
            for e in ring.entries.iter().skip(skip) {
                copy.counts[level_index(e.level)] += 1;
                copy.entries.push_back(e.clone());
            }
            copy.next_id = ring.next_id;
            copy.cleared_through = ring.cleared_through;
        }
        next
    }

    fn lock(&self) -> MutexGuard<'_, Ring> {
        self.ring
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Stops receiving the runtime's log events (shutdown); the entries stay readable.
    pub fn detach(&self) {
        self.detached.store(true, Ordering::Release);
        logsink::unsubscribe(&self.feed);
    }

    /// Moves the runtime's pending log events into the ring.
    pub fn absorb(&self) {
        let records = self.feed.drain();
        if records.is_empty() {
            return;
        }
        let mut ring = self.lock();
        for r in records {
            let (entry, ts) = from_record(r);
            self.push_locked(&mut ring, entry, ts);
        }
    }

    /// Adds an entry (secrets redacted) and returns its id.
    pub fn add(&self, mut entry: NewEntry) -> u64 {
        if let std::borrow::Cow::Owned(m) = redact(&entry.message) {
            entry.message = m;
        }
        if let Some(meta) = &mut entry.meta {
            redact_value(meta);
        }
        self.absorb();
        let mut ring = self.lock();
        self.push_locked(&mut ring, entry, now_ms())
    }

    fn push_locked(&self, ring: &mut Ring, e: NewEntry, timestamp_ms: u64) -> u64 {
        let id = ring.next_id;
        ring.next_id += 1;
        ring.counts[level_index(e.level)] += 1;
        ring.entries.push_back(Entry {
            id,
            level: e.level,
            message: e.message,
            meta: e.meta,
            source: e.source,
            timestamp: iso8601(timestamp_ms),
            timestamp_ms,
        });
        while ring.entries.len() > self.max {
            if let Some(old) = ring.entries.pop_front() {
                ring.counts[level_index(old.level)] -= 1;
            }
        }
        id
    }

    /// Returns the entries `filter` selects, newest first.
    pub fn query(&self, filter: &Filter) -> Vec<Entry> {
        self.absorb();
        let needle = filter
            .search
            .as_deref()
            .map(str::to_lowercase)
            .filter(|s| !s.is_empty());
        let limit = filter.limit.unwrap_or(DEFAULT_LIMIT);
        let ring = self.lock();
        ring.entries
            .iter()
            .rev()
            .filter(|e| filter.level.is_none_or(|l| e.level == l))
            .filter(|e| filter.source.as_deref().is_none_or(|s| e.source == s))
            .filter(|e| {
                needle.as_deref().is_none_or(|n| {
                    e.message.to_lowercase().contains(n) || e.source.to_lowercase().contains(n)
                })
            })
            .take(limit)
            .cloned()
            .collect()
    }

    /// Returns the entries added after `after` (an id), oldest first, and how many of those
    /// already left the ring.
    pub fn since(&self, after: u64) -> Since {
        self.absorb();
        let ring = self.lock();
        let last_id = ring.next_id - 1;
        let after = after.min(last_id);
        let logs: Vec<Entry> = ring
            .entries
            .iter()
            .filter(|e| e.id > after)
            .cloned()
            .collect();
        let first_kept = logs.first().map_or(ring.next_id, |e| e.id);
        let missed = first_kept.saturating_sub(after.max(ring.cleared_through) + 1);
        Since {
            logs,
            missed,
            last_id,
        }
    }

    /// Returns the id of the newest entry (0 before the first).
    pub fn last_id(&self) -> u64 {
        self.absorb();
        self.lock().next_id - 1
    }

    /// `{counts: {debug, error, info, warn}, newest, oldest, total}` of the entries kept.
    pub fn stats(&self) -> Value {
        self.absorb();
        let ring = self.lock();
        let c = ring.counts;
        json!({
            "counts": {"debug": c[0], "error": c[3], "info": c[1], "warn": c[2]},
            "newest": ring.entries.back().map(|e| e.timestamp.clone()),
            "oldest": ring.entries.front().map(|e| e.timestamp.clone()),
            "total": ring.entries.len(),
        })
    }

    /// Empties the ring (ids keep counting up).
    pub fn clear(&self) {
        self.absorb();
        let mut ring = self.lock();
        ring.entries.clear();
        ring.counts = [0; 4];
        ring.cleared_through = ring.next_id - 1;
    }
}

impl Drop for LogStore {
    fn drop(&mut self) {
        self.detach();
    }
}

/// Turns a runtime log event into an entry: the plugin (else the module) is the source; the
/// module and the fields go into `meta`.
fn from_record(r: LogRecord) -> (NewEntry, u64) {
    let source = r.plugin.unwrap_or_else(|| r.target.clone());
    let mut meta = Map::new();
    meta.insert("target".to_owned(), Value::String(r.target));
    meta.extend(r.fields);
    (
        NewEntry {
            level: r.level,
            message: r.message,
            meta: Some(Value::Object(meta)),
            source,
        },
        r.timestamp_ms,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sink is process-wide: a test that publishes would reach the other tests' stores.
    static SERIAL: Mutex<()> = Mutex::new(());

    fn serial() -> MutexGuard<'static, ()> {
        SERIAL
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn entry(level: LogLevel, message: &str, source: &str) -> NewEntry {
        NewEntry {
            level,
            message: message.to_owned(),
            meta: None,
            source: source.to_owned(),
        }
    }

    #[test]
    fn iso8601_matches_javascript() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_709_251_199_999), "2024-02-29T23:59:59.999Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn the_ring_keeps_the_newest_and_counts_what_it_keeps() {
        let _serial = serial();
        let s = LogStore::new(3);
        for i in 0..5 {
            s.add(entry(
                if i % 2 == 0 {
                    LogLevel::Info
                } else {
                    LogLevel::Error
                },
                &format!("m{i}"),
                "t",
            ));
        }
        let logs = s.query(&Filter::default());
        assert_eq!(
            logs.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(),
            ["m4", "m3", "m2"]
        );
        let stats = s.stats();
        assert_eq!(
            (
                stats["total"].as_u64(),
                stats["counts"]["info"].as_u64(),
                stats["counts"]["error"].as_u64()
            ),
            (Some(3), Some(2), Some(1))
        );
    }

    #[test]
    fn filters_by_level_source_and_case_insensitive_search_with_a_limit() {
        let _serial = serial();
        let s = LogStore::new(10);
        s.add(entry(
            LogLevel::Info,
            "Database Ready",
            "@buntime/plugin-database",
        ));
        s.add(entry(
            LogLevel::Warn,
            "slow query",
            "@buntime/plugin-database",
        ));
        s.add(entry(LogLevel::Info, "hello", "Greeter"));
        let msgs = |f: Filter| {
            s.query(&f)
                .into_iter()
                .map(|e| e.message)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            msgs(Filter {
                search: Some("ready".into()),
                ..Filter::default()
            }),
            ["Database Ready"]
        );
        assert_eq!(
            msgs(Filter {
                search: Some("greet".into()),
                ..Filter::default()
            }),
            ["hello"]
        );
        assert_eq!(
            msgs(Filter {
                level: Some(LogLevel::Warn),
                ..Filter::default()
            }),
            ["slow query"]
        );
        assert_eq!(
            msgs(Filter {
                source: Some("@buntime/plugin-database".into()),
                limit: Some(1),
                ..Filter::default()
            }),
            ["slow query"]
        );
    }

    #[test]
    fn since_never_skips_or_repeats_across_trimming_and_reports_what_was_missed() {
        let _serial = serial();
        let s = LogStore::new(3);
        let mut seen = Vec::new();
        let mut last = s.last_id();
        for round in 0..4 {
            for i in 0..2 {
                s.add(entry(LogLevel::Info, &format!("r{round}-{i}"), "t"));
            }
            let got = s.since(last);
            assert_eq!(got.missed, 0);
            last = got.last_id;
            seen.extend(got.logs.into_iter().map(|e| e.message));
        }
        let expected: Vec<String> = (0..4)
            .flat_map(|r| (0..2).map(move |i| format!("r{r}-{i}")))
            .collect();
        assert_eq!(
            seen, expected,
            "every entry exactly once, in order, although the ring holds only 3"
        );
        // A reader that falls behind by more than the ring learns how many it lost.
        for i in 0..5 {
            s.add(entry(LogLevel::Info, &format!("burst{i}"), "t"));
        }
        let got = s.since(last);
        assert_eq!((got.logs.len(), got.missed), (3, 2));
        assert_eq!(got.logs[0].message, "burst2");
    }

    #[test]
    fn clear_empties_the_ring_but_ids_go_on_and_nothing_counts_as_missed() {
        let _serial = serial();
        let s = LogStore::new(10);
        s.add(entry(LogLevel::Info, "a", "t"));
        let last = s.last_id();
        s.add(entry(LogLevel::Info, "b", "t"));
        s.clear();
        assert_eq!(s.stats()["total"], 0);
        let id = s.add(entry(LogLevel::Info, "c", "t"));
        assert_eq!(id, 3);
        let got = s.since(last);
        assert_eq!((got.logs.len(), got.missed), (1, 0));
    }

    #[test]
    fn a_store_reopened_for_the_same_dir_keeps_the_entries_and_ids_of_the_one_it_replaces() {
        let _serial = serial();
        let dir = Path::new("/reload-test/plugins/plugin-logs");
        let old = LogStore::open(dir, 10);
        for m in ["a", "b", "c"] {
            old.add(entry(LogLevel::Warn, m, "t"));
        }
        let new = LogStore::open(dir, 2);
        assert_eq!(
            new.query(&Filter::default())
                .iter()
                .map(|e| e.message.as_str())
                .collect::<Vec<_>>(),
            ["c", "b"]
        );
        assert_eq!(new.stats()["counts"]["warn"], 2);
        assert_eq!(new.add(entry(LogLevel::Info, "d", "t")), 4, "ids go on");
        // A refused reload's instance is shut down; the next one copies the serving store.
        let refused = LogStore::open(dir, 10);
        refused.add(entry(LogLevel::Error, "only in the refused one", "t"));
        refused.detach();
        let next = LogStore::open(dir, 10);
        assert_eq!(next.query(&Filter::default())[0].message, "d");
        let other = LogStore::open(Path::new("/elsewhere"), 10);
        assert_eq!(other.stats()["total"], 0, "another plugin dir starts empty");
    }

    #[test]
    fn added_entries_lose_their_secrets() {
        let _serial = serial();
        let s = LogStore::new(10);
        let meta = json!({"headers": {"x-api-key": "k-123", "accept": "text/html"}, "note": "used btk_abcdefghijklmnop"});
        s.add(NewEntry {
            level: LogLevel::Warn,
            message: "Authorization: Bearer abc.def.ghi".into(),
            meta: Some(meta),
            source: "t".into(),
        });
        let e = &s.query(&Filter::default())[0];
        let text = serde_json::to_string(e).unwrap();
        for secret in ["k-123", "abcdefghijklmnop", "abc.def.ghi"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(text.contains("text/html"));
    }

    #[test]
    fn runtime_events_arrive_with_their_plugin_as_source() {
        let _serial = serial();
        let s = LogStore::new(10);
        logsink::publish(LogRecord {
            level: LogLevel::Info,
            target: "buntime_core::logger".into(),
            message: "store ready".into(),
            plugin: Some("@acme/plugin-store".into()),
            fields: Map::from_iter([("request_id".to_owned(), json!("r-9"))]),
            timestamp_ms: 0,
        });
        let e = s.query(&Filter {
            search: Some("store ready".into()),
            ..Filter::default()
        });
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].source, "@acme/plugin-store");
        assert_eq!(e[0].meta.as_ref().unwrap()["request_id"], "r-9");
        assert_eq!(e[0].timestamp, "1970-01-01T00:00:00.000Z");
    }
}
