//! The `[notify]` section: its keys, defaults and limits, and the run
//! statuses a notification may be asked for.
//!
//! Its `Debug` never shows the webhook URL's secret parts or the command's
//! arguments, so a config printed whole leaks neither.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use strum::IntoEnumIterator;

use crate::store::RunStatus;

use super::redact::{check_url, redact_url};

/// How a training run may end, as the `events` key names it: every
/// status of a run but `running`.
pub fn statuses() -> Vec<&'static str> {
    RunStatus::iter()
        .filter(|s| *s != RunStatus::Running)
        .map(RunStatus::name)
        .collect()
}

/// The `[notify]` section: where to report each training run's end.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// An http(s) URL to POST the run's JSON to (None: no webhook; the key
    /// set to "").
    pub webhook: Option<String>,
    /// A program and its arguments, run with the run's JSON on stdin (no
    /// shell).
    pub command: Option<Vec<String>>,
    /// The statuses that notify (see [`statuses`]).
    pub events: Vec<String>,
    /// Per webhook attempt, and for the whole command.
    #[serde(rename = "timeout_secs", deserialize_with = "seconds")]
    pub timeout: Duration,
    /// Webhook attempts after the first, with exponential backoff.
    pub retries: u32,
}

impl Default for Settings {
    /// Nothing to notify; every status would, once a target is set.
    fn default() -> Settings {
        Settings {
            webhook: None,
            command: None,
            events: statuses().into_iter().map(String::from).collect(),
            timeout: Duration::from_secs(10),
            retries: 3,
        }
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("webhook", &self.webhook.as_deref().map(redact_url))
            .field("command", &self.command.as_deref().map(program_name))
            .field("events", &self.events)
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .finish()
    }
}

/// A `[notify]` key out of its limits.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{key}: {what}")]
pub struct SettingsError {
    /// The config key, e.g. `notify.webhook`.
    pub key: &'static str,
    pub what: String,
}

impl Settings {
    /// Check every key; the error names the key and what is wrong.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let bad = |key, what| SettingsError { key, what };
        if let Some(url) = &self.webhook {
            check_url(url).map_err(|what| bad("notify.webhook", what))?;
        }
        if let Some(argv) = &self.command {
            if argv.first().is_none_or(|p| p.is_empty()) {
                return Err(bad(
                    "notify.command",
                    "must start with a program, e.g. [\"/usr/bin/msmtp\", \"ops@example.org\"]"
                        .into(),
                ));
            }
        }
        for name in &self.events {
            let status = RunStatus::from_str(name);
            if status.is_err() || status == Ok(RunStatus::Running) {
                return Err(bad(
                    "notify.events",
                    format!(
                        "'{name}' is not a run status; the statuses are {}",
                        statuses().join(", ")
                    ),
                ));
            }
        }
        in_range(self.timeout.as_secs(), 1, 3600)
            .map_err(|what| bad("notify.timeout_secs", what))?;
        in_range(self.retries.into(), 0, 10).map_err(|what| bad("notify.retries", what))?;
        Ok(())
    }
}

/// `v` within `lo..=hi`, else what is wrong, worded as the other sections'
/// limits are.
fn in_range(v: u64, lo: u64, hi: u64) -> Result<(), String> {
    if (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(format!("must be between {lo} and {hi}, got {v}"))
    }
}

/// The file name of a command's program, for logs: its arguments may carry
/// secrets (a `curl -u`), its directory says nothing useful.
pub(super) fn program_name(argv: &[String]) -> String {
    let program = argv.first().map(String::as_str).unwrap_or("");
    program.rsplit('/').next().unwrap_or(program).to_owned()
}

fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    u64::deserialize(d).map(Duration::from_secs)
}
