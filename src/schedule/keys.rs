//! The `[schedule]` section as written, and its reading into a
//! [`Schedule`]: every key is checked, whatever the mode, and an error
//! names its key.

use std::time::Duration;

use jiff::tz::TimeZone;
use serde::Deserialize;

use super::crontab::Crontab;
use super::{Rule, Schedule, ScheduleError};

/// The `[schedule]` section, key by key.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Keys {
    /// "off", "cron", "interval", "daily" or "weekly"; "" (left out):
    /// "cron" when `cron` is set, else "off".
    pub mode: String,
    /// A crontab time: 5 fields, or 6 with seconds first; "" for none.
    pub cron: String,
    /// Mode "interval": hours from one run's start to the next (1-8760).
    pub interval_hours: u64,
    /// Modes "daily" and "weekly": the time of day, HH:MM.
    pub at: String,
    /// Mode "weekly": the day, a weekday's name or its first three letters.
    pub day: String,
    /// An IANA time zone name; "" for the system's.
    pub timezone: String,
    /// Each run waits a random time below this many seconds (0-86400).
    pub random_delay_secs: u64,
    /// A run missed while the daemon was down runs once when it starts.
    pub catch_up: bool,
}

impl Default for Keys {
    fn default() -> Keys {
        Keys {
            mode: String::new(),
            cron: String::new(),
            interval_hours: 24,
            at: "02:00".into(),
            day: "sunday".into(),
            timezone: String::new(),
            random_delay_secs: 0,
            catch_up: true,
        }
    }
}

const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

impl Schedule {
    /// The schedule `keys` describe; the error names the first wrong key.
    pub fn from_keys(keys: &Keys) -> Result<Schedule, ScheduleError> {
        let (name, tz) = time_zone(&keys.timezone).map_err(invalid("schedule.timezone"))?;
        let cron = match keys.cron.trim() {
            "" => None,
            text => Some(Crontab::parse(text).map_err(invalid("schedule.cron"))?),
        };
        if !(1..=8760).contains(&keys.interval_hours) {
            return Err(ScheduleError {
                key: "schedule.interval_hours",
                what: format!("must be between 1 and 8760, got {}", keys.interval_hours),
            });
        }
        let (hour, minute) = time_of_day(&keys.at).map_err(invalid("schedule.at"))?;
        let day = weekday(&keys.day).map_err(invalid("schedule.day"))?;
        if keys.random_delay_secs > 86_400 {
            return Err(ScheduleError {
                key: "schedule.random_delay_secs",
                what: format!(
                    "must be between 0 and 86400, got {}",
                    keys.random_delay_secs
                ),
            });
        }
        let at = format!("{hour:02}:{minute:02}");
        // One evaluator: the daily and weekly modes are crontab lines.
        let sugar = |fields: String, description: String| {
            Crontab::parse(&fields)
                .map(|crontab| (Rule::Calendar(Box::new(crontab)), description))
                .map_err(invalid("schedule.at"))
        };
        let mode = match keys.mode.as_str() {
            "" if cron.is_some() => "cron",
            "" => "off",
            other => other,
        };
        let (rule, description) = match mode {
            "off" => (Rule::Off, "off".to_owned()),
            "cron" => {
                let crontab = cron.ok_or_else(|| ScheduleError {
                    key: "schedule.cron",
                    what: "mode \"cron\" needs a crontab time, e.g. \"0 2 * * *\"".into(),
                })?;
                let description = crontab.text().to_owned();
                (Rule::Calendar(Box::new(crontab)), description)
            }
            "interval" => {
                let hours = keys.interval_hours as u32;
                let description = match hours {
                    1 => "every hour".to_owned(),
                    n => format!("every {n} hours"),
                };
                (Rule::Interval { hours }, description)
            }
            "daily" => sugar(format!("{minute} {hour} * * *"), format!("daily at {at}"))?,
            "weekly" => sugar(
                format!("{minute} {hour} * * {day}"),
                format!("weekly on {} at {at}", WEEKDAYS[day]),
            )?,
            other => {
                return Err(ScheduleError {
                    key: "schedule.mode",
                    what: format!(
                        "must be one of off, cron, interval, daily, weekly; got '{other}'"
                    ),
                })
            }
        };
        Ok(Schedule {
            rule,
            description,
            zone: name,
            tz,
            random_delay: Duration::from_secs(keys.random_delay_secs),
            catch_up: keys.catch_up,
        })
    }
}

fn invalid(key: &'static str) -> impl Fn(String) -> ScheduleError {
    move |what| ScheduleError { key, what }
}

/// The zone `name` names ("" for the system's), and the name to show.
fn time_zone(name: &str) -> Result<(String, TimeZone), String> {
    if name.is_empty() {
        return Ok(system_zone());
    }
    TimeZone::get(name)
        .map(|tz| (name.to_owned(), tz))
        .map_err(|e| {
            format!("unknown time zone '{name}' (an IANA name such as Europe/Madrid or UTC): {e}")
        })
}

/// The system's time zone and its IANA name ("system" when it has none).
pub(super) fn system_zone() -> (String, TimeZone) {
    let tz = TimeZone::system();
    let name = tz.iana_name().unwrap_or("system").to_owned();
    (name, tz)
}

/// "HH:MM" (or "H:MM") as (hour, minute).
fn time_of_day(text: &str) -> Result<(u8, u8), String> {
    let wrong = || format!("must be a time of day HH:MM, 00:00 to 23:59; got '{text}'");
    let (h, m) = text.split_once(':').ok_or_else(wrong)?;
    let digits = |s: &str, lens: std::ops::RangeInclusive<usize>| {
        lens.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(h, 1..=2) || !digits(m, 2..=2) {
        return Err(wrong());
    }
    match (h.parse::<u8>(), m.parse::<u8>()) {
        (Ok(h), Ok(m)) if h <= 23 && m <= 59 => Ok((h, m)),
        _ => Err(wrong()),
    }
}

/// A weekday's name, or its first three letters, as cron numbers it
/// (Sunday 0).
fn weekday(text: &str) -> Result<usize, String> {
    let lower = text.trim().to_ascii_lowercase();
    WEEKDAYS
        .iter()
        .position(|d| *d == lower || (lower.len() == 3 && d.starts_with(&lower)))
        .ok_or_else(|| format!("must be a weekday, e.g. sunday or sun; got '{text}'"))
}
