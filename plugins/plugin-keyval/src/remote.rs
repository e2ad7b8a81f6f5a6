//! Watch across processes on PostgreSQL: each commit also sends `NOTIFY buntime_kv` with the keys
//! it changed, and every other process sharing the database re-reads those keys and feeds them to
//! its own watchers, as if the write had been made there.
//!
//! Payload: `<origin> <base64 key>,<base64 key>…`, split over several notifications to stay under
//! PostgreSQL's 8000-byte limit; `<origin> !queue` after an enqueue wakes the other processes'
//! queue listeners. Receivers read the keys' current state, so a watcher always ends
//! on the latest value; a process that was disconnected misses the changes of that time (its
//! watchers still see the next ones).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use buntime_core::PluginLogger;
use buntime_plugin_database::tokio_postgres::{self, AsyncMessage, NoTls};
use buntime_plugin_database::{Statement, Value as Sql};
use futures_util::StreamExt;

use crate::entries::{LIVE, stored_value};
use crate::keys::Key;
use crate::store::{Change, Kv};
use crate::value::now_ms;

/// The `NOTIFY` channel.
pub const CHANNEL: &str = "buntime_kv";
/// Payload bytes per notification (PostgreSQL refuses 8000 and more).
const MAX_PAYLOAD: usize = 7000;
/// The longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The statements that announce `changes` (run inside the committing transaction, so the
/// notifications go out exactly when it commits, and never for a rolled-back one).
pub(crate) fn notify_statements(origin: &str, changes: &[Change]) -> Vec<Statement> {
    let mut out = Vec::new();
    let mut payload = format!("{origin} ");
    let mut empty = true;
    for c in changes {
        let key = STANDARD.encode(&c.encoded);
        if !empty && payload.len() + key.len() + 1 > MAX_PAYLOAD {
            out.push(notify(std::mem::replace(
                &mut payload,
                format!("{origin} "),
            )));
            empty = true;
        }
        if !empty {
            payload.push(',');
        }
        payload.push_str(&key);
        empty = false;
    }
    if !empty {
        out.push(notify(payload));
    }
    out
}

/// The statement that tells other processes a queue message was enqueued.
pub(crate) fn queue_statement(origin: &str) -> Statement {
    notify(format!("{origin} {QUEUE}"))
}

/// The payload body of a queue wake-up (not base64, so never taken for keys).
const QUEUE: &str = "!queue";

fn notify(payload: String) -> Statement {
    // `pg_notify` returns `void`, which the adapter does not decode; `IS NULL` makes it a boolean.
    Statement::with_args(
        "SELECT pg_notify(?, ?) IS NULL",
        [Sql::Text(CHANNEL.into()), Sql::Text(payload)],
    )
}

/// Splits a payload into its origin and encoded keys; `None` when it is not one of ours.
fn parse(payload: &str) -> Option<(&str, Vec<Vec<u8>>)> {
    let (origin, keys) = payload.split_once(' ')?;
    let keys = keys
        .split(',')
        .map(|k| STANDARD.decode(k).ok())
        .collect::<Option<Vec<_>>>()?;
    Some((origin, keys))
}

/// Listens for other processes' commits for as long as the plugin runs, reconnecting with
/// backoff when the connection is lost.
pub fn spawn(
    kv: Kv,
    config: tokio_postgres::Config,
    logger: PluginLogger,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(250);
        let mut was_up = false;
        loop {
            match listen(&kv, &config, &mut was_up).await {
                Ok(()) => return,
                Err(e) => {
                    if was_up {
                        logger.warn(format!(
                            "watch across processes interrupted ({e}); reconnecting"
                        ));
                        backoff = Duration::from_millis(250);
                    } else {
                        logger.debug(format!("watch across processes not connected yet: {e}"));
                    }
                    was_up = false;
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    })
}

async fn listen(kv: &Kv, config: &tokio_postgres::Config, up: &mut bool) -> Result<(), String> {
    let (client, mut connection) = config.connect(NoTls).await.map_err(|e| e.to_string())?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(m) = messages.next().await {
            match m {
                Ok(AsyncMessage::Notification(n)) => {
                    let _ = tx.send(Ok(n.payload().to_owned()));
                }
                Ok(_) => {}
                Err(e) => {
                    let _ = tx.send(Err(e.to_string()));
                    return;
                }
            }
        }
        let _ = tx.send(Err("the connection closed".to_owned()));
    });
    let _driver = Abort(driver);
    client
        .batch_execute(&format!("LISTEN {CHANNEL}"))
        .await
        .map_err(|e| e.to_string())?;
    *up = true;
    while let Some(msg) = rx.recv().await {
        let payload = msg?;
        if let Some((origin, QUEUE)) = payload.split_once(' ') {
            if origin != kv.origin() {
                kv.queue_shared().wake();
            }
            continue;
        }
        let Some((origin, keys)) = parse(&payload) else {
            continue;
        };
        if origin == kv.origin() || keys.is_empty() {
            continue;
        }
        match current(kv, keys).await {
            Ok(changes) => kv.publish(changes),
            Err(e) => tracing::warn!(error = %e, "cannot read keys another process changed"),
        }
    }
    Err("the listener stopped".to_owned())
}

/// The current state of `keys`, as changes (absent or expired keys as deletions).
async fn current(kv: &Kv, keys: Vec<Vec<u8>>) -> Result<Vec<Change>, crate::KvError> {
    let marks = vec!["?"; keys.len()].join(", ");
    let mut args: Vec<Sql> = keys.iter().cloned().map(Sql::Blob).collect();
    args.push(Sql::Integer(now_ms()));
    let res = kv
        .query(Statement::with_args(
            format!(
                "SELECT key, value, versionstamp FROM kv_entries WHERE key IN ({marks}) AND {LIVE}"
            ),
            args,
        ))
        .await?;
    let mut found = std::collections::HashMap::new();
    for row in res.rows {
        let mut it = row.into_iter();
        if let (Some(Sql::Blob(k)), Some(v), Some(Sql::Text(vs))) =
            (it.next(), it.next(), it.next())
        {
            found.insert(k, (stored_value(v), vs));
        }
    }
    Ok(keys
        .into_iter()
        .filter_map(|enc| {
            let key = Key::decode(&enc).ok()?;
            let (value, versionstamp) = match found.remove(&enc) {
                Some((v, vs)) => (Some(v), Some(vs)),
                None => (None, None),
            };
            Some(Change {
                key,
                encoded: enc,
                value,
                versionstamp,
            })
        })
        .collect())
}

/// Stops the connection driver when the listener ends.
struct Abort(tokio::task::JoinHandle<()>);

impl Drop for Abort {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(encoded: Vec<u8>) -> Change {
        Change {
            key: Key::decode(&Key::from_json(&serde_json::json!(["k"])).unwrap().encode()).unwrap(),
            encoded,
            value: None,
            versionstamp: None,
        }
    }

    #[test]
    fn payloads_stay_under_the_limit_and_round_trip() {
        let changes: Vec<Change> = (0..400u32)
            .map(|i| change(vec![7; 20 + (i % 30) as usize]))
            .collect();
        let stmts = notify_statements("o", &changes);
        assert!(stmts.len() > 1, "split over several notifications");
        let mut back = Vec::new();
        for s in &stmts {
            let Sql::Text(p) = &s.args[1] else { panic!() };
            assert!(p.len() <= MAX_PAYLOAD, "{}", p.len());
            let (origin, keys) = parse(p).unwrap();
            assert_eq!(origin, "o");
            back.extend(keys);
        }
        assert_eq!(
            back,
            changes
                .iter()
                .map(|c| c.encoded.clone())
                .collect::<Vec<_>>()
        );
        assert!(notify_statements("o", &[]).is_empty());
        assert!(parse("nospace").is_none() && parse("o !!!").is_none());
        let Sql::Text(q) = &queue_statement("o").args[1] else {
            panic!()
        };
        assert!(parse(q).is_none(), "a queue wake-up is never read as keys");
    }
}
