//! The reload fan-out between replicas sharing one PostgreSQL (ADR 0014): each reload that succeeds
//! on one replica is recorded in `buntime_cluster_reloads` and announced with `NOTIFY`; every
//! other replica reloads its own generation when it hears of it, or when it finds a newer record
//! after a lost connection. App uploads and deletes fan out the same way on a second channel, so
//! every replica on the shared directories serves a new version at once (not after its resolver
//! cache expires) and retires the workers of a replaced one. Losing PostgreSQL never stops
//! serving: the replica reports `degraded` and reconnects by itself.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use buntime_core::AppsChanged;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};
use tokio_postgres::{AsyncMessage, Client, NoTls};

use crate::runtime::Shared;

/// The `NOTIFY` channel; the payload is `<event id>:<origin replica>`.
const CHANNEL: &str = "buntime_reload";
/// The app-change channel; the payload is an [`AppNotice`] as JSON.
const APPS_CHANNEL: &str = "buntime_apps";
/// PostgreSQL refuses `NOTIFY` payloads of 8000 bytes and more; a larger change is sent as
/// "everything changed".
const MAX_PAYLOAD: usize = 7900;
/// Taken while creating the event table: replicas starting together must not race the DDL.
const DDL_LOCK: i64 = 0x6275_6e74_696d_6531; // "buntime1"
/// How long one connection attempt, and one statement, may take.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a connected replica checks the event table (catches a notification lost with a
/// connection) and proves the connection is alive.
const CHECK_EVERY: Duration = Duration::from_secs(2);
/// The longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Whether this replica currently hears the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// Not connected yet (start-up).
    Connecting,
    /// Listening; reloads fan out.
    Connected,
    /// The connection was lost; serving goes on, reconnecting in the background.
    Degraded,
}

#[derive(Debug)]
struct State {
    link: Link,
    /// The last error, while not connected.
    error: Option<String>,
    /// The newest fan-out event this replica has applied (or started from).
    seen: i64,
    /// Fan-out reloads this replica ran for other replicas.
    applied: u64,
    /// Whether it has been connected once (its starting point in the event table is known).
    joined: bool,
    /// Publishes in progress: the periodic check leaves the newest event alone meanwhile, so a
    /// replica does not reload again for the event it is itself recording.
    publishing: usize,
    /// A reload made here could not be published; it is as soon as the link is back.
    unpublished: bool,
    /// App changes other replicas made that this one applied.
    applied_app_changes: u64,
    /// An app change made here could not be sent; "everything changed" is, once the link is back.
    apps_unsent: bool,
    client: Option<Arc<Client>>,
}

/// The fan-out: configuration and the live link state, shared by the API and the listener task.
#[derive(Debug)]
pub(crate) struct Cluster {
    config: tokio_postgres::Config,
    replica: String,
    state: Mutex<State>,
}

/// What publishing a reload did, as shown in the reload reply.
pub(crate) type Published = Value;

impl Cluster {
    /// Parses `url` (a `postgres://` URL or a libpq `key=value` string).
    ///
    /// # Errors
    /// The URL cannot be parsed; the message says why.
    pub(crate) fn new(url: &str, replica: String) -> Result<Self, String> {
        let config: tokio_postgres::Config = url.parse().map_err(|e| format!("{e}"))?;
        Ok(Self {
            config,
            replica,
            state: Mutex::new(State {
                link: Link::Connecting,
                error: None,
                seen: 0,
                applied: 0,
                joined: false,
                publishing: 0,
                unpublished: false,
                applied_app_changes: 0,
                apps_unsent: false,
                client: None,
            }),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the link is down (readiness reports `degraded`).
    pub(crate) fn degraded(&self) -> bool {
        self.state().link != Link::Connected
    }

    /// The `cluster` object of `GET /api/health/ready`.
    pub(crate) fn health(&self) -> Value {
        let s = self.state();
        let link = match s.link {
            Link::Connecting => "connecting",
            Link::Connected => "connected",
            Link::Degraded => "disconnected",
        };
        let mut out = json!({ "replica": self.replica, "link": link, "lastEvent": s.seen, "appliedReloads": s.applied, "appliedAppChanges": s.applied_app_changes });
        if let Some(e) = &s.error {
            out["error"] = json!(e);
        }
        out
    }

    /// Records a reload this replica just made and tells the others; never fails the reload
    /// itself (a replica without PostgreSQL still reloads its own generation).
    pub(crate) async fn publish(&self) -> Published {
        let Some(client) = self.state().client.clone() else {
            self.state().unpublished = true;
            return json!({ "fanout": false, "error": "not connected to the cluster database; the other replicas are told when the link is back" });
        };
        self.state().publishing += 1;
        let sent = async {
            let row = client
                .query_one(
                    "INSERT INTO buntime_cluster_reloads (origin) VALUES ($1) RETURNING id",
                    &[&self.replica],
                )
                .await?;
            let id: i64 = row.get(0);
            {
                // Only a gap-free event counts as seen: an event of another replica recorded just
                // before this one must still be applied here (a redundant reload is harmless, a
                // missed one is not).
                let mut s = self.state();
                if id == s.seen + 1 {
                    s.seen = id;
                }
            }
            client
                .execute(
                    "SELECT pg_notify($1, $2)",
                    &[&CHANNEL, &format!("{id}:{}", self.replica)],
                )
                .await?;
            Ok::<i64, tokio_postgres::Error>(id)
        };
        let out = match tokio::time::timeout(IO_TIMEOUT, sent).await {
            Ok(Ok(id)) => json!({ "fanout": true, "event": id }),
            Ok(Err(e)) => {
                self.state().unpublished = true;
                json!({ "fanout": false, "error": format!("{e}") })
            }
            Err(_) => {
                self.state().unpublished = true;
                json!({ "fanout": false, "error": "the cluster database did not answer in time" })
            }
        };
        self.state().publishing -= 1;
        out
    }

    /// Keeps the link up for as long as the runtime runs: connect, listen, apply events; on any
    /// failure mark the replica degraded and try again with a growing delay.
    pub(crate) async fn run(self: Arc<Self>, shared: std::sync::Weak<Shared>) {
        let mut backoff = Duration::from_millis(250);
        // Subscribed for the runtime's whole life: changes made while the link is down wait here.
        let mut app_changes = shared.upgrade().and_then(|s| s.pipeline.apps.as_ref().and_then(|a| a.subscribe_changes()));
        loop {
            if shared.upgrade().is_none_or(|s| s.is_draining()) {
                return;
            }
            let Err(e) = self.session(&shared, &mut app_changes).await else {
                return;
            };
            let (was, joined) = {
                let mut s = self.state();
                let was = s.link;
                s.link = Link::Degraded;
                s.error = Some(e.clone());
                s.client = None;
                (was, s.joined)
            };
            match was {
                Link::Connected => {
                    tracing::warn!(error = %e, replica = %self.replica, "Lost the cluster database; serving on, reloads do not fan out until it is back.");
                    backoff = Duration::from_millis(250);
                }
                Link::Connecting if !joined => {
                    tracing::warn!(error = %e, replica = %self.replica, "Cannot reach the cluster database; serving alone until it is reachable.");
                }
                _ => tracing::debug!(error = %e, "Cluster database still not reachable."),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// One connection's life. Returns `Ok` only when the runtime stops.
    async fn session(&self, shared: &std::sync::Weak<Shared>, app_changes: &mut Option<broadcast::Receiver<AppsChanged>>) -> Result<(), String> {
        let (client, mut connection) = tokio::time::timeout(IO_TIMEOUT, self.config.connect(NoTls))
            .await
            .map_err(|_| "connecting timed out".to_owned())?
            .map_err(|e| format!("{e}"))?;
        // The connection object must be polled for the client to work; it also yields NOTIFYs.
        let (events, mut heard) = mpsc::unbounded_channel();
        let driver = tokio::spawn(async move {
            let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(m) = messages.next().await {
                match m {
                    Ok(AsyncMessage::Notification(n)) => {
                        let _ = events.send(Ok((n.channel().to_owned(), n.payload().to_owned())));
                    }
                    Ok(_) => {}
                    Err(e) => {
                        let _ = events.send(Err(format!("{e}")));
                        return;
                    }
                }
            }
            let _ = events.send(Err("the cluster database closed the connection".to_owned()));
        });
        let _stop_driver = AbortOnDrop(driver);
        let client = Arc::new(client);
        let setup = async {
            client
                .batch_execute(&format!(
                    "BEGIN; SELECT pg_advisory_xact_lock({DDL_LOCK}); \
                     CREATE TABLE IF NOT EXISTS buntime_cluster_reloads (id BIGSERIAL PRIMARY KEY, origin TEXT NOT NULL, at TIMESTAMPTZ NOT NULL DEFAULT now()); \
                     COMMIT; LISTEN {CHANNEL}; LISTEN {APPS_CHANNEL};"
                ))
                .await?;
            latest(&client).await
        };
        let newest = tokio::time::timeout(IO_TIMEOUT, setup)
            .await
            .map_err(|_| "setting up timed out".to_owned())?
            .map_err(|e| format!("{e}"))?;
        let rejoined = {
            let mut s = self.state();
            // On the first connection (made while the boot load runs, which reads the plugin dirs
            // after this) the newest event is where this replica starts from. After a lost link, a
            // newer one was missed.
            let rejoined = s.joined;
            if !s.joined {
                s.seen = s.seen.max(newest);
                s.joined = true;
            }
            s.link = Link::Connected;
            s.error = None;
            s.client = Some(client.clone());
            rejoined
        };
        // Fan-out reloads wait for the boot load, which is generation 1.
        while shared.upgrade().is_some_and(|s| s.live.load().number == 0) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if rejoined {
            tracing::info!(replica = %self.replica, event = newest, "Back on the cluster database.");
            self.apply(shared, newest, "missed while disconnected")
                .await;
            // App changes of the others were missed too: treat every app as changed.
            self.apply_app_change(shared, everything(shared)).await;
        } else {
            tracing::info!(replica = %self.replica, event = newest, "Joined the cluster: reloads fan out to every replica on this database.");
        }
        if std::mem::take(&mut self.state().unpublished) {
            let sent = self.publish().await;
            tracing::info!(outcome = %sent, "Published a reload made while the cluster database was unreachable.");
        }
        if std::mem::take(&mut self.state().apps_unsent) {
            self.send_app_change(shared, &client, everything(shared)).await?;
        }
        let mut tick = tokio::time::interval(CHECK_EVERY);
        tick.tick().await;
        loop {
            tokio::select! {
                change = next_change(app_changes) => {
                    let change = match change {
                        Ok(c) => c,
                        Err(broadcast::error::RecvError::Lagged(_)) => everything(shared),
                        Err(broadcast::error::RecvError::Closed) => {
                            *app_changes = None;
                            continue;
                        }
                    };
                    self.send_app_change(shared, &client, change).await?;
                }
                event = heard.recv() => match event {
                    Some(Ok((channel, payload))) if channel == APPS_CHANNEL => {
                        match serde_json::from_str::<AppNotice>(&payload) {
                            Ok(n) if n.origin != self.replica => self.apply_app_change(shared, n.change).await,
                            Ok(_) => {}
                            Err(e) => tracing::warn!(error = %e, "Ignored an app-change notice that is not ours."),
                        }
                    }
                    Some(Ok((_, payload))) => {
                        let Some((id, origin)) = payload.split_once(':') else { continue };
                        let Ok(id) = id.parse::<i64>() else { continue };
                        if origin != self.replica {
                            self.apply(shared, id, origin).await;
                        }
                    }
                    Some(Err(e)) => return Err(e),
                    None => return Err("the cluster connection ended".to_owned()),
                },
                _ = tick.tick() => {
                    if shared.upgrade().is_none_or(|s| s.is_draining()) {
                        return Ok(());
                    }
                    let newest = tokio::time::timeout(IO_TIMEOUT, latest(&client))
                        .await
                        .map_err(|_| "the cluster database stopped answering".to_owned())?
                        .map_err(|e| format!("{e}"))?;
                    if self.state().publishing == 0 {
                        self.apply(shared, newest, "found by the periodic check").await;
                    }
                }
            }
        }
    }

    /// Tells the other replicas about an app change made here. A failure ends the session; the
    /// change is then sent as "everything changed" once the link is back.
    async fn send_app_change(&self, shared: &std::sync::Weak<Shared>, client: &Client, change: AppsChanged) -> Result<(), String> {
        let mut payload = serde_json::to_string(&AppNotice { origin: self.replica.clone(), change }).unwrap_or_default();
        if payload.is_empty() || payload.len() > MAX_PAYLOAD {
            // Too many paths (or one that is not UTF-8): the roots cover them all.
            payload = serde_json::to_string(&AppNotice { origin: self.replica.clone(), change: everything(shared) }).unwrap_or_default();
        }
        let sent = tokio::time::timeout(IO_TIMEOUT, client.execute("SELECT pg_notify($1, $2)", &[&APPS_CHANNEL, &payload])).await;
        match sent {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => {
                self.state().apps_unsent = true;
                Err(format!("{e}"))
            }
            Err(_) => {
                self.state().apps_unsent = true;
                Err("the cluster database did not answer in time".to_owned())
            }
        }
    }

    /// Applies an app change another replica made (or "everything", after a lost link).
    async fn apply_app_change(&self, shared: &std::sync::Weak<Shared>, change: AppsChanged) {
        let Some(apps) = shared.upgrade().and_then(|s| s.pipeline.apps.clone()) else {
            return;
        };
        apps.apply_change(&change).await;
        self.state().applied_app_changes += 1;
        tracing::info!(paths = ?change.paths, keys = ?change.keys, "Applied an app change made on another replica.");
    }

    /// Reloads this replica for event `id` unless it has applied it (or a newer one) already.
    async fn apply(&self, shared: &std::sync::Weak<Shared>, id: i64, from: &str) {
        {
            let mut s = self.state();
            if id <= s.seen {
                return;
            }
            s.seen = id;
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if shared.is_draining() {
            return;
        }
        match crate::reload::reload(&shared).await {
            Ok(report) => {
                self.state().applied += 1;
                tracing::info!(event = id, from = %from, generation = report.generation, "Reloaded for another replica.");
            }
            Err(err) => {
                tracing::error!(event = id, from = %from, generation = err.generation, problems = err.errors.len(), "Fan-out reload refused here; this replica keeps its generation.");
            }
        }
    }
}

/// An app change as sent to the other replicas.
#[derive(serde::Serialize, serde::Deserialize)]
struct AppNotice {
    origin: String,
    #[serde(flatten)]
    change: AppsChanged,
}

/// The next app change made here; pending forever when there is no app backend.
async fn next_change(changes: &mut Option<broadcast::Receiver<AppsChanged>>) -> Result<AppsChanged, broadcast::error::RecvError> {
    match changes {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// "Every app changed": the worker directories themselves.
fn everything(shared: &std::sync::Weak<Shared>) -> AppsChanged {
    let paths = shared.upgrade().map(|s| s.config.worker_dirs.clone()).unwrap_or_default();
    AppsChanged { paths, keys: Vec::new() }
}

/// The newest fan-out event id (0 when none).
async fn latest(client: &Client) -> Result<i64, tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT COALESCE(MAX(id), 0)::bigint FROM buntime_cluster_reloads",
            &[],
        )
        .await?;
    Ok(row.get(0))
}

/// Stops the connection driver when a session ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
