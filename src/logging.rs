//! Logging: human lines to stderr (colour only on a terminal) and a file in
//! the logs directory, rotated daily, the newest N kept.
//!
//! `RUST_LOG` overrides the configured level. The returned guard flushes the
//! file writer when the daemon exits: keep it alive for the whole run.
//!
//! Log files are 0640 whatever the umask: they name users and their
//! ratings' ids.

use std::io::{self, IsTerminal, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

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
            let (writer, guard) = tracing_appender::non_blocking(Restricted::new(appender, dir));
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

/// A log file's mode.
const MODE: u32 = 0o640;

/// The rolling appender, with the files it creates set to [`MODE`]: it
/// creates them with 0666 less the umask and offers no say in it. A new
/// file appears only when the (UTC) day turns, so the directory is looked
/// at then, not at every line.
struct Restricted {
    inner: tracing_appender::rolling::RollingFileAppender,
    dir: PathBuf,
    /// The day (since the epoch) whose file has been seen to.
    day: i64,
}

impl Restricted {
    fn new(inner: tracing_appender::rolling::RollingFileAppender, dir: &Path) -> Restricted {
        restrict(dir);
        Restricted {
            inner,
            dir: dir.to_owned(),
            day: today(),
        }
    }
}

impl Write for Restricted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Read before the appender reads the clock: once this says the day
        // has turned, the appender has rotated by the end of this write.
        let day = today();
        let n = self.inner.write(buf)?;
        if day != self.day {
            self.day = day;
            restrict(&self.dir);
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn today() -> i64 {
    crate::clock::unix_seconds(std::time::SystemTime::now()).div_euclid(86_400)
}

/// Set the log files in `dir` (`recd.*.log`) to [`MODE`]. A failure is
/// said on stderr: the logger is what would report it.
fn restrict(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with("recd.") && name.ends_with(".log")) {
            continue;
        }
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_file() && meta.permissions().mode() & 0o777 != MODE {
            if let Err(e) = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(MODE)) {
                eprintln!(
                    "recd: {}: cannot set its mode to {MODE:o}: {e}",
                    path.display()
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Log files were created 0666 less the umask: 0644 under the usual
    /// umask, readable by every user.
    #[test]
    fn log_files_are_0640() {
        let tmp = tempfile::tempdir().unwrap();
        let appender = tracing_appender::rolling::Builder::new()
            .rotation(tracing_appender::rolling::Rotation::DAILY)
            .filename_prefix("recd")
            .filename_suffix("log")
            .build(tmp.path())
            .unwrap();
        let mut w = Restricted::new(appender, tmp.path());
        w.write_all(b"a line\n").unwrap();
        w.flush().unwrap();
        let files: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().collect();
        assert_eq!(files.len(), 1);
        let mode = files[0].metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, MODE, "{mode:o}");
        // A file of a day gone by, made under another umask, is seen to
        // when the day turns.
        let old = tmp.path().join("recd.2000-01-01.log");
        std::fs::write(&old, "old\n").unwrap();
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o666)).unwrap();
        w.day -= 1;
        w.write_all(b"another\n").unwrap();
        let mode = std::fs::metadata(&old).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, MODE, "{mode:o}");
    }
}
