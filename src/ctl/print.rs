//! recctl's human output: one table or list per result type, and the
//! retrain progress bar. Numbers print at their own precision (an `f32`
//! as an `f32`), times as the daemon gives them (RFC 3339).

use std::fmt::Display;

use serde::Serialize;

use crate::protocol::{
    BackupInfo, Check, Forgotten, Health, Imported, JobCancelled, JobStatus, Models, Predicted,
    Progress, Rated, Recommended, Reloaded, RolledBack, SimilarTo, StageState, Stats, Unrated,
};

/// A result as a person reads it.
pub trait Human {
    fn print(&self);
}

/// Any value as pretty JSON on stdout.
pub fn json(v: &impl Serialize) {
    match serde_json::to_string_pretty(v) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("recctl: cannot print the result: {e}"),
    }
}

/// A unit enum's name on the wire (`published`, `fold_in`, ...).
pub(super) fn wire(v: &impl Serialize) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "?".into(),
    }
}

/// A label and a value, aligned.
pub(super) fn row(label: &str, value: impl Display) {
    println!("{label:<16} {value}");
}

/// An optional value, `-` when absent.
pub(super) fn opt<T: Display>(v: &Option<T>) -> String {
    v.as_ref().map_or("-".into(), |v| v.to_string())
}

impl Human for Forgotten {
    fn print(&self) {
        row("user", &self.user);
        row("deleted", format!("{} ratings", self.deleted));
        row("erasure", self.erasure);
        row("erased_at", &self.erased_at);
    }
}

/// `backup`'s result, with where it was written.
pub fn backed_up(info: &BackupInfo, dest: &std::path::Path) {
    row("written", dest.display());
    row("bytes", info.bytes);
    row("ratings", info.ratings);
    row("users", info.users);
    row("schema_version", info.schema_version);
    row("created_at", &info.created_at);
}

impl Human for Health {
    fn print(&self) {
        row("status", wire(&self.status));
        if let Some(why) = &self.degraded {
            row("degraded", why);
        }
        row("uptime", format!("{:.0}s", self.uptime_seconds));
        row("protocol", self.protocol_version);
        match &self.model {
            Some(m) => {
                let d = &m.details;
                row("model", &m.version);
                row("trained_at", &d.trained_at);
                row(
                    "holdout RMSE",
                    opt(&d.metrics.map(|m| format!("{:.4}", m.rmse))),
                );
                row("users / items", format!("{} / {}", d.users, d.items));
            }
            None => row("model", "none"),
        }
        if let Some(next) = &self.next_run {
            row("next run", next);
        }
        if let Some(j) = &self.job {
            row(
                "job",
                format!(
                    "{} {} (stage {}, epoch {}/{})",
                    j.id,
                    wire(&j.state),
                    j.stage.map_or("-".into(), |s| wire(&s)),
                    j.epoch,
                    j.n_epochs
                ),
            );
        }
    }
}

impl Human for Stats {
    fn print(&self) {
        row("uptime", format!("{:.0}s", self.uptime_seconds));
        let c = &self.connections;
        row(
            "connections",
            format!(
                "{} open, {} total, {} rejected",
                c.open, c.total, c.rejected
            ),
        );
        row("requests", self.requests.total);
        for (m, n) in self.requests.by_method.iter().filter(|(_, n)| **n > 0) {
            println!("  {m:<14} {n}");
        }
        for (code, n) in &self.errors {
            println!("error {code:<10} {n}");
        }
        row("model", opt(&self.model.as_ref().map(|m| &m.version)));
        let db = &self.database;
        match &db.contents {
            Some(d) if db.available => {
                let c = &d.counts;
                row(
                    "database",
                    format!(
                        "{}: {} ratings, {} users, {} movies rated",
                        db.backend, c.ratings, c.users, c.movies
                    ),
                );
                row(
                    "new ratings",
                    format!(
                        "{} since the model's watermark {}",
                        d.since_watermark, d.watermark
                    ),
                );
                if let Some(run) = &d.last_run {
                    row(
                        "last training",
                        format!(
                            "{} (run {}, model {}, started {})",
                            run.status.name(),
                            run.id,
                            opt(&run.model_version),
                            crate::clock::rfc3339_unix(run.started_at)
                        ),
                    );
                }
            }
            _ => row(
                "database",
                format!(
                    "{}: unavailable: {}",
                    db.target,
                    db.error.as_deref().unwrap_or("-")
                ),
            ),
        }
    }
}

/// The line above a list: who it is for and how it was made.
fn how(user: &str, model: &str, strategy: &str, degraded: &Option<String>) {
    match degraded {
        Some(why) => println!("user {user}, model {model}, strategy {strategy} (degraded: {why})"),
        None => println!("user {user}, model {model}, strategy {strategy}"),
    }
}

impl Human for Recommended<'_> {
    fn print(&self) {
        how(
            &self.user,
            &self.model,
            &wire(&self.strategy),
            &self.degraded,
        );
        ranked(
            "score",
            self.items
                .iter()
                .map(|i| (i.movie, i.score, i.title.as_ref())),
        );
    }
}

impl Human for Predicted<'_> {
    fn print(&self) {
        how(
            &self.user,
            &self.model,
            &wire(&self.strategy),
            &self.degraded,
        );
        println!(
            "{:.3}  user {} movie {} ({})",
            self.rating, self.user, self.movie, self.title
        );
    }
}

impl Human for SimilarTo<'_> {
    fn print(&self) {
        ranked(
            "similarity",
            self.items
                .iter()
                .map(|i| (i.movie, i.similarity, i.title.as_ref())),
        );
    }
}

/// A ranked list of movies with one number each.
fn ranked<'a>(label: &str, rows: impl Iterator<Item = (u32, f32, &'a str)>) {
    println!("{:>4}  {:>7}  {:>10}  title", "rank", "movie", label);
    for (rank, (movie, value, title)) in rows.enumerate() {
        println!("{:>4}  {movie:>7}  {value:>10.4}  {title}", rank + 1);
    }
}

impl Human for Rated {
    fn print(&self) {
        row("user", &self.user);
        row("movie", self.movie);
        row("rating", self.rating);
        row("seq", self.seq);
    }
}

impl Human for Unrated {
    fn print(&self) {
        row("user", &self.user);
        row("movie", self.movie);
        row("removed", self.removed);
    }
}

impl Human for Imported {
    fn print(&self) {
        row("file", opt(&self.name));
        row("bytes", self.bytes);
        row("accepted", self.accepted);
        row("written", self.written);
        row("rejected", self.rejected_count);
        for r in &self.rejected {
            println!("  line {:<8} {:<16} {}", r.line, wire(&r.code), r.reason);
        }
    }
}

impl Human for Check {
    fn print(&self) {
        row("current_version", opt(&self.current_version));
        row("watermark", self.watermark);
        row("new_ratings", self.new_ratings);
        row("threshold", self.threshold);
        row("verdict", wire(&self.verdict));
        row("retrain", self.retrain);
    }
}

impl Human for JobStatus {
    fn print(&self) {
        row("id", self.id);
        row("trigger", self.trigger.name());
        row("state", wire(&self.state));
        if let Some(why) = &self.starved {
            row("starved", why);
        }
        row("stage", self.stage.map_or("-".into(), |s| wire(&s)));
        row("epoch", self.epoch);
        row("n_epochs", self.n_epochs);
        row("started_at", &self.started_at);
        row("finished_at", opt(&self.finished_at));
        row("reason", opt(&self.reason));
        if let Some(o) = &self.outcome {
            row("version", opt(&o.version));
            row("rmse", opt(&o.rmse.map(|r| format!("{r:.4}"))));
            row("mae", opt(&o.mae.map(|r| format!("{r:.4}"))));
            row("training_seconds", format!("{:.3}", o.training_seconds));
            row("total_seconds", format!("{:.3}", o.total_seconds));
            row("backup", opt(&o.backup.as_ref().map(|b| b.display())));
            row("skipped", opt(&o.skipped));
        }
    }
}

impl Human for JobCancelled {
    fn print(&self) {
        row("job", self.job);
        row("cancelled", self.cancelled);
        row("state", wire(&self.state));
    }
}

impl Human for Reloaded {
    fn print(&self) {
        row("version", &self.version);
        row("previous", opt(&self.previous));
        row("changed", self.changed);
    }
}

impl Human for RolledBack {
    fn print(&self) {
        row("version", &self.version);
        row("previous", opt(&self.previous));
    }
}

impl Human for Models {
    fn print(&self) {
        println!(
            "{:<1} {:<24} {:>8} {:>8} {:>10}  trained_at",
            "", "version", "rmse", "factors", "ratings"
        );
        for m in &self.versions {
            let mark = if m.current { "*" } else { " " };
            match (&m.details, m.valid) {
                (Some(d), true) => println!(
                    "{mark} {:<24} {:>8} {:>8} {:>10}  {}",
                    m.version,
                    opt(&d.metrics.map(|m| format!("{:.4}", m.rmse))),
                    d.factors,
                    d.counts.ratings,
                    d.trained_at
                ),
                _ => println!(
                    "{mark} {:<24} invalid: {}",
                    m.version,
                    m.error.as_deref().unwrap_or("-")
                ),
            }
        }
    }
}

/// The retrain progress bar (hidden under `--json`): the stage, the
/// epochs, and a line per finished stage.
pub struct RetrainBar {
    bar: indicatif::ProgressBar,
}

impl RetrainBar {
    pub fn new(json: bool, epochs: Option<usize>) -> RetrainBar {
        let bar = if json {
            indicatif::ProgressBar::hidden()
        } else {
            indicatif::ProgressBar::new(epochs.unwrap_or(0) as u64)
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {msg:24} [{bar:30}] {pos}/{len} epochs {elapsed}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        RetrainBar { bar }
    }

    pub fn progress(&mut self, p: &Progress) {
        self.bar.set_message(p.stage.label());
        if let (Some(e), Some(n)) = (p.epoch, p.n_epochs) {
            self.bar.set_length(n as u64);
            self.bar.set_position(e as u64);
        }
        if p.state == Some(StageState::Finished) {
            self.bar.println(format!(
                "{:<22} {:>7.3}s  {}",
                p.stage.label(),
                p.seconds.unwrap_or(0.0),
                p.detail.as_deref().unwrap_or("")
            ));
        }
    }

    pub fn finish(self) {
        self.bar.finish_and_clear();
    }
}
