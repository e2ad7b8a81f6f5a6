//! Expiration (§A.4): reads hide expired rows by themselves; this sweeper deletes them and
//! announces the deletions to watchers.

use std::time::Duration;

use buntime_plugin_database::{Statement, Value};

use crate::error::KvError;
use crate::keys::Key;
use crate::store::{Change, Kv};
use crate::value::now_ms;

/// Deletes every entry expired at `now` (epoch ms); returns how many.
///
/// # Errors
/// The database failed.
pub async fn sweep(kv: &Kv, now: i64) -> Result<usize, KvError> {
    kv.timed("cleanup", async {
        let mut tx = kv.begin().await?;
        let res = tx.execute(Statement::with_args("DELETE FROM kv_entries WHERE expires_at IS NOT NULL AND expires_at <= ? RETURNING key", [Value::Integer(now)])).await?;
        let n = res.rows.len();
        for row in res.rows {
            if let Some(Value::Blob(encoded)) = row.into_iter().next()
                && let Ok(key) = Key::decode(&encoded)
            {
                tx.changed(Change { key, encoded, value: None, versionstamp: None });
            }
        }
        tx.commit().await?;
        Ok(n)
    })
    .await
}

/// Starts the sweeper: every `interval`, until the task is aborted (plugin shutdown).
pub fn spawn(
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
            match sweep(&kv, now_ms()).await {
                Ok(0) => {}
                Ok(n) => logger.debug(format!("expired {n} entries")),
                Err(e) => logger.warn(format!("expiry sweep failed: {e}")),
            }
        }
    })
}
