//! The `buntime` binary: serve (or check) a runtime from the local configuration, or manage a
//! remote one through its REST API (`remote`, `apps`, `plugins`, `keys --remote`, `status`, `tui`).

use std::path::PathBuf;
use std::process::ExitCode;

use buntime_core::config::{ENV_VARS, Env, RuntimeConfig};
use clap::{Parser, Subcommand};

mod check;
mod client;
mod commands;
mod failure;
mod natives;
mod pack;
mod profiles;
mod tui;
mod wiring;

use commands::Target;
use commands::apps::AppsCmd;
use commands::plugins::PluginsCmd;
use commands::remote::RemoteCmd;

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
    /// `keys list`, `keys revoke <id>`. With `--remote[=NAME]` (and optionally `--json`), the same
    /// commands go to a running runtime through its REST API.
    Keys {
        /// The keys subcommand and its options.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Manage the remote runtimes this user talks to (profiles in the user's config dir).
    Remote {
        #[command(subcommand)]
        cmd: RemoteCmd,
        /// Print JSON instead of text.
        #[arg(long, global = true)]
        json: bool,
    },
    /// List, deploy and remove apps on a remote runtime.
    Apps {
        #[command(subcommand)]
        cmd: AppsCmd,
        #[command(flatten)]
        target: Target,
    },
    /// List, deploy, remove and reload plugins on a remote runtime.
    Plugins {
        #[command(subcommand)]
        cmd: PluginsCmd,
        #[command(flatten)]
        target: Target,
    },
    /// Show a remote runtime's version, readiness, generation, plugins and apps.
    Status {
        #[command(flatten)]
        target: Target,
    },
    /// A terminal UI for a remote runtime: apps, plugins, API keys, settings.
    Tui {
        #[command(flatten)]
        target: Target,
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
    // Client commands need no local runtime configuration: a bad .env here must not stop them.
    let command = match client_command(cli.command.unwrap_or(Command::Serve)) {
        Ok(code) => return code,
        Err(local) => local,
    };
    let base_dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let (env, config) = match load(&base_dir) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("buntime: {e}");
            return ExitCode::from(2);
        }
    };
    match command {
        Local::Check => check::run(&config, &env),
        Local::Keys(args) => {
            let mut out = std::io::stdout();
            match buntime_auth::cli::run(&args, &config.state_dir, &mut out) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("buntime keys: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Local::Serve => serve(env, config),
    }
}

/// The commands that work on the local configuration.
#[derive(Debug)]
enum Local {
    Serve,
    Check,
    /// Offline `keys` on the state dir.
    Keys(Vec<String>),
}

/// Runs a command that talks to a remote runtime; hands back the ones that work locally.
fn client_command(command: Command) -> Result<ExitCode, Local> {
    Ok(match command {
        Command::Remote { cmd, json } => commands::finish("remote", json, commands::remote::run(cmd, json)),
        Command::Apps { cmd, target } => commands::finish("apps", target.json, commands::apps::run(cmd, &target)),
        Command::Plugins { cmd, target } => commands::finish("plugins", target.json, commands::plugins::run(cmd, &target)),
        Command::Status { target } => commands::finish("status", target.json, commands::status::run(&target)),
        Command::Tui { target } => commands::finish("tui", target.json, tui::run(&target)),
        Command::Keys { args } => match commands::keys::remote_flag(&args) {
            (Some(remote), words) => {
                let json = words.iter().any(|w| w == "--json");
                commands::finish("keys", json, commands::keys::run_words(remote, &words))
            }
            (None, _) => return Err(Local::Keys(args)),
        },
        Command::Serve => return Err(Local::Serve),
        Command::Check => return Err(Local::Check),
    })
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
