//! Logging: human lines to stderr (colour only on a terminal) and a file in
//! the logs directory, rotated daily, the newest N kept.
//!
//! `RUST_LOG` overrides the configured level. The returned guard flushes the
//! file writer when the daemon exits: keep it alive for the whole run.

use std::io::IsTerminal;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::Logging;

pub fn init(cfg: &Logging) -> Result<Option<WorkerGuard>, String> {
    // sqlx logs every statement at debug level: its own warnings are enough
    // unless RUST_LOG asks for more. (Targets, not EnvFilter: the same
    // `level,target=level` syntax without a regex engine to build.)
    let configured = format!("{},sqlx=warn", cfg.level);
    let from_env = std::env::var("RUST_LOG")
        .ok()
        .filter(|spec| !spec.trim().is_empty())
        .and_then(|spec| match spec.parse::<Targets>() {
            Ok(filter) => Some(filter),
            Err(e) => {
                // The logger is not up yet: say it where it would go.
                eprintln!("recd: ignoring RUST_LOG '{spec}' ({e}); using logging.level");
                None
            }
        });
    let filter = match from_env {
        Some(filter) => filter,
        None => configured
            .parse::<Targets>()
            .map_err(|e| format!("logging.level '{}': {e}", cfg.level))?,
    };
    let stderr = fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    let (file, guard) = match &cfg.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("{}: cannot create the logs directory: {e}", dir.display()))?;
            let appender = tracing_appender::rolling::Builder::new()
                .rotation(tracing_appender::rolling::Rotation::DAILY)
                .filename_prefix("recd")
                .filename_suffix("log")
                .max_log_files(cfg.keep_files)
                .build(dir)
                .map_err(|e| format!("{}: cannot open a log file: {e}", dir.display()))?;
            let (writer, guard) = tracing_appender::non_blocking(appender);
            let layer = fmt::layer()
                .with_writer(writer)
                .with_ansi(false)
                .with_target(false);
            (Some(layer), Some(guard))
        }
        None => (None, None),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(stderr)
        .with(file)
        .try_init()
        .map_err(|e| format!("cannot install the logger: {e}"))?;
    Ok(guard)
}
