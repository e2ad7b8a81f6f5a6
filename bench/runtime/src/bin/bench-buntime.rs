//! The runtime as the stock binary builds it, plus a `bench-noop` native plugin for hook overhead.

use std::path::PathBuf;

use buntime_core::{Env, RuntimeConfig};

#[tokio::main]
async fn main() {
    let dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let env = Env::load(&dir).expect("readable .env");
    let config = RuntimeConfig::from_env(&env, &dir).expect("valid configuration");
    buntime_server::logging::init(&config);
    buntime_server::Runtime::builder(config, env)
        .native(buntime_plugin_hello::NAME, buntime_plugin_hello::HelloPlugin::new)
        .native("bench-noop", |_| Ok(buntime_bench::NoopHook))
        .build()
        .serve()
        .await
        .expect("runtime serves");
}
