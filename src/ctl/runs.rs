//! recctl's human output for the run history and the schedule.

use super::print::{opt, row, Human};
use crate::protocol::{History, ScheduleInfo, SchedulePaused};
use crate::store::Run;

/// One line per run: id, trigger, status, start, duration, version or
/// reason.
impl Human for History {
    fn print(&self) {
        self.print_runs();
        if !self.erasures.is_empty() {
            println!();
            println!(
                "{:>7}  {:<20}  {:>7}  {:<12}  user",
                "erasure", "at", "ratings", "by"
            );
            for e in &self.erasures {
                println!(
                    "{:>7}  {:<20}  {:>7}  {:<12}  {}",
                    e.id,
                    crate::clock::rfc3339_unix(e.erased_at),
                    e.ratings_deleted,
                    by(e),
                    e.user
                );
            }
        }
    }
}

impl History {
    fn print_runs(&self) {
        if self.runs.is_empty() {
            println!("no training runs recorded");
            return;
        }
        println!(
            "{:>6}  {:<9}  {:<9}  {:<20}  {:>8}  {:>7}  {:>6}  what",
            "id", "trigger", "status", "started", "seconds", "rmse", "new"
        );
        for r in &self.runs {
            println!(
                "{:>6}  {:<9}  {:<9}  {:<20}  {:>8}  {:>7}  {:>6}  {}",
                r.id,
                r.trigger.name(),
                r.status.name(),
                crate::clock::rfc3339_unix(r.started_at),
                opt(&r.seconds.map(|s| format!("{s:.1}"))),
                opt(&rmse(r)),
                opt(&r.new_ratings),
                what(r)
            );
        }
    }
}

/// Who asked for an erasure: a uid, a token, or unknown.
fn by(e: &crate::store::Erasure) -> String {
    match (&e.by_uid, &e.by_token) {
        (Some(uid), _) => format!("uid {uid}"),
        (None, Some(token)) => format!("token {token}"),
        (None, None) => "-".into(),
    }
}

fn rmse(r: &Run) -> Option<String> {
    let m = r.metrics.as_ref()?;
    Some(format!("{:.4}", m["rmse"].as_f64()?))
}

/// The model a run published, or why it did not.
fn what(r: &Run) -> String {
    match (&r.model_version, &r.reason) {
        (Some(v), _) => v.clone(),
        (None, Some(why)) => why.clone(),
        (None, None) => String::new(),
    }
}

fn brief(run: &Option<Run>) -> String {
    run.as_ref().map_or("-".into(), |r| {
        format!(
            "run {} {} at {}",
            r.id,
            r.status.name(),
            crate::clock::rfc3339_unix(r.started_at)
        )
    })
}

impl Human for ScheduleInfo {
    fn print(&self) {
        row("schedule", &self.schedule);
        if let Some(e) = &self.expression {
            row("expression", e);
        }
        row("timezone", &self.timezone);
        row(
            "paused",
            match &self.paused_at {
                Some(at) => format!("yes, since {at}"),
                None => "no".into(),
            },
        );
        if self.next_local.is_empty() {
            row("next", "-");
        }
        for (i, t) in self.next_local.iter().enumerate() {
            row(if i == 0 { "next" } else { "" }, t);
        }
        row(
            "gate",
            format!(
                "at least {} new ratings (now {}); RMSE no worse than +{}",
                self.min_new_ratings,
                opt(&self.new_ratings),
                self.max_rmse_increase
            ),
        );
        row("random delay", format!("{} s", self.random_delay_secs));
        row("catch up", self.catch_up);
        row(
            "max duration",
            opt(&self.max_duration_secs.map(|s| format!("{s} s"))),
        );
        row("last attempt", brief(&self.last_attempt));
        row("last success", brief(&self.last_success));
        row("notifications", &self.notifications);
    }
}

impl Human for SchedulePaused {
    fn print(&self) {
        let state = if self.paused { "paused" } else { "running" };
        if self.changed {
            println!("schedule {state}");
        } else {
            println!("schedule already {state}");
        }
    }
}
