//! The retraining schedule: when retrains are due, as instants.
//!
//! It owns the `[schedule]` keys ([`Keys`]), their checks, and the
//! arithmetic of fire times: the next one after an instant, the next few,
//! and whether one was missed between two instants. A schedule is off, an
//! interval from the last run's start, or a crontab time in a time zone;
//! the daily and weekly modes are written as crontab lines, so one
//! evaluator (`crontab`) serves them all. It never reads the clock,
//! sleeps or starts anything: the caller passes every instant, and adds
//! the random delay itself.

mod crontab;
mod keys;
#[cfg(test)]
mod tests;

use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crontab::Crontab;
pub use keys::Keys;

/// A key of `[schedule]` and what is wrong with its value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{key}: {what}")]
pub struct ScheduleError {
    /// The config key, e.g. `schedule.cron`.
    pub key: &'static str,
    pub what: String,
}

/// When retrains are due: checked, ready to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    rule: Rule,
    /// What [`Schedule::describe`] says.
    description: String,
    /// The time zone's name as shown.
    zone: String,
    tz: TimeZone,
    random_delay: Duration,
    catch_up: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Rule {
    Off,
    /// Every `hours` from the last run's start.
    Interval {
        hours: u32,
    },
    /// At the times a crontab line names (modes cron, daily and weekly).
    Calendar(Box<Crontab>),
}

impl Default for Schedule {
    fn default() -> Schedule {
        Schedule::off()
    }
}

impl Schedule {
    /// No scheduled retrains (the default), in the system's time zone.
    pub fn off() -> Schedule {
        let (zone, tz) = keys::system_zone();
        Schedule {
            rule: Rule::Off,
            description: "off".into(),
            zone,
            tz,
            random_delay: Duration::ZERO,
            catch_up: true,
        }
    }

    pub fn is_off(&self) -> bool {
        self.rule == Rule::Off
    }

    /// What it is, for people and the `schedule` reply: "0 2 * * *",
    /// "daily at 02:00", "weekly on sunday at 02:00", "every 24 hours",
    /// "off".
    pub fn describe(&self) -> String {
        self.description.clone()
    }

    /// The crontab fields it evaluates (a nickname expanded); None when off
    /// and for an interval.
    pub fn expression(&self) -> Option<String> {
        match &self.rule {
            Rule::Calendar(crontab) => Some(crontab.fields().to_owned()),
            Rule::Off | Rule::Interval { .. } => None,
        }
    }

    /// The IANA name of the time zone crontab times are read in ("system"
    /// when the system's zone has none).
    /// The time zone itself (the system's may have no IANA name).
    pub fn zone(&self) -> &TimeZone {
        &self.tz
    }

    pub fn timezone(&self) -> &str {
        &self.zone
    }

    /// The caller delays each run by a random time below this.
    pub fn random_delay(&self) -> Duration {
        self.random_delay
    }

    /// Whether a run missed while the daemon was down runs once at start.
    pub fn catch_up(&self) -> bool {
        self.catch_up
    }

    /// The first fire time strictly after `after`.
    ///
    /// An interval fires at `last_start` plus whole multiples of its hours,
    /// so the next time is never before `last_start` + hours and a restart
    /// does not move it; with no run yet, a run is due at once: `after`
    /// itself. Crontab times do not depend on `last_start`. None when off.
    pub fn next_after(&self, after: Timestamp, last_start: Option<Timestamp>) -> Option<Timestamp> {
        match &self.rule {
            Rule::Off => None,
            Rule::Calendar(crontab) => crontab.next_after(after, &self.tz),
            Rule::Interval { hours } => {
                let Some(last) = last_start else {
                    return Some(after);
                };
                let period = i64::from(*hours) * 3600;
                let elapsed = after.as_second() - last.as_second();
                // Whole periods past `last` at or before `after`, at least 0.
                let whole = if elapsed < 0 {
                    0
                } else {
                    elapsed.div_euclid(period)
                };
                let mut next = last
                    .checked_add(SignedDuration::from_secs((whole + 1) * period))
                    .ok()?;
                // `after` may carry a fraction of a second past a whole period.
                while next <= after {
                    next = next.checked_add(SignedDuration::from_secs(period)).ok()?;
                }
                Some(next)
            }
        }
    }

    /// The next `n` fire times after `after`, each run taken to start at
    /// its fire time (the random delay is left out).
    pub fn upcoming(
        &self,
        after: Timestamp,
        last_start: Option<Timestamp>,
        n: usize,
    ) -> Vec<Timestamp> {
        let mut out = Vec::with_capacity(n.min(1024));
        let (mut from, mut last) = (after, last_start);
        while out.len() < n {
            let Some(next) = self.next_after(from, last) else {
                break;
            };
            out.push(next);
            from = next;
            last = Some(next);
        }
        out
    }

    /// Whether a fire time fell in `(since, now]`: a run was missed. Many
    /// missed fire times are one missed run; the caller runs it once. With
    /// no run yet an interval is due at once ([`Schedule::next_after`]), so
    /// nothing counts as missed.
    pub fn missed(&self, since: Timestamp, now: Timestamp, last_start: Option<Timestamp>) -> bool {
        if matches!(self.rule, Rule::Interval { .. }) && last_start.is_none() {
            return false;
        }
        self.next_after(since, last_start).is_some_and(|t| t <= now)
    }
}
