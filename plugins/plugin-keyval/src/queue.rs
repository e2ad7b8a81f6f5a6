//! The durable queue (§A.10): delayed enqueue, one-statement claims, ack/nack with backoff, the
//! dead-letter queue, stuck-lock recovery, and the in-process wake-ups SSE listeners wait on.
//!
//! Times are epoch milliseconds. A message is `pending` until claimed, then `processing` with a
//! lock (`locked_until` = claim time + `queue.lockDuration`); ack deletes it, nack re-schedules it
//! or dead-letters it, an expired lock returns it to `pending`. Delivery is at-least-once.

mod listener;

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use buntime_plugin_database::{Statement, StmtResult, Value as Sql};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::error::KvError;
use crate::keys::Key;
use crate::store::{Kv, Tx};
use crate::value::{from_stored, now_ms, resolve_now, to_stored};

pub use listener::{ListenOptions, Listener};

/// The retry delays used when a message names none (ms): 4 attempts in all.
pub const DEFAULT_BACKOFF_MS: [u64; 3] = [1000, 5000, 10000];
/// The longest accepted `backoffSchedule`.
pub const MAX_BACKOFF_STEPS: usize = 100;
/// The most `keysIfUndelivered` one message may name.
pub const MAX_UNDELIVERED_KEYS: usize = 100;
/// The longest accepted delay or backoff step: 365 days.
pub const MAX_DELAY_MS: u64 = 365 * 24 * 3600 * 1000;
/// The `errorMessage` of a message dead-lettered after its last attempt.
pub const DLQ_ERROR: &str = "Max attempts exceeded";

/// How a message is enqueued.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnqueueOptions {
    /// Milliseconds before the message becomes ready.
    pub delay_ms: u64,
    /// Retry delays after each failed attempt (`None`: [`DEFAULT_BACKOFF_MS`]).
    pub backoff_schedule: Option<Vec<u64>>,
    /// Keys that receive the value when every attempt failed.
    pub keys_if_undelivered: Vec<Key>,
}

impl EnqueueOptions {
    /// Parses `{delay?, backoffSchedule?, keysIfUndelivered?}` (absent or `null`: the defaults).
    ///
    /// # Errors
    /// A field of the wrong type or out of range; the message names it (`options.delay: …`).
    pub fn from_json(v: Option<&Value>) -> Result<Self, KvError> {
        let Some(v) = v.filter(|v| !v.is_null()) else {
            return Ok(Self::default());
        };
        let Value::Object(map) = v else {
            return Err(KvError::invalid("options must be an object"));
        };
        let mut out = Self::default();
        if let Some(d) = map.get("delay").filter(|d| !d.is_null()) {
            out.delay_ms = duration_ms(d).ok_or_else(|| {
                KvError::invalid(format!(
                    "options.delay must be a number of milliseconds between 0 and {MAX_DELAY_MS}"
                ))
            })?;
        }
        if let Some(b) = map.get("backoffSchedule").filter(|b| !b.is_null()) {
            let Value::Array(items) = b else {
                return Err(KvError::invalid(
                    "options.backoffSchedule must be an array of milliseconds",
                ));
            };
            if items.len() > MAX_BACKOFF_STEPS {
                return Err(KvError::invalid(format!(
                    "options.backoffSchedule is limited to {MAX_BACKOFF_STEPS} steps"
                )));
            }
            let steps = items
                .iter()
                .enumerate()
                .map(|(i, s)| duration_ms(s).ok_or_else(|| KvError::invalid(format!("options.backoffSchedule[{i}] must be a number of milliseconds between 0 and {MAX_DELAY_MS}"))))
                .collect::<Result<Vec<_>, _>>()?;
            out.backoff_schedule = Some(steps);
        }
        if let Some(k) = map.get("keysIfUndelivered").filter(|k| !k.is_null()) {
            let Value::Array(items) = k else {
                return Err(KvError::invalid(
                    "options.keysIfUndelivered must be an array of keys",
                ));
            };
            if items.len() > MAX_UNDELIVERED_KEYS {
                return Err(KvError::invalid(format!(
                    "options.keysIfUndelivered is limited to {MAX_UNDELIVERED_KEYS} keys"
                )));
            }
            out.keys_if_undelivered = items
                .iter()
                .enumerate()
                .map(|(i, key)| {
                    Key::from_json(key).map_err(|e| {
                        KvError::invalid(format!("options.keysIfUndelivered[{i}]: {}", e.0))
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        Ok(out)
    }

    fn backoff(&self) -> &[u64] {
        self.backoff_schedule
            .as_deref()
            .unwrap_or(&DEFAULT_BACKOFF_MS)
    }
}

fn duration_ms(v: &Value) -> Option<u64> {
    let f = v.as_f64().filter(|f| f.is_finite() && *f >= 0.0)?;
    let ms = f.trunc() as u64;
    (ms <= MAX_DELAY_MS).then_some(ms)
}

/// A claimed message, as delivered to a consumer.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The message id (a UUIDv7).
    pub id: String,
    /// The enqueued value.
    pub value: Value,
    /// Deliveries so far, this one included.
    pub attempts: i64,
}

impl Message {
    /// Returns `{id, value, attempts}`.
    pub fn to_json(&self) -> Value {
        json!({"id": self.id, "value": self.value, "attempts": self.attempts})
    }
}

/// A dead-lettered message.
#[derive(Debug, Clone, PartialEq)]
pub struct DlqMessage {
    /// The DLQ entry's own id.
    pub id: String,
    /// The id the message had in the queue.
    pub original_id: String,
    /// The value.
    pub value: Value,
    /// Why it was dead-lettered.
    pub error_message: Option<String>,
    /// Deliveries made before giving up.
    pub attempts: i64,
    /// When it was first enqueued (epoch ms).
    pub original_created_at: i64,
    /// When it was dead-lettered (epoch ms).
    pub failed_at: i64,
}

impl DlqMessage {
    /// Returns the §2 JSON shape.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id, "originalId": self.original_id, "value": self.value, "errorMessage": self.error_message,
            "attempts": self.attempts, "originalCreatedAt": self.original_created_at, "failedAt": self.failed_at,
        })
    }
}

/// Queue counts; `total` includes the DLQ.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages waiting (ready or delayed).
    pub pending: i64,
    /// Messages claimed and not yet acked, nacked or expired.
    pub processing: i64,
    /// Dead-lettered messages.
    pub dlq: i64,
}

impl Stats {
    /// Returns `{pending, processing, dlq, total}`.
    pub fn to_json(&self) -> Value {
        json!({"pending": self.pending, "processing": self.processing, "dlq": self.dlq, "total": self.pending + self.processing + self.dlq})
    }
}

/// What a nack did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nacked {
    /// The message is pending again, ready at this epoch-ms time.
    Retrying(i64),
    /// The last attempt failed: fallback keys written, message moved to the DLQ.
    DeadLettered,
    /// No message with that id is being processed (already acked, nacked or expired).
    NotProcessing,
}

/// The queue's in-process state, owned by the engine: a wake-up signal for listeners (bumped
/// whenever a message may have become ready) and the messages handed to SSE listeners.
#[derive(Debug)]
pub struct Shared {
    wake: watch::Sender<u64>,
    stop: watch::Sender<bool>,
    next_listener: AtomicU64,
    /// Message id → (listener, attempts at delivery), for messages an SSE listener holds.
    deliveries: Mutex<HashMap<String, (u64, i64)>>,
}

impl Default for Shared {
    fn default() -> Self {
        Self {
            wake: watch::channel(0).0,
            stop: watch::channel(false).0,
            next_listener: AtomicU64::new(1),
            deliveries: Mutex::default(),
        }
    }
}

impl Shared {
    /// Wakes every listener (a message may have become ready).
    pub fn wake(&self) {
        self.wake.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Returns a receiver that changes whenever [`Shared::wake`] is called.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.wake.subscribe()
    }

    /// Tells every listener to end (plugin shutdown).
    pub fn shutdown(&self) {
        self.stop.send_replace(true);
    }

    /// Returns a receiver that becomes `true` at shutdown.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    fn forget(&self, id: &str) {
        if let Ok(mut d) = self.deliveries.lock() {
            d.remove(id);
        }
    }
}

/// The queue operations of an engine (`kv.queue()`).
#[derive(Debug, Clone, Copy)]
pub struct Queue<'a>(&'a Kv);

impl Kv {
    /// Returns the queue.
    pub fn queue(&self) -> Queue<'_> {
        Queue(self)
    }
}

impl Queue<'_> {
    fn shared(&self) -> &Shared {
        self.0.queue_shared()
    }

    fn lock_ms(&self) -> i64 {
        i64::try_from(self.0.config().queue_lock_duration.as_millis()).unwrap_or(i64::MAX)
    }

    /// Enqueues `value` (its `$now` placeholders resolved); returns the new message id.
    ///
    /// # Errors
    /// The value is over `maxValueBytes`, or the database failed.
    pub async fn enqueue(&self, mut value: Value, opts: EnqueueOptions) -> Result<String, KvError> {
        self.0
            .timed("queue_enqueue", async {
                let now = now_ms();
                resolve_now(&mut value, now);
                let id = insert(self.0, &value, &opts, now).await?;
                self.shared().wake();
                if self.0.dialect() == crate::dialect::Dialect::Postgres {
                    // Listeners of other processes wake now instead of at their poll interval.
                    // Best effort: the message is stored; they would find it at their next poll.
                    if let Err(e) = self
                        .0
                        .query(crate::remote::queue_statement(self.0.origin()))
                        .await
                    {
                        tracing::debug!(error = %e, "cannot announce the enqueue to other processes");
                    }
                }
                Ok(id)
            })
            .await
    }

    /// Claims the oldest ready message, or returns `None` when none is ready.
    ///
    /// The claim is one `UPDATE … RETURNING` statement, which takes the write lock before it reads,
    /// so two concurrent pollers can never claim the same message.
    ///
    /// # Errors
    /// The database failed.
    pub async fn dequeue(&self) -> Result<Option<Message>, KvError> {
        self.0.timed("queue_dequeue", self.claim()).await
    }

    async fn claim(&self) -> Result<Option<Message>, KvError> {
        let now = now_ms();
        let res = self
            .0
            .query(Statement::with_args(
                self.0.dialect().claim_message(),
                [
                    Sql::Integer(now.saturating_add(self.lock_ms())),
                    Sql::Integer(now),
                ],
            ))
            .await?;
        Ok(res.rows.into_iter().next().map(|row| Message {
            id: text(&row[0]),
            value: from_stored(&bytes(&row[1])),
            attempts: int(&row[2]),
        }))
    }

    /// Acknowledges a message: deletes it. Returns whether it existed (acking twice is harmless).
    ///
    /// # Errors
    /// The database failed.
    pub async fn ack(&self, id: &str) -> Result<bool, KvError> {
        self.0
            .timed("queue_ack", async {
                self.shared().forget(id);
                let res = self
                    .0
                    .query(Statement::with_args(
                        "DELETE FROM kv_queue WHERE id = ?",
                        [Sql::from(id)],
                    ))
                    .await?;
                Ok(res.affected_row_count > 0)
            })
            .await
    }

    /// Rejects a message being processed: it is re-scheduled after its next backoff delay, or, after
    /// its last attempt, its value is written to each `keysIfUndelivered` key, it is moved to the
    /// DLQ and deleted; all in one transaction.
    ///
    /// # Errors
    /// The database failed (nothing changed).
    pub async fn nack(&self, id: &str) -> Result<Nacked, KvError> {
        self.0
            .timed("queue_nack", async {
                self.shared().forget(id);
                let mut tx = self.0.begin().await?;
                match nack_in(self.0, &mut tx, id, now_ms()).await {
                    Ok(out) => {
                        tx.commit().await?;
                        if matches!(out, Nacked::Retrying(_)) {
                            self.shared().wake();
                        }
                        Ok(out)
                    }
                    Err(e) => {
                        tx.rollback().await;
                        Err(e)
                    }
                }
            })
            .await
    }

    /// Returns messages whose lock expired at `now` to `pending`; returns how many.
    ///
    /// # Errors
    /// The database failed.
    pub async fn reset_expired_locks(&self, now: i64) -> Result<u64, KvError> {
        let res = self
            .0
            .query(Statement::with_args(
                "UPDATE kv_queue SET status = 'pending', locked_until = NULL, updated_at = ?1 WHERE status = 'processing' AND locked_until <= ?1",
                [Sql::Integer(now)],
            ))
            .await?;
        if res.affected_row_count > 0 {
            self.shared().wake();
        }
        Ok(res.affected_row_count)
    }

    /// Returns when the earliest pending message becomes ready (epoch ms), if any is pending.
    ///
    /// # Errors
    /// The database failed.
    pub async fn next_ready_at(&self) -> Result<Option<i64>, KvError> {
        let res = self
            .0
            .query(Statement::new(
                "SELECT MIN(ready_at) FROM kv_queue WHERE status = 'pending'",
            ))
            .await?;
        Ok(res.rows.first().and_then(|r| match r.first() {
            Some(Sql::Integer(n)) => Some(*n),
            _ => None,
        }))
    }

    /// Returns the queue counts.
    ///
    /// # Errors
    /// The database failed.
    pub async fn stats(&self) -> Result<Stats, KvError> {
        let res = self
            .0
            .query(Statement::new(
                "SELECT (SELECT COUNT(*) FROM kv_queue WHERE status = 'pending'), (SELECT COUNT(*) FROM kv_queue WHERE status = 'processing'), (SELECT COUNT(*) FROM kv_dlq)",
            ))
            .await?;
        let row = res
            .rows
            .first()
            .ok_or_else(|| KvError::Internal("queue stats returned no row".into()))?;
        Ok(Stats {
            pending: int(&row[0]),
            processing: int(&row[1]),
            dlq: int(&row[2]),
        })
    }

    /// Lists dead-lettered messages, newest first.
    ///
    /// # Errors
    /// The database failed.
    pub async fn dlq_list(&self, limit: u32, offset: u64) -> Result<Vec<DlqMessage>, KvError> {
        let sql = format!("{DLQ_SELECT} ORDER BY failed_at DESC, id DESC LIMIT ? OFFSET ?");
        let res = self
            .0
            .query(Statement::with_args(
                sql,
                [
                    Sql::Integer(i64::from(limit)),
                    Sql::Integer(i64::try_from(offset).unwrap_or(i64::MAX)),
                ],
            ))
            .await?;
        Ok(dlq_rows(res))
    }

    /// Returns one dead-lettered message.
    ///
    /// # Errors
    /// The database failed.
    pub async fn dlq_get(&self, id: &str) -> Result<Option<DlqMessage>, KvError> {
        let res = self
            .0
            .query(Statement::with_args(
                format!("{DLQ_SELECT} WHERE id = ?"),
                [Sql::from(id)],
            ))
            .await?;
        Ok(dlq_rows(res).into_iter().next())
    }

    /// Moves a dead-lettered message back to the queue as a fresh message with default options;
    /// returns the new id, or `None` when the DLQ has no such message.
    ///
    /// # Errors
    /// The database failed (nothing changed).
    pub async fn dlq_requeue(&self, id: &str) -> Result<Option<String>, KvError> {
        let mut tx = self.0.begin().await?;
        let out = async {
            let res = tx
                .execute(Statement::with_args(
                    "DELETE FROM kv_dlq WHERE id = ? RETURNING value",
                    [Sql::from(id)],
                ))
                .await?;
            let Some(row) = res.rows.into_iter().next() else {
                return Ok(None);
            };
            let value = from_stored(&bytes(&row[0]));
            let now = now_ms();
            let new_id = uuid::Uuid::now_v7().to_string();
            tx.execute(insert_stmt(
                &new_id,
                &value,
                &EnqueueOptions::default(),
                now,
            )?)
            .await?;
            Ok(Some(new_id))
        }
        .await;
        match out {
            Ok(new_id) => {
                tx.commit().await?;
                if new_id.is_some() {
                    self.shared().wake();
                }
                Ok(new_id)
            }
            Err(e) => {
                tx.rollback().await;
                Err(e)
            }
        }
    }

    /// Deletes one dead-lettered message; returns whether it existed.
    ///
    /// # Errors
    /// The database failed.
    pub async fn dlq_delete(&self, id: &str) -> Result<bool, KvError> {
        let res = self
            .0
            .query(Statement::with_args(
                "DELETE FROM kv_dlq WHERE id = ?",
                [Sql::from(id)],
            ))
            .await?;
        Ok(res.affected_row_count > 0)
    }

    /// Deletes every dead-lettered message; returns how many.
    ///
    /// # Errors
    /// The database failed.
    pub async fn dlq_purge(&self) -> Result<u64, KvError> {
        Ok(self
            .0
            .query(Statement::new("DELETE FROM kv_dlq"))
            .await?
            .affected_row_count)
    }

    /// Registers a new SSE listener and returns its id (see [`Queue::claim_for`]).
    pub fn new_listener(&self) -> u64 {
        self.shared().next_listener.fetch_add(1, Ordering::Relaxed)
    }

    /// Claims a message on behalf of SSE listener `listener`, remembering the delivery so that
    /// [`Queue::release_listener`] can return it if the connection closes before an ack or nack.
    ///
    /// # Errors
    /// The database failed.
    pub async fn claim_for(&self, listener: u64) -> Result<Option<Message>, KvError> {
        let msg = self.dequeue().await?;
        if let Some(m) = &msg
            && let Ok(mut d) = self.shared().deliveries.lock()
        {
            d.insert(m.id.clone(), (listener, m.attempts));
        }
        Ok(msg)
    }

    /// Returns to `pending`, at once and in their original order, the messages `listener` was
    /// handed and has neither acked nor nacked; returns how many. A message that has since been
    /// re-claimed by someone else (its attempts moved on) is left alone.
    ///
    /// # Errors
    /// The database failed (the deliveries are then left to the lock expiry).
    pub async fn release_listener(&self, listener: u64) -> Result<u64, KvError> {
        let held: Vec<(String, i64)> = match self.shared().deliveries.lock() {
            Ok(mut d) => {
                let ids: Vec<String> = d
                    .iter()
                    .filter(|(_, (l, _))| *l == listener)
                    .map(|(id, _)| id.clone())
                    .collect();
                ids.into_iter()
                    .filter_map(|id| d.remove(&id).map(|(_, attempts)| (id, attempts)))
                    .collect()
            }
            Err(_) => Vec::new(),
        };
        if held.is_empty() {
            return Ok(0);
        }
        let now = now_ms();
        let stmts = held
            .into_iter()
            .map(|(id, attempts)| {
                Statement::with_args(
                    "UPDATE kv_queue SET status = 'pending', locked_until = NULL, updated_at = ? WHERE id = ? AND status = 'processing' AND attempts = ?",
                    [Sql::Integer(now), Sql::Text(id), Sql::Integer(attempts)],
                )
            })
            .collect();
        let released: u64 = self
            .0
            .transaction(stmts)
            .await?
            .iter()
            .map(|r| r.affected_row_count)
            .sum();
        if released > 0 {
            self.shared().wake();
        }
        Ok(released)
    }
}

const DLQ_SELECT: &str = "SELECT id, original_id, value, error_message, attempts, original_created_at, failed_at FROM kv_dlq";

fn dlq_rows(res: StmtResult) -> Vec<DlqMessage> {
    res.rows
        .into_iter()
        .map(|r| DlqMessage {
            id: text(&r[0]),
            original_id: text(&r[1]),
            value: from_stored(&bytes(&r[2])),
            error_message: match &r[3] {
                Sql::Text(t) => Some(t.clone()),
                _ => None,
            },
            attempts: int(&r[4]),
            original_created_at: int(&r[5]),
            failed_at: int(&r[6]),
        })
        .collect()
}

fn insert_stmt(
    id: &str,
    value: &Value,
    opts: &EnqueueOptions,
    now: i64,
) -> Result<Statement, KvError> {
    let backoff = opts.backoff();
    let keys: Vec<Value> = opts.keys_if_undelivered.iter().map(Key::to_json).collect();
    let max_attempts = i64::try_from(backoff.len())
        .unwrap_or(i64::MAX)
        .saturating_add(1);
    let ready_at = now.saturating_add(i64::try_from(opts.delay_ms).unwrap_or(i64::MAX));
    Ok(Statement::with_args(
        "INSERT INTO kv_queue (id, value, ready_at, attempts, max_attempts, backoff_schedule, keys_if_undelivered, status, locked_until, created_at, updated_at) \
         VALUES (?, ?, ?, 0, ?, ?, ?, 'pending', NULL, ?, ?)",
        [
            Sql::from(id),
            Sql::Blob(to_stored(value)),
            Sql::Integer(ready_at),
            Sql::Integer(max_attempts),
            Sql::Text(
                serde_json::to_string(backoff).map_err(|e| KvError::Internal(e.to_string()))?,
            ),
            if keys.is_empty() {
                Sql::Null
            } else {
                Sql::Text(Value::Array(keys).to_string())
            },
            Sql::Integer(now),
            Sql::Integer(now),
        ],
    ))
}

async fn insert(
    kv: &Kv,
    value: &Value,
    opts: &EnqueueOptions,
    now: i64,
) -> Result<String, KvError> {
    let max = kv.config().max_value_bytes;
    let size = to_stored(value).len();
    if size > max {
        return Err(KvError::invalid(format!(
            "value is {size} bytes; the limit is {max} (maxValueBytes)"
        )));
    }
    let id = uuid::Uuid::now_v7().to_string();
    kv.query(insert_stmt(&id, value, opts, now)?).await?;
    Ok(id)
}

async fn nack_in(kv: &Kv, tx: &mut Tx, id: &str, now: i64) -> Result<Nacked, KvError> {
    let res = tx
        .execute(Statement::with_args(
            "SELECT value, attempts, max_attempts, backoff_schedule, keys_if_undelivered, created_at FROM kv_queue WHERE id = ? AND status = 'processing'",
            [Sql::from(id)],
        ))
        .await?;
    let Some(row) = res.rows.into_iter().next() else {
        return Ok(Nacked::NotProcessing);
    };
    let (attempts, max_attempts) = (int(&row[1]), int(&row[2]));
    if attempts < max_attempts {
        let backoff: Vec<u64> =
            serde_json::from_str(&text(&row[3])).unwrap_or_else(|_| DEFAULT_BACKOFF_MS.to_vec());
        // attempts ≥ 1 here (the message was claimed); a short schedule repeats its last step.
        let step = usize::try_from(attempts - 1)
            .unwrap_or(0)
            .min(backoff.len().saturating_sub(1));
        let delay = backoff.get(step).copied().unwrap_or(0);
        let ready_at = now.saturating_add(i64::try_from(delay).unwrap_or(i64::MAX));
        tx.execute(Statement::with_args(
            "UPDATE kv_queue SET status = 'pending', locked_until = NULL, ready_at = ?, updated_at = ? WHERE id = ?",
            [Sql::Integer(ready_at), Sql::Integer(now), Sql::from(id)],
        ))
        .await?;
        return Ok(Nacked::Retrying(ready_at));
    }
    let stored = bytes(&row[0]);
    let keys: Vec<Key> = match &row[4] {
        Sql::Text(t) => serde_json::from_str::<Vec<Value>>(t)
            .unwrap_or_default()
            .iter()
            .filter_map(|k| Key::from_json(k).ok())
            .collect(),
        _ => Vec::new(),
    };
    if !keys.is_empty() {
        // One versionstamp for the whole commit, as an atomic commit would have; `put` also
        // re-indexes the keys for full-text search and announces them to watchers on commit.
        let versionstamp = crate::entries::versionstamp();
        let text = String::from_utf8_lossy(&stored).into_owned();
        for key in &keys {
            crate::entries::put(tx, kv, key, text.clone(), &versionstamp, None).await?;
        }
    }
    tx.execute(Statement::with_args(
        "INSERT INTO kv_dlq (id, original_id, value, error_message, attempts, original_created_at, failed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            Sql::Text(uuid::Uuid::now_v7().to_string()),
            Sql::from(id),
            Sql::Blob(stored),
            Sql::from(DLQ_ERROR),
            Sql::Integer(attempts),
            row[5].clone(),
            Sql::Integer(now),
        ],
    ))
    .await?;
    tx.execute(Statement::with_args(
        "DELETE FROM kv_queue WHERE id = ?",
        [Sql::from(id)],
    ))
    .await?;
    Ok(Nacked::DeadLettered)
}

/// Starts stuck-lock recovery: every `interval`, expired locks return to `pending`, until the task
/// is aborted (plugin shutdown).
pub fn spawn_cleanup(
    kv: Kv,
    interval: Duration,
    logger: buntime_core::PluginLogger,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            match kv.queue().reset_expired_locks(now_ms()).await {
                Ok(0) => {}
                Ok(n) => logger.debug(format!(
                    "returned {n} queue messages with expired locks to pending"
                )),
                Err(e) => logger.warn(format!("queue lock recovery failed: {e}")),
            }
        }
    })
}

fn int(v: &Sql) -> i64 {
    match v {
        Sql::Integer(n) => *n,
        Sql::Float(f) => *f as i64,
        _ => 0,
    }
}

fn text(v: &Sql) -> String {
    match v {
        Sql::Text(t) => t.clone(),
        Sql::Blob(b) => String::from_utf8_lossy(b).into_owned(),
        Sql::Integer(n) => n.to_string(),
        _ => String::new(),
    }
}

fn bytes(v: &Sql) -> Vec<u8> {
    match v {
        Sql::Blob(b) => b.clone(),
        Sql::Text(t) => t.clone().into_bytes(),
        _ => b"null".to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_default_and_validate_each_field_by_name() {
        let o = EnqueueOptions::from_json(None).unwrap();
        assert_eq!(o.backoff(), &DEFAULT_BACKOFF_MS);
        let o = EnqueueOptions::from_json(Some(
            &json!({"delay": 250.7, "backoffSchedule": [0, 10], "keysIfUndelivered": [["a", 1]]}),
        ))
        .unwrap();
        assert_eq!(
            (
                o.delay_ms,
                o.backoff().to_vec(),
                o.keys_if_undelivered.len()
            ),
            (250, vec![0, 10], 1)
        );
        for (bad, field) in [
            (json!({"delay": -1}), "options.delay"),
            (json!({"delay": "5"}), "options.delay"),
            (json!({"backoffSchedule": 5}), "options.backoffSchedule"),
            (
                json!({"backoffSchedule": [1, -2]}),
                "options.backoffSchedule[1]",
            ),
            (
                json!({"keysIfUndelivered": [["ok"], []]}),
                "options.keysIfUndelivered[1]",
            ),
            (json!([1]), "options"),
        ] {
            let err = EnqueueOptions::from_json(Some(&bad))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(field), "{bad}: {err}");
        }
    }
}
