//! Log setup: pretty lines in development, JSON lines in production, level from the config, all
//! written so that a vanished log reader (a closed pipe) never stops or wedges the runtime; every
//! event is also offered to the log sink the logs plugin reads.

use std::io::Write;

use buntime_core::config::{LogFormat, RuntimeConfig};
use buntime_core::logsink::LogSinkLayer;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// How many start-up log lines wait for the logs plugin.
const STARTUP_BACKLOG: usize = 512;

/// Installs the global logger for `config`. `RUST_LOG`, when set, refines the filter.
/// Calling it twice keeps the first logger.
pub fn init(config: &RuntimeConfig) {
    let level = config.log_level.as_str();
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{level},hyper=warn,h2=warn,tower=warn")));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let lines = tracing_subscriber::fmt::layer().with_target(false).with_ansi(ansi).with_writer(LossyStdout);
    // The sink copies events to the logs plugin; with no plugin listening it costs one atomic load.
    let registry = tracing_subscriber::registry().with(filter).with(LogSinkLayer);
    let result = match config.log_format {
        LogFormat::Json => registry.with(lines.json().flatten_event(true).with_current_span(false)).try_init(),
        LogFormat::Pretty => registry.with(lines.compact()).try_init(),
    };
    // A logger already installed (tests, embedders) is fine.
    if result.is_ok() {
        // The logs plugin loads after others: keep the start-up lines until it subscribes (or
        // the runtime is ready without it, see reload.rs).
        buntime_core::logsink::keep_startup_backlog(STARTUP_BACKLOG);
    }
}

/// Standard output that drops lines it cannot write.
///
/// Reporting a failed write is what tracing-subscriber does by default (to stderr, which panics
/// when stderr is gone too); for a server, losing log lines beats losing the process.
#[derive(Debug, Clone, Copy)]
struct LossyStdout;

impl<'a> MakeWriter<'a> for LossyStdout {
    type Writer = LossyWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LossyWriter
    }
}

#[derive(Debug)]
struct LossyWriter;

impl Write for LossyWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stdout().lock().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stdout().flush();
        Ok(())
    }
}
