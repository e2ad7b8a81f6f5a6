//! Log setup: pretty lines in development, JSON lines in production, level from the config.

use buntime_core::config::{LogFormat, RuntimeConfig};
use tracing_subscriber::EnvFilter;

/// Installs the global logger for `config`. `RUST_LOG`, when set, refines the filter.
/// Calling it twice keeps the first logger.
pub fn init(config: &RuntimeConfig) {
    let level = config.log_level.as_str();
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{level},hyper=warn,h2=warn,tower=warn")));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_ansi(ansi);
    let result = match config.log_format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
    // A logger already installed (tests, embedders) is fine.
    drop(result);
}
