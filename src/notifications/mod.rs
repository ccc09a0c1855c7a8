//! Notifications at the end of each training run: a webhook (Slack
//! compatible) and a command, both given the run as one JSON object.
//!
//! It owns the `[notify]` section, the message, delivery and its retries,
//! and the redaction of webhook URLs. A notification is sent on a thread of
//! its own and never blocks, delays or fails the run it reports: a failure
//! is logged and goes no further. A webhook URL's secret parts (userinfo,
//! path, query) and a command's arguments never reach a log line, an error
//! or anything this module returns.

mod command;
mod redact;
mod settings;
#[cfg(test)]
mod tests;
mod webhook;

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{json, Map, Value};

pub use redact::redact_url;
pub use settings::{statuses, Settings, SettingsError};

use settings::program_name;

/// The delay before the first webhook retry; it doubles with each.
const BACKOFF: Duration = Duration::from_secs(1);

/// How a training run ended, as the daemon reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEvent {
    /// One of [`statuses`]: "published", "skipped", ...
    pub status: String,
    /// One human line, e.g. "retrain 42 (scheduled) published model
    /// 20261130T020000Z, RMSE 0.8512, 1234 new ratings, 12.3 s"; the host
    /// is put in front of it.
    pub text: String,
    /// The run's fields, a JSON object; sent at the top level of the body.
    pub fields: Value,
}

/// Why a notification did not go through.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Failure {
    #[error("answered HTTP {code}{}", if body.is_empty() { String::new() } else { format!(": {body}") })]
    Status {
        code: u16,
        /// The start of the response body.
        body: String,
    },
    /// No connection, or one broken: a later attempt may pass.
    #[error("{0}")]
    Transport(String),
    #[error("{0}")]
    TimedOut(String),
    /// An error no retry mends (a TLS certificate, a malformed request).
    #[error("{0}")]
    Refused(String),
    #[error("cannot start: {0}")]
    Spawn(String),
    #[error("{0}")]
    Exit(String),
    #[error("killed after overrunning its timeout of {} s", .0.as_secs_f64())]
    Killed(Duration),
}

impl Failure {
    /// Whether another attempt could succeed.
    fn may_pass(&self) -> bool {
        match self {
            Failure::Status { code, .. } => *code >= 500 || *code == 429,
            Failure::Transport(_) | Failure::TimedOut(_) => true,
            _ => false,
        }
    }
}

/// What became of one target.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    /// The redacted webhook URL, or the command's program name.
    pub target: String,
    /// Attempts made (a command is run once).
    pub attempts: u32,
    /// Ok, or the last failure.
    pub result: Result<(), Failure>,
    /// The command's stdout and stderr, at most 4 KiB; empty for a webhook.
    pub output: String,
}

/// What became of one notification, target by target: the webhook first,
/// then the command.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Delivery {
    pub targets: Vec<Attempt>,
}

impl Delivery {
    /// Every target was reached.
    pub fn is_ok(&self) -> bool {
        self.targets.iter().all(|t| t.result.is_ok())
    }
}

/// Sends [`RunEvent`]s to the targets of a [`Settings`].
#[derive(Clone)]
pub struct Notifier {
    webhook: Option<String>,
    command: Option<Vec<String>>,
    events: Vec<String>,
    timeout: Duration,
    retries: u32,
    backoff: Duration,
    host: String,
    /// Deliveries under way, shared by the clones; at most [`IN_FLIGHT`].
    sending: Arc<AtomicUsize>,
}

/// Deliveries under way at once; past it a notification is dropped (and
/// logged), so a target that hangs cannot pile up threads.
pub const IN_FLIGHT: usize = 16;

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Notifier({})", self.describe())
    }
}

impl Notifier {
    pub fn new(settings: &Settings) -> Notifier {
        Notifier {
            webhook: settings.webhook.clone().filter(|u| !u.is_empty()),
            command: settings.command.clone().filter(|c| !c.is_empty()),
            events: settings.events.clone(),
            timeout: settings.timeout,
            retries: settings.retries,
            backoff: BACKOFF,
            host: host_name(),
            sending: Arc::default(),
        }
    }

    /// The delay before the first webhook retry (1 s unless set); it
    /// doubles with each retry.
    pub fn with_backoff(mut self, first: Duration) -> Notifier {
        self.backoff = first;
        self
    }

    /// The host named in the message (this machine's unless set).
    pub fn with_host(mut self, host: &str) -> Notifier {
        self.host = host.to_owned();
        self
    }

    /// A target is configured.
    pub fn is_enabled(&self) -> bool {
        self.webhook.is_some() || self.command.is_some()
    }

    /// Whether a run that ended with `status` notifies.
    pub fn wants(&self, status: &str) -> bool {
        self.is_enabled() && self.events.iter().any(|e| e == status)
    }

    /// The targets (the webhook redacted, the command by its program name)
    /// and the settings, for a reply.
    pub fn describe(&self) -> Value {
        let mut targets = Vec::new();
        if let Some(url) = &self.webhook {
            targets.push(json!({ "webhook": redact_url(url) }));
        }
        if let Some(argv) = &self.command {
            targets.push(json!({ "command": program_name(argv) }));
        }
        json!({
            "targets": targets,
            "events": self.events,
            "timeout_secs": self.timeout.as_secs(),
            "retries": self.retries,
        })
    }

    /// The JSON every target gets: the event's fields, with `status`,
    /// `host` and the `text` line ("recd on HOST: ...") set over them.
    pub fn body(&self, event: &RunEvent) -> Value {
        let mut body = match &event.fields {
            Value::Object(fields) => fields.clone(),
            Value::Null => Map::new(),
            other => Map::from_iter([("fields".to_owned(), other.clone())]),
        };
        body.insert("status".into(), event.status.clone().into());
        body.insert("host".into(), self.host.clone().into());
        body.insert(
            "text".into(),
            format!("recd on {}: {}", self.host, event.text).into(),
        );
        Value::Object(body)
    }

    /// Send in the background on a thread of its own: never blocks, fails
    /// or delays the caller. Returns the thread's handle, or None when no
    /// target is configured, `event`'s status is not among `events`, or
    /// no thread could be started (logged).
    pub fn send(&self, event: RunEvent) -> Option<JoinHandle<Delivery>> {
        if !self.wants(&event.status) {
            return None;
        }
        if self.sending.fetch_add(1, Ordering::AcqRel) >= IN_FLIGHT {
            self.sending.fetch_sub(1, Ordering::AcqRel);
            tracing::warn!(
                "notification of a {} run dropped: {IN_FLIGHT} are still being delivered",
                event.status
            );
            return None;
        }
        let body = self.body(&event).to_string().into_bytes();
        let this = self.clone();
        let spawned = std::thread::Builder::new()
            .name("notify".into())
            .spawn(move || {
                let delivery = this.deliver(&event.status, &body);
                this.sending.fetch_sub(1, Ordering::AcqRel);
                delivery
            });
        match spawned {
            Ok(handle) => Some(handle),
            Err(e) => {
                self.sending.fetch_sub(1, Ordering::AcqRel);
                tracing::warn!("cannot start a thread to send the notification: {e}");
                None
            }
        }
    }

    /// Every target in turn, each failure logged.
    fn deliver(&self, status: &str, body: &[u8]) -> Delivery {
        let mut delivery = Delivery::default();
        if let Some(url) = &self.webhook {
            let (attempts, result) =
                webhook::post(url, body, self.timeout, self.retries, self.backoff);
            delivery.targets.push(Attempt {
                target: redact_url(url),
                attempts,
                result,
                output: String::new(),
            });
        }
        if let Some(argv) = &self.command {
            let (output, result) = command::run(argv, body, self.timeout);
            delivery.targets.push(Attempt {
                target: program_name(argv),
                attempts: 1,
                result,
                output,
            });
        }
        for t in &delivery.targets {
            let output = if t.output.is_empty() {
                String::new()
            } else {
                format!("; output: {}", t.output)
            };
            match &t.result {
                Ok(()) => tracing::info!("notified {} of a {status} run{output}", t.target),
                Err(e) => tracing::warn!(
                    "notification of a {status} run to {} failed after {} attempt(s): {e}{output}",
                    t.target,
                    t.attempts
                ),
            }
        }
        delivery
    }
}

/// This machine's name, for the message; "localhost" when it cannot be
/// read.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
