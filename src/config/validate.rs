//! The limits of every key. The error is the key and what is wrong with its
//! value; nothing here reads a file or looks at what a path names.

use super::Config;
use crate::schedule::Schedule;

impl Config {
    /// Read `[schedule]` into the schedule it describes (its keys are
    /// checked there); the error is the key and what is wrong.
    pub(super) fn read_schedule(&mut self) -> Result<(), (&'static str, String)> {
        self.schedule = Schedule::from_keys(&self.schedule_keys).map_err(|e| (e.key, e.what))?;
        Ok(())
    }

    /// Check every limit; the error is the key and what is wrong.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        self.training
            .params
            .validate()
            .map_err(|e| (e.key, e.what))?;
        self.ratings.validate()?;
        self.notify.validate().map_err(|e| (e.key, e.what))?;
        in_range(
            "fold_in.min_ratings",
            self.fold_in.min_ratings as f64,
            0.0,
            1000.0,
        )?;
        in_range(
            "fold_in.related_movies",
            self.fold_in.related_movies as f64,
            1.0,
            10_000.0,
        )?;
        in_range(
            "fold_in.popularity_damping",
            self.fold_in.popularity_damping as f64,
            0.0,
            1e6,
        )?;
        in_range(
            "fold_in.cache_users",
            self.fold_in.cache_users as f64,
            0.0,
            1e8,
        )?;
        in_range(
            "database.max_connections",
            self.database.max_connections as f64,
            1.0,
            1000.0,
        )?;
        in_range(
            "database.busy_timeout_ms",
            self.database.busy_timeout.as_secs_f64() * 1e3,
            1.0,
            600_000.0,
        )?;
        in_range(
            "training.holdout_fraction",
            self.training.holdout_fraction,
            0.0,
            0.5,
        )?;
        in_range(
            "training.max_rmse_increase",
            self.training.max_rmse_increase,
            0.0,
            5.0,
        )?;
        in_range(
            "models.keep_backups",
            self.models.keep_backups as f64,
            0.0,
            1000.0,
        )?;
        if let Some(url) = &self.paths.dataset_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err((
                    "paths.dataset_url",
                    format!("must be an http:// or https:// URL, got '{url}'"),
                ));
            }
        }
        let md5 = &self.paths.dataset_md5;
        if md5.len() != 32 || !md5.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err((
                "paths.dataset_md5",
                format!("must be 32 hex digits, got '{md5}'"),
            ));
        }
        let dm = &self.daemon;
        in_range(
            "daemon.max_connections",
            dm.max_connections as f64,
            1.0,
            100_000.0,
        )?;
        in_range(
            "daemon.max_line_bytes",
            dm.max_line_bytes as f64,
            1024.0,
            64.0 * 1024.0 * 1024.0,
        )?;
        in_range(
            "daemon.idle_timeout_secs",
            dm.idle_timeout.as_secs_f64(),
            1.0,
            86_400.0,
        )?;
        in_range(
            "daemon.write_timeout_secs",
            dm.write_timeout.as_secs_f64(),
            1.0,
            3600.0,
        )?;
        in_range(
            "daemon.max_import_bytes",
            dm.max_import_bytes as f64,
            1024.0,
            64.0 * 1024.0 * 1024.0 * 1024.0,
        )?;
        in_range(
            "daemon.shutdown_timeout_secs",
            dm.shutdown_timeout.as_secs_f64(),
            0.0,
            3600.0,
        )?;
        // sockaddr_un holds 108 bytes, the terminating NUL included.
        let socket_len = dm.socket.as_os_str().len();
        if socket_len > 107 {
            return Err((
                "daemon.socket",
                format!("path is {socket_len} bytes; a Unix socket path may have at most 107"),
            ));
        }
        in_range(
            "logging.keep_files",
            self.logging.keep_files as f64,
            1.0,
            10_000.0,
        )?;
        if !["error", "warn", "info", "debug", "trace"].contains(&self.logging.level.as_str()) {
            return Err((
                "logging.level",
                format!(
                    "must be one of error, warn, info, debug, trace; got '{}'",
                    self.logging.level
                ),
            ));
        }
        for (key, p) in [
            ("paths.models_dir", &self.paths.models_dir),
            ("paths.dataset", &self.paths.dataset),
            ("daemon.socket", &self.daemon.socket),
        ] {
            if p.as_os_str().is_empty() {
                return Err((key, "must not be empty".into()));
            }
        }
        Ok(())
    }
}

fn in_range(key: &'static str, v: f64, lo: f64, hi: f64) -> Result<(), (&'static str, String)> {
    crate::numeric::in_range(v, lo, hi).map_err(|what| (key, what))
}
