//! The directories systemd makes for a unit (`RuntimeDirectory=`,
//! `StateDirectory=`, `LogsDirectory=`, `ConfigurationDirectory=`) and
//! passes as `RUNTIME_DIRECTORY`, `STATE_DIRECTORY`, `LOGS_DIRECTORY` and
//! `CONFIGURATION_DIRECTORY`. A path the config file leaves unset comes
//! from them; a key the file sets wins.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::Config;

/// The directories systemd passed; None where it passed none.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Directories {
    pub runtime: Option<PathBuf>,
    pub state: Option<PathBuf>,
    pub logs: Option<PathBuf>,
    pub configuration: Option<PathBuf>,
}

/// Which key a directory fills, and how: one row per key.
struct Fill {
    section: &'static str,
    key: &'static str,
    from: fn(&Directories) -> Option<&Path>,
    /// Joined to the directory.
    under: &'static str,
    set: fn(&mut Config, PathBuf),
}

const FILLS: &[Fill] = &[
    Fill {
        section: "daemon",
        key: "socket",
        from: |d| d.runtime.as_deref(),
        under: "recd.sock",
        set: |c, p| c.daemon.socket = p,
    },
    Fill {
        section: "paths",
        key: "state_dir",
        from: |d| d.state.as_deref(),
        under: "",
        set: |c, p| c.paths.state_dir = p,
    },
    Fill {
        section: "paths",
        key: "models_dir",
        from: |d| d.state.as_deref(),
        under: "models",
        set: |c, p| c.paths.models_dir = p,
    },
    Fill {
        section: "paths",
        key: "dataset",
        from: |d| d.state.as_deref(),
        under: "datasets/ml-1m",
        set: |c, p| c.paths.dataset = p,
    },
    Fill {
        section: "logging",
        key: "dir",
        from: |d| d.logs.as_deref(),
        under: "",
        set: |c, p| c.logging.dir = Some(p),
    },
];

impl Directories {
    /// What this process was given.
    pub fn from_env() -> Directories {
        Directories::from_vars(|name| std::env::var_os(name))
    }

    pub(super) fn from_vars(var: impl Fn(&str) -> Option<OsString>) -> Directories {
        // systemd passes several directories colon-separated when a unit
        // names several; recd's is the first. A relative or empty value is
        // not systemd's and is ignored.
        let first = |name: &str| {
            let value = var(name)?;
            let first = value.to_str()?.split(':').next()?.to_owned();
            Some(PathBuf::from(first)).filter(|p| p.is_absolute())
        };
        Directories {
            runtime: first("RUNTIME_DIRECTORY"),
            state: first("STATE_DIRECTORY"),
            logs: first("LOGS_DIRECTORY"),
            configuration: first("CONFIGURATION_DIRECTORY"),
        }
    }

    /// The config file systemd's configuration directory holds, if any.
    pub fn config_file(&self) -> Option<PathBuf> {
        let file = self.configuration.as_ref()?.join("recd.toml");
        file.exists().then_some(file)
    }

    /// Fill the keys `given` (the file's table; empty for the embedded
    /// defaults) leaves unset from the directories.
    pub(super) fn fill(&self, config: &mut Config, given: &toml::Table) {
        for fill in FILLS {
            let set_in_file = given
                .get(fill.section)
                .and_then(|s| s.as_table())
                .is_some_and(|s| s.contains_key(fill.key));
            if set_in_file {
                continue;
            }
            if let Some(dir) = (fill.from)(self) {
                let path = if fill.under.is_empty() {
                    dir.to_owned()
                } else {
                    dir.join(fill.under)
                };
                (fill.set)(config, path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Target;

    fn dirs() -> Directories {
        Directories::from_vars(|name| {
            Some(OsString::from(match name {
                "RUNTIME_DIRECTORY" => "/run/recd",
                "STATE_DIRECTORY" => "/var/lib/recd-state:/var/lib/other",
                "LOGS_DIRECTORY" => "/var/log/recd-logs",
                "CONFIGURATION_DIRECTORY" => "relative/ignored",
                _ => return None,
            }))
        })
    }

    fn parse(text: &str) -> Config {
        Config::parse_in(
            text,
            Path::new("/etc/recd"),
            Path::new("recd.toml"),
            &dirs(),
        )
        .unwrap()
    }

    #[test]
    fn the_first_absolute_directory_of_each_variable_is_taken() {
        let d = dirs();
        assert_eq!(d.runtime.as_deref(), Some(Path::new("/run/recd")));
        assert_eq!(d.state.as_deref(), Some(Path::new("/var/lib/recd-state")));
        assert_eq!(d.logs.as_deref(), Some(Path::new("/var/log/recd-logs")));
        assert_eq!(d.configuration, None);
        assert_eq!(Directories::from_vars(|_| None), Directories::default());
    }

    #[test]
    fn unset_paths_come_from_the_directories() {
        let c = parse("");
        assert_eq!(c.daemon.socket, Path::new("/run/recd/recd.sock"));
        assert_eq!(c.paths.state_dir, Path::new("/var/lib/recd-state"));
        assert_eq!(c.paths.models_dir, Path::new("/var/lib/recd-state/models"));
        assert_eq!(
            c.paths.dataset,
            Path::new("/var/lib/recd-state/datasets/ml-1m")
        );
        assert_eq!(
            c.database.target,
            Target::Sqlite(PathBuf::from("/var/lib/recd-state/recd.db"))
        );
        assert_eq!(
            c.logging.dir.as_deref(),
            Some(Path::new("/var/log/recd-logs"))
        );
    }

    #[test]
    fn a_key_set_in_the_file_wins() {
        let c = parse(
            "[daemon]\nsocket = \"/tmp/r.sock\"\n[paths]\nmodels_dir = \"m\"\n\
             [logging]\ndir = \"\"\n",
        );
        assert_eq!(c.daemon.socket, Path::new("/tmp/r.sock"));
        assert_eq!(c.paths.models_dir, Path::new("/etc/recd/m"));
        // Still unset, so still systemd's.
        assert_eq!(c.paths.state_dir, Path::new("/var/lib/recd-state"));
        // "" is "stderr only", a choice the file made.
        assert_eq!(c.logging.dir, None);
    }

    #[test]
    fn without_directories_the_defaults_stand() {
        let c = Config::parse("", Path::new("/etc/recd"), Path::new("recd.toml")).unwrap();
        assert_eq!(c, Config::embedded());
    }
}
