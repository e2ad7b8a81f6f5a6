//! The process-wide sink of the runtime's log events: a `tracing` layer that copies every event,
//! secrets redacted, into bounded drop-oldest queues that consumers (the logs plugin) drain.
//!
//! With no consumer subscribed the layer costs one relaxed atomic load per event. With one, an
//! event is formatted once and pushed without a lock (`crossbeam_queue::ArrayQueue::force_push`),
//! so the logging thread never waits; a consumer that falls behind loses its oldest records and
//! can see how many in [`LogQueue::dropped`].

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use crossbeam_queue::ArrayQueue;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::Context;

use crate::redact::{REDACTED, is_secret_field, redact};

/// A log level as entries carry it (`tracing`'s `TRACE` counts as `debug`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Diagnostics.
    Debug,
    /// Normal operation.
    Info,
    /// Something to look at.
    Warn,
    /// Something failed.
    Error,
}

impl LogLevel {
    /// Every level, in increasing severity.
    pub const ALL: [Self; 4] = [Self::Debug, Self::Info, Self::Warn, Self::Error];

    /// Parses `debug|info|warn|error` (any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "debug" => Some(Self::Debug),
            "info" => Some(Self::Info),
            "warn" => Some(Self::Warn),
            "error" => Some(Self::Error),
            _ => None,
        }
    }

    /// Returns the lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }

    fn of(level: &tracing::Level) -> Self {
        match *level {
            tracing::Level::ERROR => Self::Error,
            tracing::Level::WARN => Self::Warn,
            tracing::Level::INFO => Self::Info,
            _ => Self::Debug,
        }
    }
}

/// One log event as the runtime emitted it, secrets already redacted.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    /// Its level.
    pub level: LogLevel,
    /// The module that logged it (`buntime_server::reload`).
    pub target: String,
    /// The message.
    pub message: String,
    /// The plugin it is about (its `plugin` field), if any.
    pub plugin: Option<String>,
    /// The other fields (`request_id`, `error`, …), values as text.
    pub fields: Map<String, Value>,
    /// When it was logged, in milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
}

/// One consumer's queue of records.
#[derive(Debug)]
pub struct LogQueue {
    queue: ArrayQueue<LogRecord>,
    dropped: AtomicU64,
}

impl LogQueue {
    /// Takes every queued record, oldest first.
    pub fn drain(&self) -> Vec<LogRecord> {
        let mut out = Vec::with_capacity(self.queue.len());
        while let Some(r) = self.queue.pop() {
            out.push(r);
        }
        out
    }

    /// Returns how many records were dropped because this queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn push(&self, record: LogRecord) {
        if self.queue.force_push(record).is_some() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The consumers; read lock-free by the layer, changed only when one subscribes or leaves.
static QUEUES: LazyLock<ArcSwap<Vec<Arc<LogQueue>>>> =
    LazyLock::new(|| ArcSwap::from_pointee(Vec::new()));
/// `QUEUES.len()`, so an event with no consumer does not even touch the `ArcSwap`.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);
/// Serialises subscribe and unsubscribe.
static CHANGE: Mutex<()> = Mutex::new(());

/// What the process logged before its first consumer subscribed (see [`keep_startup_backlog`]).
static STARTUP: Mutex<Option<Arc<LogQueue>>> = Mutex::new(None);

fn new_queue(capacity: usize) -> Arc<LogQueue> {
    Arc::new(LogQueue { queue: ArrayQueue::new(capacity.max(1)), dropped: AtomicU64::new(0) })
}

/// Replaces the consumer list (the caller holds `CHANGE`): `add` joins, `remove` leaves.
fn set_consumers(add: Option<&Arc<LogQueue>>, remove: Option<&Arc<LogQueue>>) {
    let mut next: Vec<Arc<LogQueue>> = QUEUES.load().iter().filter(|q| !remove.is_some_and(|r| Arc::ptr_eq(q, r))).cloned().collect();
    next.extend(add.cloned());
    ACTIVE.store(next.len(), Ordering::Release);
    QUEUES.store(Arc::new(next));
}

fn change_lock() -> std::sync::MutexGuard<'static, ()> {
    CHANGE.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn take_startup() -> Option<Arc<LogQueue>> {
    STARTUP.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()
}

/// Subscribes a new consumer holding up to `capacity` undrained records (at least 1).
///
/// The first consumer also gets the start-up backlog, if one is kept: the lines logged before it
/// subscribed (the runtime's start-up, the plugins loaded before it), oldest first.
pub fn subscribe(capacity: usize) -> Arc<LogQueue> {
    let q = new_queue(capacity);
    let _lock = change_lock();
    let backlog = take_startup();
    if let Some(backlog) = &backlog {
        // Under CHANGE and before `q` is fed: nothing lands between the backlog and the rest.
        for record in backlog.drain() {
            q.push(record);
        }
    }
    set_consumers(Some(&q), backlog.as_ref());
    q
}

/// Keeps up to `capacity` records logged from now on until the first consumer subscribes, so a
/// logs plugin that loads after other plugins still shows the start-up. Called once, when the
/// logger is installed; [`drop_startup_backlog`] ends it if no consumer came.
pub fn keep_startup_backlog(capacity: usize) {
    let _lock = change_lock();
    let mut startup = STARTUP.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if startup.is_none() {
        let q = new_queue(capacity);
        set_consumers(Some(&q), None);
        *startup = Some(q);
    }
}

/// Stops keeping the start-up backlog (the runtime is up and no consumer subscribed), so a
/// process without a logs plugin goes back to paying nothing per event.
pub fn drop_startup_backlog() {
    let _lock = change_lock();
    if let Some(b) = take_startup() {
        set_consumers(None, Some(&b));
    }
}

/// Stops feeding `queue`.
pub fn unsubscribe(queue: &Arc<LogQueue>) {
    let _lock = change_lock();
    set_consumers(None, Some(queue));
}

/// Returns whether any consumer is subscribed.
pub fn is_active() -> bool {
    ACTIVE.load(Ordering::Relaxed) > 0
}

/// Hands `record` to every consumer (what the layer does for each event).
pub fn publish(record: LogRecord) {
    if !is_active() {
        return;
    }
    let queues = QUEUES.load();
    if let Some((last, rest)) = queues.split_last() {
        for q in rest {
            q.push(record.clone());
        }
        last.push(record);
    }
}

/// The `tracing` layer that feeds the sink; install it next to the log formatter.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogSinkLayer;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for LogSinkLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _cx: Context<'_, S>) {
        if !is_active() {
            return;
        }
        let meta = event.metadata();
        let mut visitor = Collect::default();
        event.record(&mut visitor);
        let timestamp_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        publish(LogRecord {
            level: LogLevel::of(meta.level()),
            target: meta.target().to_owned(),
            message: redact(&visitor.message).into_owned(),
            plugin: visitor.plugin,
            fields: visitor.fields,
            timestamp_ms,
        });
    }
}

/// Gathers an event's message and fields, redacting as it goes.
#[derive(Default)]
struct Collect {
    message: String,
    plugin: Option<String>,
    fields: Map<String, Value>,
}

impl Collect {
    fn put(&mut self, field: &Field, text: String) {
        match field.name() {
            "message" => self.message = text,
            "plugin" => self.plugin = Some(text),
            name if is_secret_field(name) => {
                self.fields
                    .insert(name.to_owned(), Value::String(REDACTED.to_owned()));
            }
            name => {
                let value = redact(&text).into_owned();
                self.fields.insert(name.to_owned(), Value::String(value));
            }
        }
    }
}

impl Visit for Collect {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let mut s = String::new();
        let _ = write!(s, "{value:?}");
        self.put(field, s);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if !matches!(field.name(), "message" | "plugin") {
            self.fields
                .insert(field.name().to_owned(), Value::from(value));
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if !matches!(field.name(), "message" | "plugin") {
            self.fields
                .insert(field.name().to_owned(), Value::from(value));
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if !matches!(field.name(), "message" | "plugin") {
            self.fields
                .insert(field.name().to_owned(), Value::from(value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt as _;

    /// The sink is process-wide: tests that subscribe must not run at the same time.
    static SERIAL: Mutex<()> = Mutex::new(());

    fn with_layer(f: impl FnOnce()) {
        let subscriber = tracing_subscriber::registry().with(LogSinkLayer);
        tracing::subscriber::with_default(subscriber, f);
    }

    #[test]
    fn events_reach_subscribers_with_fields_and_without_secrets() {
        let _serial = SERIAL
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let q = subscribe(16);
        with_layer(|| {
            tracing::info!(plugin = "@buntime/plugin-x", request_id = "r-1", "x ready");
            tracing::warn!(
                authorization = "Bearer abcdef123456",
                status = 401u64,
                "denied key btk_c2VjcmV0c2VjcmV0c2VjcmV0"
            );
        });
        unsubscribe(&q);
        let got = q.drain();
        assert_eq!(got.len(), 2);
        assert_eq!(
            (
                got[0].level,
                got[0].message.as_str(),
                got[0].plugin.as_deref()
            ),
            (LogLevel::Info, "x ready", Some("@buntime/plugin-x"))
        );
        assert_eq!(got[0].fields["request_id"], "r-1");
        assert!(got[0].target.contains("logsink"));
        assert_eq!(got[1].fields["authorization"], REDACTED);
        assert_eq!(got[1].fields["status"], 401);
        assert!(!got[1].message.contains("c2VjcmV0"), "{}", got[1].message);
    }

    #[test]
    fn a_full_queue_drops_its_oldest_records_and_counts_them() {
        let _serial = SERIAL
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let q = subscribe(3);
        with_layer(|| {
            for i in 0..5 {
                tracing::info!("line {i}");
            }
        });
        unsubscribe(&q);
        let got: Vec<String> = q.drain().into_iter().map(|r| r.message).collect();
        assert_eq!(got, ["line 2", "line 3", "line 4"]);
        assert_eq!(q.dropped(), 2);
    }

    #[test]
    fn without_subscribers_nothing_is_collected() {
        let _serial = SERIAL
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let q = subscribe(4);
        unsubscribe(&q);
        with_layer(|| tracing::info!("nobody listens"));
        assert!(q.drain().is_empty());
    }
}
