//! Loading generations: the boot load (serves whatever loaded) and `reload` (all or nothing),
//! the atomic swap, and the background retirement of the old generation.

use std::sync::Arc;
use std::time::Instant;

use buntime_core::Generation;
use buntime_core::loader::build_generation;
use buntime_core::problem::Problem;
use buntime_core::websocket::SocketScope;
use serde::Serialize;

use crate::runtime::Shared;

/// A plugin as listed in a reload reply.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LoadedSummary {
    /// The plugin's name.
    pub name: String,
    /// Its version (`0.0.0` when the manifest has none).
    pub version: String,
    /// Its base path, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
}

/// What a successful reload did.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadReport {
    /// Always `true`.
    pub ok: bool,
    /// The generation now serving.
    pub generation: u64,
    /// The loaded plugins, in load order.
    pub plugins: Vec<LoadedSummary>,
    /// Non-fatal notes (shadowed duplicates, likely typos).
    pub warnings: Vec<String>,
    /// How long loading took.
    #[serde(rename = "elapsedMs")]
    pub elapsed_ms: u64,
    /// What the fan-out to other replicas did (`RUNTIME_CLUSTER_DATABASE_URL` set, API reloads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<serde_json::Value>,
}

/// Why a reload was refused; the old generation keeps serving.
#[derive(Debug, Clone, Serialize, thiserror::Error)]
#[error("reload failed with {} problem(s); generation {generation} keeps serving", errors.len())]
pub struct ReloadError {
    /// Always `false`.
    pub ok: bool,
    /// The generation still serving.
    pub generation: u64,
    /// Every problem found.
    pub errors: Vec<Problem>,
}

fn summaries(generation: &Generation) -> Vec<LoadedSummary> {
    generation
        .plugins
        .iter()
        .map(|p| LoadedSummary {
            name: p.name().to_owned(),
            version: p.manifest.display_version().to_owned(),
            base: p.manifest.base.as_ref().map(|b| b.as_str().to_owned()),
        })
        .collect()
}

/// Loads the first generation. Plugins that fail are logged and left out; the rest serve.
pub(crate) async fn boot(shared: &Arc<Shared>) {
    let _lock = shared.reload_lock.lock().await;
    let started = Instant::now();
    let mut outcome = build_generation(&shared.inputs, 1).await;
    outcome.generation.sockets = SocketScope::limited(shared.socket_limit.clone());
    for w in &outcome.warnings {
        tracing::warn!("{w}");
    }
    for p in &outcome.problems {
        tracing::error!(plugin = p.plugin.as_deref().unwrap_or("-"), "{p}");
    }
    let generation = Arc::new(outcome.generation);
    shared.live.swap(generation.clone());
    shared.metrics.set_generation(1);
    tracing::info!(generation = 1, plugins = generation.plugins.len(), elapsed_ms = started.elapsed().as_millis() as u64, "Runtime ready.");
    // A logs plugin, if any, has subscribed by now and got the start-up lines; stop keeping them.
    buntime_core::logsink::drop_startup_backlog();
    if let Some(server) = shared.server.get() {
        generation.server_started(server).await;
    }
}

/// Builds the next generation and swaps it in only if every plugin loaded.
pub(crate) async fn reload(shared: &Arc<Shared>) -> Result<ReloadReport, ReloadError> {
    let _lock = shared.reload_lock.lock().await;
    let started = Instant::now();
    let current = shared.live.load();
    let number = current.number + 1;
    let outcome = build_generation(&shared.inputs, number).await;
    if !outcome.problems.is_empty() {
        for p in &outcome.problems {
            tracing::error!(plugin = p.plugin.as_deref().unwrap_or("-"), "{p}");
        }
        tracing::warn!(generation = current.number, problems = outcome.problems.len(), "Reload refused; the current generation keeps serving.");
        // Plugins of the refused generation that did initialise must release what they hold.
        outcome.generation.shut_down().await;
        shared.metrics.reload(false, started.elapsed());
        return Err(ReloadError { ok: false, generation: current.number, errors: outcome.problems });
    }
    let mut generation = outcome.generation;
    generation.sockets = SocketScope::limited(shared.socket_limit.clone());
    let next = Arc::new(generation);
    let old = shared.live.swap(next.clone());
    shared.metrics.set_generation(number);
    shared.metrics.reload(true, started.elapsed());
    let report = ReloadReport {
        ok: true,
        generation: number,
        plugins: summaries(&next),
        warnings: outcome.warnings,
        elapsed_ms: started.elapsed().as_millis() as u64,
        cluster: None,
    };
    tracing::info!(generation = number, plugins = report.plugins.len(), elapsed_ms = report.elapsed_ms, "Reloaded plugins.");
    if let Some(server) = shared.server.get() {
        next.server_started(server).await;
    }
    retire(shared, old);
    Ok(report)
}

/// Ends `old`'s SSE streams, lets it finish its other in-flight requests (up to the grace period), keeps its WebSockets open
/// for the rest of the grace (or until the runtime stops), closes them with 1001, then shuts its
/// plugins down in reverse order, in the background.
fn retire(shared: &Arc<Shared>, old: Arc<Generation>) {
    let grace = shared.config.shutdown_grace;
    let mut stopping = shared.draining.subscribe();
    // Its event streams end now (their clients reconnect to the new generation); other
    // requests finish on it.
    old.mark_replaced();
    let task = tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + grace;
        if !old.drain(grace).await {
            tracing::warn!(generation = old.number, inflight = old.inflight(), "Old generation did not drain in time; shutting it down anyway.");
        }
        if old.sockets.open() > 0 {
            let rest = deadline.saturating_duration_since(tokio::time::Instant::now());
            tokio::select! {
                _ = old.sockets.wait_closed(rest) => {}
                _ = stopping.wait_for(|stopping| *stopping) => {}
            }
        }
        old.close_sockets(SOCKET_CLOSE_WAIT).await;
        old.shut_down().await;
        tracing::debug!(generation = old.number, "Old generation retired.");
    });
    let mut retiring = shared.retiring.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    retiring.retain(|t| !t.is_finished());
    retiring.push(task);
}

/// How long WebSocket handlers get to let go after their 1001 before plugins shut down anyway.
pub(crate) const SOCKET_CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The listing of `GET /api/plugins/loaded`.
pub(crate) fn loaded_listing(generation: &Generation) -> serde_json::Value {
    let items: Vec<serde_json::Value> = generation
        .plugins
        .iter()
        .map(|p| {
            let m = &p.manifest;
            let mut o = serde_json::json!({
                "name": m.name.as_str(),
                "version": m.display_version(),
                "kind": p.kind,
                "dependencies": m.dependencies,
                "optionalDependencies": m.optional_dependencies,
                "menus": p.menus,
            });
            if let Some(b) = &m.base {
                o["base"] = serde_json::Value::String(b.as_str().to_owned());
            }
            o
        })
        .collect();
    serde_json::Value::Array(items)
}
