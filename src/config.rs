//! Configuration: a TOML file read into raw serde structs, then validated
//! into [`Config`].
//!
//! It owns the keys, their defaults and their limits; every error names the
//! key and what is wrong with it. Relative paths are taken from the config
//! file's own directory, so a config works from any working directory.
//! `config/recd.toml` in the repository documents every key.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::numeric::Params;

/// The database `url` names: "" is `recd.db` in the state dir; `sqlite:PATH`
/// (relative to the config's directory) or a PostgreSQL URL.
fn database_target(
    url: Option<&str>,
    state_dir: &Path,
    base: &Path,
) -> Result<crate::store::Target, String> {
    use crate::store::Target;
    let url = url.unwrap_or("").trim();
    if url.is_empty() {
        return Ok(Target::Sqlite(state_dir.join("recd.db")));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Target::Postgres(url.to_owned()));
    }
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        if path.is_empty() {
            return Err("sqlite: needs a file path".into());
        }
        let path = Path::new(path);
        return Ok(Target::Sqlite(if path.is_relative() {
            base.join(path)
        } else {
            path.to_owned()
        }));
    }
    Err(format!(
        "must be empty (SQLite in paths.state_dir), sqlite:PATH, or a postgres:// URL; got '{url}'"
    ))
}

/// Where the packaged config lives; read when no other is named.
pub const DEFAULT_PATH: &str = "/etc/recd/recd.toml";

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file this came from (None: embedded defaults).
    pub source: Option<PathBuf>,
    pub models_dir: PathBuf,
    pub dataset: PathBuf,
    /// Where to fetch the dataset from when it is missing (None: never).
    pub dataset_url: Option<String>,
    /// Its expected MD5, lower-case hex.
    pub dataset_md5: String,
    pub training: Params,
    pub holdout_fraction: f64,
    pub min_new_ratings: u64,
    pub max_rmse_increase: f64,
    pub keep_backups: usize,
    pub daemon: Daemon,
    pub logging: Logging,
    /// Where the SQLite database (and other state) lives.
    pub state_dir: PathBuf,
    pub database: Database,
    pub ratings: crate::store::rules::Rules,
    pub fold_in: FoldIn,
}

/// The `[fold_in]` section: users the model has not seen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FoldIn {
    /// Below this many ratings, users are recommended movies related to
    /// the ones they rated.
    pub min_ratings: usize,
    /// How many related movies those recommendations are chosen from.
    pub related_movies: usize,
    /// `m` of the damped mean that ranks movies for users with no ratings.
    pub popularity_damping: f32,
    /// Folded-in users kept per model.
    pub cache_users: usize,
}

/// The `[database]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct Database {
    pub target: crate::store::Target,
    pub max_connections: u32,
    pub busy_timeout: std::time::Duration,
}

impl Database {
    pub fn options(&self) -> crate::store::Options {
        crate::store::Options {
            max_connections: self.max_connections,
            busy_timeout: self.busy_timeout,
        }
    }
}

/// The `[daemon]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct Daemon {
    pub socket: PathBuf,
    /// Members of this group may call admin methods (besides root and the
    /// daemon's own user). None: no group.
    pub admin_group: Option<String>,
    pub max_connections: usize,
    pub max_line_bytes: usize,
    pub idle_timeout: std::time::Duration,
    pub shutdown_timeout: std::time::Duration,
}

/// The `[logging]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct Logging {
    /// Directory of the rotated log files; None logs to stderr only.
    pub dir: Option<PathBuf>,
    pub keep_files: usize,
    pub level: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("{}: {key}: {what}", path.display())]
    Invalid {
        path: PathBuf,
        key: &'static str,
        what: String,
    },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    paths: RawPaths,
    #[serde(default)]
    training: RawTraining,
    #[serde(default)]
    models: RawModels,
    #[serde(default)]
    daemon: RawDaemon,
    #[serde(default)]
    logging: RawLogging,
    #[serde(default)]
    database: RawDatabase,
    #[serde(default)]
    ratings: RawRatings,
    #[serde(default)]
    fold_in: RawFoldIn,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFoldIn {
    min_ratings: Option<usize>,
    related_movies: Option<usize>,
    popularity_damping: Option<f32>,
    cache_users: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    url: Option<String>,
    max_connections: Option<u32>,
    busy_timeout_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRatings {
    min: Option<f32>,
    max: Option<f32>,
    step: Option<f32>,
    max_user_id_bytes: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDaemon {
    socket: Option<PathBuf>,
    admin_group: Option<String>,
    max_connections: Option<usize>,
    max_line_bytes: Option<usize>,
    idle_timeout_secs: Option<u64>,
    shutdown_timeout_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLogging {
    dir: Option<PathBuf>,
    keep_files: Option<usize>,
    level: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPaths {
    state_dir: Option<PathBuf>,
    models_dir: Option<PathBuf>,
    dataset: Option<PathBuf>,
    dataset_url: Option<String>,
    dataset_md5: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTraining {
    n_factors: Option<usize>,
    n_epochs: Option<usize>,
    lr_all: Option<f32>,
    reg_all: Option<f32>,
    init_std_dev: Option<f32>,
    threads: Option<usize>,
    seed: Option<u64>,
    holdout_fraction: Option<f64>,
    min_new_ratings: Option<u64>,
    max_rmse_increase: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModels {
    keep_backups: Option<usize>,
}

impl Config {
    /// The embedded defaults: the packaged layout under /var/lib/recd.
    pub fn embedded() -> Config {
        Config {
            source: None,
            models_dir: PathBuf::from("/var/lib/recd/models"),
            dataset: PathBuf::from("/var/lib/recd/datasets/ml-1m"),
            dataset_url: Some("https://files.grouplens.org/datasets/movielens/ml-1m.zip".into()),
            dataset_md5: "c4d9eecfca2ab87c1945afe126590906".into(),
            training: Params::default(),
            holdout_fraction: 0.1,
            min_new_ratings: 100,
            max_rmse_increase: 0.02,
            keep_backups: 5,
            daemon: Daemon {
                socket: PathBuf::from("/run/recd/recd.sock"),
                admin_group: Some("recd-admin".into()),
                max_connections: 1024,
                max_line_bytes: 64 * 1024,
                idle_timeout: std::time::Duration::from_secs(300),
                shutdown_timeout: std::time::Duration::from_secs(10),
            },
            logging: Logging {
                dir: Some(PathBuf::from("/var/log/recd")),
                keep_files: 14,
                level: "info".into(),
            },
            state_dir: PathBuf::from("/var/lib/recd"),
            database: Database {
                target: crate::store::Target::Sqlite(PathBuf::from("/var/lib/recd/recd.db")),
                max_connections: 8,
                busy_timeout: std::time::Duration::from_secs(5),
            },
            ratings: crate::store::rules::Rules::default(),
            fold_in: FoldIn {
                min_ratings: 20,
                related_movies: 50,
                popularity_damping: 10.0,
                cache_users: 100_000,
            },
        }
    }

    /// Load the config named explicitly, else the one `RECD_CONFIG` names,
    /// else the packaged one if it exists, else the embedded defaults.
    pub fn locate(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let env = std::env::var_os("RECD_CONFIG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        match explicit.map(Path::to_owned).or(env) {
            Some(path) => Config::load(&path),
            None if Path::new(DEFAULT_PATH).exists() => Config::load(Path::new(DEFAULT_PATH)),
            None => Ok(Config::embedded()),
        }
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut config = Config::parse(&text, base, path)?;
        config.source = Some(path.to_owned());
        Ok(config)
    }

    /// Parse config text; relative paths are joined to `base`; `name` only
    /// labels errors.
    pub fn parse(text: &str, base: &Path, name: &Path) -> Result<Config, ConfigError> {
        let raw: Raw = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: name.to_owned(),
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
        let d = Config::embedded();
        let t = raw.training;
        let resolve = |p: Option<PathBuf>, default: PathBuf| {
            let p = p.unwrap_or(default);
            if p.is_relative() && !p.as_os_str().is_empty() {
                base.join(p)
            } else {
                p
            }
        };
        let state_dir = resolve(raw.paths.state_dir, d.state_dir);
        let config = Config {
            source: None,
            models_dir: resolve(raw.paths.models_dir, d.models_dir),
            dataset: resolve(raw.paths.dataset, d.dataset),
            dataset_url: match raw.paths.dataset_url {
                Some(u) if u.is_empty() => None,
                Some(u) => Some(u),
                None => d.dataset_url,
            },
            dataset_md5: raw
                .paths
                .dataset_md5
                .unwrap_or(d.dataset_md5)
                .to_ascii_lowercase(),
            training: Params {
                n_factors: t.n_factors.unwrap_or(d.training.n_factors),
                n_epochs: t.n_epochs.unwrap_or(d.training.n_epochs),
                lr_all: t.lr_all.unwrap_or(d.training.lr_all),
                reg_all: t.reg_all.unwrap_or(d.training.reg_all),
                init_std_dev: t.init_std_dev.unwrap_or(d.training.init_std_dev),
                threads: t.threads.unwrap_or(d.training.threads),
                seed: t.seed.unwrap_or(d.training.seed),
            },
            holdout_fraction: t.holdout_fraction.unwrap_or(d.holdout_fraction),
            min_new_ratings: t.min_new_ratings.unwrap_or(d.min_new_ratings),
            max_rmse_increase: t.max_rmse_increase.unwrap_or(d.max_rmse_increase),
            keep_backups: raw.models.keep_backups.unwrap_or(d.keep_backups),
            daemon: Daemon {
                socket: resolve(raw.daemon.socket, d.daemon.socket),
                admin_group: match raw.daemon.admin_group {
                    Some(g) if g.is_empty() => None,
                    Some(g) => Some(g),
                    None => d.daemon.admin_group,
                },
                max_connections: raw
                    .daemon
                    .max_connections
                    .unwrap_or(d.daemon.max_connections),
                max_line_bytes: raw.daemon.max_line_bytes.unwrap_or(d.daemon.max_line_bytes),
                idle_timeout: raw
                    .daemon
                    .idle_timeout_secs
                    .map_or(d.daemon.idle_timeout, std::time::Duration::from_secs),
                shutdown_timeout: raw
                    .daemon
                    .shutdown_timeout_secs
                    .map_or(d.daemon.shutdown_timeout, std::time::Duration::from_secs),
            },
            logging: Logging {
                dir: match raw.logging.dir {
                    Some(p) if p.as_os_str().is_empty() => None,
                    Some(p) => Some(resolve(Some(p), PathBuf::new())),
                    None => d.logging.dir,
                },
                keep_files: raw.logging.keep_files.unwrap_or(d.logging.keep_files),
                level: raw.logging.level.unwrap_or(d.logging.level),
            },
            state_dir: state_dir.clone(),
            database: Database {
                target: database_target(raw.database.url.as_deref(), &state_dir, base).map_err(
                    |what| ConfigError::Invalid {
                        path: name.to_owned(),
                        key: "database.url",
                        what,
                    },
                )?,
                max_connections: raw
                    .database
                    .max_connections
                    .unwrap_or(d.database.max_connections),
                busy_timeout: raw
                    .database
                    .busy_timeout_ms
                    .map_or(d.database.busy_timeout, std::time::Duration::from_millis),
            },
            ratings: crate::store::rules::Rules {
                min: raw.ratings.min.unwrap_or(d.ratings.min),
                max: raw.ratings.max.unwrap_or(d.ratings.max),
                step: raw.ratings.step.unwrap_or(d.ratings.step),
                max_user_id_bytes: raw
                    .ratings
                    .max_user_id_bytes
                    .unwrap_or(d.ratings.max_user_id_bytes),
            },
            fold_in: FoldIn {
                min_ratings: raw.fold_in.min_ratings.unwrap_or(d.fold_in.min_ratings),
                related_movies: raw
                    .fold_in
                    .related_movies
                    .unwrap_or(d.fold_in.related_movies),
                popularity_damping: raw
                    .fold_in
                    .popularity_damping
                    .unwrap_or(d.fold_in.popularity_damping),
                cache_users: raw.fold_in.cache_users.unwrap_or(d.fold_in.cache_users),
            },
        };
        config
            .validate()
            .map_err(|(key, what)| ConfigError::Invalid {
                path: name.to_owned(),
                key,
                what,
            })?;
        Ok(config)
    }

    /// Check every limit; the error is the key and what is wrong.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        self.training.validate().map_err(|e| (e.key, e.what))?;
        self.ratings.validate()?;
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
        in_range("training.holdout_fraction", self.holdout_fraction, 0.0, 0.5)?;
        in_range(
            "training.max_rmse_increase",
            self.max_rmse_increase,
            0.0,
            5.0,
        )?;
        in_range("models.keep_backups", self.keep_backups as f64, 0.0, 1000.0)?;
        if let Some(url) = &self.dataset_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err((
                    "paths.dataset_url",
                    format!("must be an http:// or https:// URL, got '{url}'"),
                ));
            }
        }
        if self.dataset_md5.len() != 32 || !self.dataset_md5.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err((
                "paths.dataset_md5",
                format!("must be 32 hex digits, got '{}'", self.dataset_md5),
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
            ("paths.models_dir", &self.models_dir),
            ("paths.dataset", &self.dataset),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/recd"), Path::new("recd.toml"))
    }

    #[test]
    fn empty_file_is_the_embedded_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c, Config::embedded());
    }

    #[test]
    fn keys_are_read_and_relative_paths_follow_the_file() {
        let c = parse(
            "[paths]\nmodels_dir = \"models\"\ndataset = \"/data/ml-1m\"\n\
             [training]\nn_factors = 150\nn_epochs = 25\nlr_all = 0.01\nreg_all = 0.05\nthreads = 2\nholdout_fraction = 0.2\n\
             [models]\nkeep_backups = 3\n",
        )
        .unwrap();
        assert_eq!(c.models_dir, PathBuf::from("/etc/recd/models"));
        assert_eq!(c.dataset, PathBuf::from("/data/ml-1m"));
        assert_eq!(
            (
                c.training.n_factors,
                c.training.n_epochs,
                c.training.threads
            ),
            (150, 25, 2)
        );
        assert_eq!(c.holdout_fraction, 0.2);
        assert_eq!(c.keep_backups, 3);
    }

    #[test]
    fn errors_name_the_key() {
        let e = parse("[training]\nn_factors = 0\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "recd.toml: training.n_factors: must be between 1 and 1024, got 0"
        );
        let e = parse("[training]\nholdout_fraction = 0.9\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("training.holdout_fraction"), "{e}");
        let e = parse("[training]\nn_factor = 10\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `n_factor`"), "{e}");
        let e = parse("[training]\nn_factors = \"many\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("n_factors") && e.contains("invalid type"), "{e}");
        let e = parse("[paths]\nmodels_dir = \"\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("paths.models_dir: must not be empty"), "{e}");
        let e = parse("[daemon]\nmax_connections = 0\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("daemon.max_connections: must be between 1"),
            "{e}"
        );
        let e = parse(&format!("[daemon]\nsocket = \"/{}\"\n", "s".repeat(120)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("daemon.socket: path is 121 bytes"), "{e}");
        let e = parse("[logging]\nlevel = \"loud\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("logging.level: must be one of"), "{e}");
        let e = parse("[database]\nurl = \"mysql://x\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("database.url: must be empty"), "{e}");
        let e = parse("[fold_in]\nrelated_movies = 0\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "recd.toml: fold_in.related_movies: must be between 1 and 10000, got 0"
        );
        let c = parse("[fold_in]\nmin_ratings = 3\nrelated_movies = 7\n").unwrap();
        assert_eq!((c.fold_in.min_ratings, c.fold_in.related_movies), (3, 7));
        let e = parse("[ratings]\nstep = 0\n").unwrap_err().to_string();
        assert!(e.contains("ratings.step"), "{e}");
        let c = parse("[paths]\nstate_dir = \"st\"\n").unwrap();
        assert_eq!(
            c.database.target,
            crate::store::Target::Sqlite(PathBuf::from("/etc/recd/st/recd.db"))
        );
        let c = parse("[database]\nurl = \"sqlite:db/r.db\"\n").unwrap();
        assert_eq!(
            c.database.target,
            crate::store::Target::Sqlite(PathBuf::from("/etc/recd/db/r.db"))
        );
        let e = parse("[training\n").unwrap_err().to_string();
        assert!(e.starts_with("recd.toml: "), "{e}");
    }

    #[test]
    fn the_repository_config_parses_and_documents_every_key() {
        let text = include_str!("../config/recd.toml");
        parse(text).unwrap();
        for key in [
            "models_dir",
            "dataset",
            "dataset_url",
            "dataset_md5",
            "n_factors",
            "n_epochs",
            "lr_all",
            "reg_all",
            "init_std_dev",
            "threads",
            "seed",
            "holdout_fraction",
            "min_new_ratings",
            "max_rmse_increase",
            "keep_backups",
            "socket",
            "admin_group",
            "max_connections",
            "max_line_bytes",
            "idle_timeout_secs",
            "shutdown_timeout_secs",
            "dir",
            "keep_files",
            "level",
            "state_dir",
            "url",
            "busy_timeout_ms",
            "min",
            "max",
            "step",
            "max_user_id_bytes",
            "min_ratings",
            "related_movies",
            "popularity_damping",
            "cache_users",
        ] {
            assert!(
                text.contains(&format!("\n{key} = ")),
                "config/recd.toml does not document {key}"
            );
        }
        parse(include_str!("../packaging/recd.toml")).unwrap();
    }
}
