//! The `buntime` binary: parse the command line, load the configuration, serve (or check).

use std::path::PathBuf;
use std::process::ExitCode;

use buntime_core::config::{ENV_VARS, Env, RuntimeConfig};
use clap::{Parser, Subcommand};

mod check;
mod natives;
mod wiring;

#[derive(Parser, Debug)]
#[command(name = "buntime", version, about = "A modular application runtime: plugins and apps behind one HTTP front door.", after_help = env_help())]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve plugins and apps (the default).
    Serve,
    /// Scan the plugin dirs and report what would load and why not, without starting anything.
    Check,
    /// Manage API keys in RUNTIME_STATE_DIR without a running server:
    /// `keys create --name N [--role admin|editor|viewer|custom] [--permissions a,b] [--expires-in 30d] [--description D]`,
    /// `keys list`, `keys revoke <id>`.
    Keys {
        /// The keys subcommand and its options.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn env_help() -> String {
    let mut out = String::from("Environment variables (also read from .env, .env.<NODE_ENV>, .env.local):\n");
    for (name, default, meaning) in ENV_VARS {
        out.push_str(&format!("  {name:<28} {meaning} [default: {default}]\n"));
    }
    out
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let base_dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let (env, config) = match load(&base_dir) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("buntime: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Check => check::run(&config, &env),
        Command::Keys { args } => {
            let mut out = std::io::stdout();
            match buntime_auth::cli::run(&args, &config.state_dir, &mut out) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("buntime keys: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Serve => serve(env, config),
    }
}

fn load(base_dir: &std::path::Path) -> Result<(Env, RuntimeConfig), buntime_core::config::ConfigError> {
    let env = Env::load(base_dir)?;
    let config = RuntimeConfig::from_env(&env, base_dir)?;
    Ok((env, config))
}

fn serve(env: Env, config: RuntimeConfig) -> ExitCode {
    buntime_server::logging::init(&config);
    for dir in &config.worker_dirs {
        if !dir.is_dir() {
            tracing::warn!(dir = %dir.display(), "App directory does not exist; apps there will be found once it does.");
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("buntime: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        // Bind first: workers learn the runtime's real address (RUNTIME_API_URL) even with PORT=0.
        let listener = buntime_server::bind(&config).await?;
        let port = listener.local_addr()?.port();
        wiring::build(config, env, port).serve_with(listener).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "Runtime failed.");
            eprintln!("buntime: {e}");
            ExitCode::FAILURE
        }
    }
}
