//! The schedule's fire times, in explicit time zones (never the machine's),
//! with instants given rather than read from a clock.

mod crontab;
mod dst;
mod sugar;

use jiff::{Timestamp, Zoned};

use super::{Keys, Schedule};

/// An instant written as RFC 3339 or as a zoned time, e.g.
/// "2026-03-29T03:00:00+02:00[Europe/Madrid]".
fn ts(text: &str) -> Timestamp {
    match text.parse::<Zoned>() {
        Ok(z) => z.timestamp(),
        Err(_) => text.parse().unwrap(),
    }
}

/// A crontab schedule in `tz`.
fn cron(expr: &str, tz: &str) -> Schedule {
    Schedule::from_keys(&Keys {
        cron: expr.into(),
        timezone: tz.into(),
        ..Keys::default()
    })
    .unwrap_or_else(|e| panic!("{expr}: {e}"))
}

/// Every fire time in `(from, to]`, as local times with their zone
/// abbreviations.
fn fires(s: &Schedule, from: &str, to: &str) -> Vec<String> {
    fire_times(s, ts(from), ts(to))
        .iter()
        .map(|t| local(s, *t))
        .collect()
}

fn fire_times(s: &Schedule, from: Timestamp, to: Timestamp) -> Vec<Timestamp> {
    let mut out = Vec::new();
    let mut t = from;
    while let Some(next) = s.next_after(t, None) {
        if next > to {
            break;
        }
        assert!(
            next > t,
            "{} went back or stood still at {next}",
            s.describe()
        );
        out.push(next);
        t = next;
    }
    out
}

fn local(s: &Schedule, t: Timestamp) -> String {
    t.to_zoned(s.tz.clone())
        .strftime("%Y-%m-%d %H:%M:%S %Z")
        .to_string()
}
