//! Telling people how a run ended: one line in the log, and the
//! notifications the config asks for (`[notify]`, sent on threads of their
//! own), built from the run as recorded; and the count of runs by how they
//! ended, which `/metrics` exports.

use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use strum::EnumCount;

use super::jobs::Job;
use super::State;
use crate::notifications::{Delivery, Notifier, RunEvent};
use crate::store::{Run, RunEnd, RunStatus};

impl State {
    /// Announce `job`'s run as the database recorded it (on the job's
    /// thread); where it cannot be read back (the database may be what
    /// failed), as the job knows it: `end`.
    pub(super) fn announce(&self, job: &Job, end: RunEnd) {
        let id = job.id;
        let run = match self.database().get_run(id as i64) {
            Ok(Some(run)) if run.status != RunStatus::Running => run,
            found => {
                if let Err(e) = found {
                    tracing::warn!(job = id, "cannot read run {id} back: {e}");
                }
                let status = job.status();
                let started_at = crate::clock::parse_rfc3339(&status.started_at).unwrap_or(0);
                Run {
                    id: id as i64,
                    trigger: status.trigger,
                    status: end.status,
                    started_at,
                    finished_at: status
                        .finished_at
                        .as_deref()
                        .and_then(crate::clock::parse_rfc3339)
                        .or(Some(started_at + end.seconds as i64)),
                    seconds: Some(end.seconds),
                    params: serde_json::Value::Null,
                    metrics: end.metrics,
                    counts: end.counts,
                    new_ratings: end.new_ratings,
                    watermark: end.watermark,
                    model_version: end.model_version,
                    reason: end.reason,
                }
            }
        };
        self.announce_run(&run);
    }

    /// Log how `run` ended and send the notifications the config asks for;
    /// never waits for them.
    pub(super) fn announce_run(&self, run: &Run) {
        tracing::info!(job = run.id, "{}", summary(run));
        self.runs_ended.count(run.status);
        send(&self.notifications, run);
    }
}

/// The runs this daemon has announced since it started, by how they ended
/// (every run's end passes through [`State::announce_run`]).
#[derive(Debug, Default)]
pub struct Ended([AtomicU64; RunStatus::COUNT]);

impl Ended {
    fn count(&self, status: RunStatus) {
        self.0[status as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// How many ended so; 0 for `running`.
    pub fn get(&self, status: RunStatus) -> u64 {
        self.0[status as usize].load(Ordering::Relaxed)
    }
}

/// Send `run`'s notifications, on a thread of their own (its handle, when
/// anything is sent).
pub fn send(notifier: &Notifier, run: &Run) -> Option<JoinHandle<Delivery>> {
    notifier.send(RunEvent {
        status: run.status.name().to_owned(),
        text: summary(run),
        fields: serde_json::to_value(run).unwrap_or_default(),
    })
}

/// One line for people: what ran, how it ended, the figures that matter.
pub fn summary(run: &Run) -> String {
    let mut line = format!(
        "retrain {} ({}) {}",
        run.id,
        run.trigger.name(),
        run.status.name()
    );
    if let Some(v) = &run.model_version {
        line += &format!(" model {v}");
    }
    let metric = |key: &str| run.metrics.as_ref().and_then(|m| m[key].as_f64());
    if let Some(rmse) = metric("rmse") {
        line += &format!(", RMSE {rmse:.4}");
        if let Some(current) = metric("current_rmse") {
            line += &format!(" (current model {current:.4})");
        }
    }
    if let Some(n) = run.new_ratings {
        line += &format!(", {n} new ratings");
    }
    if let Some(s) = run.seconds {
        line += &format!(", {s:.1} s");
    }
    if run.status != RunStatus::Published {
        if let Some(reason) = &run.reason {
            line += &format!(": {reason}");
        }
    }
    line
}
