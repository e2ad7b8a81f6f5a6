//! Assembles the stock runtime: worker pool (when Bun is available), app hosting, the JS/TS plugin
//! host, the bundled native plugins, and worker lifecycle notifications to plugins.

use std::sync::Arc;

use buntime_apps::{Apps, Dispatcher};
use buntime_auth::{AccessControl, WORKER_TOKEN_ENV, WorkerToken};
use buntime_core::app::PoolView;
use buntime_core::{Env, RuntimeConfig, RuntimeMetrics, WorkerNotice};
use buntime_pool::{Pool, PoolConfig, WorkerEventKind};
use buntime_server::Runtime;

/// Builds the runtime the `buntime` binary serves, listening on `port`.
pub(crate) fn build(config: RuntimeConfig, env: Env, port: u16) -> Runtime {
    // Workers prove they are ours with this token (see buntime_auth::worker_token).
    let token = WorkerToken::generate().map_err(|e| tracing::warn!(error = %e, "No worker token; workers get normal CSRF checks.")).ok();
    let mut access = AccessControl::from_config(&config);
    if let Some(t) = &token {
        access = access.with_worker_token(t.clone());
    }
    // One registry for the whole process: requests, hooks, reloads, and both kinds of host restarts.
    let metrics = Arc::new(RuntimeMetrics::new(config.metrics));
    let pool = start_pool(&config, &env, port, token.as_ref(), &metrics);
    let dispatcher = pool.clone().map(|p| p as Arc<dyn Dispatcher>);
    let view = pool.clone().map(|p| p as Arc<dyn PoolView>);
    let apps = Apps::new(Arc::new(config.clone()), Arc::new(env.clone()), dispatcher);
    let scripts = buntime_js::BunScriptHosts::discover(&env, &config.base_dir);
    let options = buntime_js::HostOptions { metrics: metrics.clone(), ..buntime_js::HostOptions::from_env(&env) };
    let scripts = scripts.with_options(options).shared();
    let mut builder = Runtime::builder(config, env)
        .metrics(metrics)
        .access_control(Arc::new(access))
        .scripts(scripts)
        .apps(Arc::new(apps.clone()), view)
        .api_routes(apps.admin_router());
    if let Some(pool) = pool.clone() {
        builder = builder.on_shutdown(move || async move { pool.shutdown().await });
    }
    let runtime = crate::natives::register(builder).build();
    if let Some(pool) = pool {
        forward_worker_events(&pool, runtime.clone());
    }
    runtime
}

/// Starts the worker pool; without Bun, JS apps answer 503 and everything else still works.
fn start_pool(config: &RuntimeConfig, env: &Env, port: u16, token: Option<&WorkerToken>, metrics: &Arc<RuntimeMetrics>) -> Option<Arc<Pool>> {
    let bun = match buntime_core::bun::find_bun(env, &config.base_dir) {
        Ok(bun) => bun,
        Err(e) => {
            tracing::warn!(error = %e, "No worker pool: JavaScript apps will answer 503 until Bun is installed.");
            return None;
        }
    };
    let mut pool_config = PoolConfig::from_runtime(config, env, bun);
    pool_config.metrics = metrics.clone();
    let api_port = env.get_non_blank("RUNTIME_PORT").map_or_else(|| port.to_string(), str::to_owned);
    pool_config.worker_env.runtime_api_url = format!("http://127.0.0.1:{api_port}");
    if let Some(t) = token {
        pool_config.worker_env.extra.push((WORKER_TOKEN_ENV.to_owned(), t.as_str().to_owned()));
    }
    match Pool::start(pool_config) {
        Ok(pool) => Some(pool),
        Err(e) => {
            tracing::error!(error = %e, "Worker pool failed to start; JavaScript apps will answer 503.");
            None
        }
    }
}

/// Calls plugins' `on_worker_spawn` / `on_worker_terminate` for every pool event, on the
/// generation live at that moment.
fn forward_worker_events(pool: &Pool, runtime: Runtime) {
    let mut events = pool.subscribe();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(e) => {
                    let notice = WorkerNotice {
                        key: e.key,
                        worker_id: e.worker_id,
                        dir: e.dir.into(),
                        ephemeral: e.ephemeral,
                        reason: e.reason,
                    };
                    runtime.generation().worker_event(&notice, e.kind == WorkerEventKind::Spawned).await;
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "Plugins missed worker notifications (too many at once).");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    });
}
