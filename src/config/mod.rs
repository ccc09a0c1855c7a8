//! Configuration: the TOML file, read into its sections, its paths
//! resolved, its limits checked.
//!
//! It owns the keys, their defaults and their limits; every error names the
//! key and what is wrong with it. Relative paths are taken from the config
//! file's own directory, so a config works from any working directory, and
//! every path comes out absolute with `.` and `..` folded. It never touches
//! the files the paths name. `config/recd.toml` in the repository documents
//! every key.

mod http;
mod sections;
mod systemd;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod training_tests;
mod validate;

use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

pub use http::{Http, Scope, Token};
pub use sections::{Daemon, Database, FoldIn, Logging, Metrics, Models, Paths, Training};
pub use systemd::Directories;

use crate::schedule::{Keys as ScheduleKeys, Schedule};
use crate::store::rules::Rules;
use crate::store::Target;

/// Where the packaged config lives; read when no other is named.
pub const DEFAULT_PATH: &str = "/etc/recd/recd.toml";

/// The whole configuration, one field per section of the file.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The file this came from (None: embedded defaults).
    #[serde(skip)]
    pub source: Option<PathBuf>,
    pub paths: Paths,
    pub training: Training,
    pub models: Models,
    pub daemon: Daemon,
    pub logging: Logging,
    pub database: Database,
    #[serde(with = "sections::RulesKeys")]
    pub ratings: Rules,
    pub fold_in: FoldIn,
    /// The `[schedule]` section as written.
    #[serde(rename = "schedule")]
    pub schedule_keys: ScheduleKeys,
    /// When retrains are due: `[schedule]`, read when the config is parsed.
    #[serde(skip)]
    pub schedule: Schedule,
    pub notify: crate::notifications::Settings,
    pub metrics: Metrics,
    pub http: Http,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// TOML syntax or a value of the wrong type; `message` is the parser's,
    /// over several lines, with the offending line and a caret under it.
    #[error("{}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("{}: {key}: {what}", path.display())]
    Invalid {
        path: PathBuf,
        key: &'static str,
        what: String,
    },
}

impl Config {
    /// The embedded defaults: the packaged layout under /var/lib/recd.
    pub fn embedded() -> Config {
        Config::default()
    }

    /// Load the config named explicitly, else the one `RECD_CONFIG` names,
    /// else `recd.toml` in systemd's `CONFIGURATION_DIRECTORY`, else the
    /// packaged one if it exists, else the embedded defaults. Paths it
    /// leaves unset come from systemd's directories ([`Directories`]).
    pub fn locate(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let dirs = Directories::from_env();
        let env = std::env::var_os("RECD_CONFIG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        let file = explicit
            .map(Path::to_owned)
            .or(env)
            .or_else(|| dirs.config_file())
            .or_else(|| Some(PathBuf::from(DEFAULT_PATH)).filter(|p| p.exists()));
        match file {
            Some(path) => Config::load_in(&path, &dirs),
            None => {
                let mut config = Config::embedded();
                dirs.fill(&mut config, &toml::Table::new());
                config
                    .resolve(Path::new("/"))
                    .map_err(|(key, what)| ConfigError::Invalid {
                        path: PathBuf::from("(built-in defaults)"),
                        key,
                        what,
                    })?;
                Ok(config)
            }
        }
    }

    /// Load a config file; paths it leaves unset come from systemd's
    /// directories.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_in(path, &Directories::from_env())
    }

    fn load_in(path: &Path, dirs: &Directories) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut config = Config::parse_in(&text, base, path, dirs)?;
        config.source = Some(path.to_owned());
        Ok(config)
    }

    /// Parse config text; relative paths are joined to `base` (itself taken
    /// from the current directory when relative); `name` only labels errors.
    pub fn parse(text: &str, base: &Path, name: &Path) -> Result<Config, ConfigError> {
        Config::parse_in(text, base, name, &Directories::default())
    }

    /// [`Config::parse`], with the paths the text leaves unset taken from
    /// `dirs`.
    pub fn parse_in(
        text: &str,
        base: &Path,
        name: &Path,
        dirs: &Directories,
    ) -> Result<Config, ConfigError> {
        let parse_error = |e: toml::de::Error| ConfigError::Parse {
            path: name.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        };
        let mut config: Config = toml::from_str(text).map_err(parse_error)?;
        let given: toml::Table = toml::from_str(text).map_err(parse_error)?;
        dirs.fill(&mut config, &given);
        let invalid = |(key, what)| ConfigError::Invalid {
            path: name.to_owned(),
            key,
            what,
        };
        config.resolve(&absolute(base)).map_err(invalid)?;
        config.validate().map_err(invalid)?;
        config.read_schedule().map_err(invalid)?;
        Ok(config)
    }

    /// Resolve every path against `base` (absolute), and read "" as "none"
    /// where a key allows it.
    fn resolve(&mut self, base: &Path) -> Result<(), (&'static str, String)> {
        let resolve = |p: &mut PathBuf| {
            if !p.as_os_str().is_empty() {
                *p = normalize(&base.join(&*p));
            }
        };
        let paths = &mut self.paths;
        resolve(&mut paths.state_dir);
        resolve(&mut paths.models_dir);
        resolve(&mut paths.dataset);
        resolve(&mut self.daemon.socket);
        self.logging.dir = self
            .logging
            .dir
            .take()
            .filter(|d| !d.as_os_str().is_empty());
        if let Some(dir) = &mut self.logging.dir {
            resolve(dir);
        }
        paths.dataset_url = paths.dataset_url.take().filter(|u| !u.is_empty());
        paths.dataset_md5 = paths.dataset_md5.to_ascii_lowercase();
        let webhook = &mut self.notify.webhook;
        *webhook = webhook.take().filter(|u| !u.is_empty());
        let group = &mut self.daemon.admin_group;
        *group = group.take().filter(|g| !g.is_empty());
        self.database.target = database_target(&self.database.url, &paths.state_dir, base)
            .map_err(|what| ("database.url", what))?;
        self.metrics.address =
            Metrics::address_of(&self.metrics.listen).map_err(|what| ("metrics.listen", what))?;
        self.http.resolve(resolve)?;
        Ok(())
    }
}

/// The database `url` names: "" is `recd.db` in the state dir; `sqlite:PATH`
/// (relative to the config's directory) or a PostgreSQL URL.
fn database_target(url: &str, state_dir: &Path, base: &Path) -> Result<Target, String> {
    let url = url.trim();
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
        return Ok(Target::Sqlite(normalize(&base.join(path))));
    }
    Err(format!(
        "must be empty (SQLite in paths.state_dir), sqlite:PATH, or a postgres:// URL; got '{url}'"
    ))
}

/// `dir` made absolute from the current directory, `.` and `..` folded.
fn absolute(dir: &Path) -> PathBuf {
    if dir.is_absolute() {
        return normalize(dir);
    }
    // Without a current directory the path stays relative: still usable,
    // only not as clean.
    let cwd = std::env::current_dir().unwrap_or_default();
    normalize(&cwd.join(dir))
}

/// Fold `.` and `..` lexically, without asking the file system: the paths
/// may not exist yet, and a symlink is the operator's to keep.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                // `/..` is `/`; a relative path keeps its leading `..`.
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(".."),
            },
            other => out.push(other),
        }
    }
    out
}
