//! A crontab(5) time specification and its fire times in a time zone.
//!
//! The grammar is cron's: five fields (minute hour day-of-month month
//! day-of-week) or six with seconds first; numbers, `*`, ranges, steps on a
//! range or `*`, lists, three-letter month and weekday names, Sunday as 0
//! or 7, and the `@hourly` … `@yearly` nicknames. croner evaluates it; this
//! file refuses croner's extensions (`L`, `W`, `#`, `+`, `?`, a year field),
//! names the field of an error, and brings croner's choices into line with
//! cronie's where they differ: which days count when both day fields are
//! set, and which jobs daylight saving moves rather than skips or repeats
//! (docs/architecture.md, "The schedule's clock").

use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;
use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// The nicknames cronie reads, and the five fields each stands for.
const NICKNAMES: [(&str, &str); 7] = [
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
];

/// One field of the expression: its name, and what it accepts.
struct Field {
    name: &'static str,
    range: &'static str,
    names: &'static [&'static str],
}

const SECOND: Field = Field {
    name: "second",
    range: "0-59",
    names: &[],
};
const FIVE: [Field; 5] = [
    Field {
        name: "minute",
        range: "0-59",
        names: &[],
    },
    Field {
        name: "hour",
        range: "0-23",
        names: &[],
    },
    Field {
        name: "day-of-month",
        range: "1-31",
        names: &[],
    },
    Field {
        name: "month",
        range: "1-12 or jan-dec",
        names: &MONTHS,
    },
    Field {
        name: "day-of-week",
        range: "0-7 (0 and 7 are Sunday) or sun-sat",
        names: &WEEKDAYS,
    },
];

/// A parsed, checked crontab time specification.
#[derive(Debug, Clone, PartialEq)]
pub struct Crontab {
    /// The expression as written, runs of white space made one space.
    text: String,
    /// The fields it stands for: `text`, or a nickname's expansion.
    fields: String,
    cron: Cron,
    /// cronie's "fixed time" job: no `*` and no step in the second, minute
    /// and hour fields. Daylight saving moves its runs (one right after a
    /// skipped hour, one only in a repeated hour) where other jobs follow
    /// the clock's real time.
    fixed: bool,
}

impl Crontab {
    /// Parse `text`; the error says which field is wrong and how.
    pub fn parse(text: &str) -> Result<Crontab, String> {
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let fields = if text.starts_with('@') {
            let lower = text.to_ascii_lowercase();
            match NICKNAMES.iter().find(|(name, _)| *name == lower) {
                Some((_, fields)) => fields.to_string(),
                None => {
                    return Err(format!(
                        "unknown nickname '{text}' (@yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)"
                    ))
                }
            }
        } else {
            text.clone()
        };
        let parts: Vec<&str> = fields.split(' ').collect();
        let layout: Vec<&Field> = match parts.len() {
            5 => FIVE.iter().collect(),
            6 => std::iter::once(&SECOND).chain(FIVE.iter()).collect(),
            n => {
                return Err(format!(
                    "has {n} field{}; a crontab time has 5 (minute hour day-of-month month day-of-week) or 6 (second first)",
                    if n == 1 { "" } else { "s" }
                ))
            }
        };
        for (i, (part, field)) in parts.iter().zip(&layout).enumerate() {
            check_lexically(part, field)?;
            // The field alone, every other one `*`, so that croner's error
            // can be given the field's name.
            let mut alone = vec!["*"; parts.len()];
            alone[i] = part;
            if let Err(e) = parser(false).parse(&alone.join(" ")) {
                return Err(format!(
                    "{} '{part}': {} ({} takes {})",
                    field.name,
                    croner_message(&e),
                    field.name,
                    field.range
                ));
            }
        }
        let n = parts.len();
        let (dom, dow) = (parts[n - 3], parts[n - 1]);
        // crontab(5): the two day fields are alternatives only when both are
        // restricted, that is, neither starts with `*` (so `*/2` counts as
        // unrestricted, as in cronie); otherwise a day must match both.
        let both_must_match = dom.starts_with('*') || dow.starts_with('*');
        let cron = parser(both_must_match)
            .parse(&fields)
            .map_err(|e| croner_message(&e))?;
        if both_must_match && !some_date_exists(&cron) {
            return Err(format!(
                "day-of-month '{dom}' never falls in month '{}'",
                parts[n - 2]
            ));
        }
        let fixed = parts[..n - 3]
            .iter()
            .all(|p| !p.contains('*') && !p.contains('/'));
        Ok(Crontab {
            text,
            fields,
            cron,
            fixed,
        })
    }

    /// The expression as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The fields evaluated: the text, with a nickname expanded.
    pub fn fields(&self) -> &str {
        &self.fields
    }

    /// The first fire time strictly after `after`, in `tz`; None when there
    /// is none before croner's search limit.
    pub fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let mut from = after;
        loop {
            let next = self
                .cron
                .find_next_occurrence(&from.to_zoned(tz.clone()), false)
                .ok()?
                .timestamp();
            if !self.fixed {
                return Some(next);
            }
            // croner moves and deduplicates only a single time of day; a
            // list or range of them it treats as an interval job. Both
            // corrections are no-ops where croner already did the same.
            if let Some(jump) = self.skipped_between(from, next, tz) {
                return Some(jump);
            }
            if !is_second_pass(next, tz) {
                return Some(next);
            }
            from = next;
        }
    }

    /// The first forward jump of the clock in `(from, to]` that skips a
    /// time this expression names: the instant of the jump, when cronie
    /// runs a fixed-time job whose time was skipped.
    fn skipped_between(&self, from: Timestamp, to: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        for transition in tz.following(from) {
            let at = transition.timestamp();
            if at > to {
                return None;
            }
            if at <= from {
                continue;
            }
            let before = tz.to_offset(at.checked_sub(SignedDuration::from_secs(1)).ok()?);
            let after = transition.offset();
            if after > before && self.names_a_time_in(before.to_datetime(at), after.to_datetime(at))
            {
                return Some(at);
            }
        }
        None
    }

    /// Whether a wall-clock time in `[start, end)` matches.
    fn names_a_time_in(&self, start: DateTime, end: DateTime) -> bool {
        let p = &self.cron.pattern;
        let mut date: Date = start.date();
        while date <= end.date() {
            for h in p.hours.values() {
                for m in p.minutes.values() {
                    for s in p.seconds.values() {
                        let Ok(time) = Time::new(h as i8, m as i8, s as i8, 0) else {
                            continue;
                        };
                        let t = date.to_datetime(time);
                        if t >= start && t < end && self.cron.is_time_matching(&t).unwrap_or(false)
                        {
                            return true;
                        }
                    }
                }
            }
            let Ok(next) = date.tomorrow() else {
                break;
            };
            date = next;
        }
        false
    }
}

/// Whether `t` is the second of two instants with the same wall-clock time
/// (the clock was put back between them).
fn is_second_pass(t: Timestamp, tz: &TimeZone) -> bool {
    let offset = tz.to_offset(t);
    match tz.to_ambiguous_timestamp(offset.to_datetime(t)).offset() {
        AmbiguousOffset::Fold { before, after } => offset == after && before != after,
        _ => false,
    }
}

/// croner's parser for crontab(5): seconds optional, no year field, weekdays
/// numbered from Sunday as 0, no `0/10` shorthand.
fn parser(both_day_fields_must_match: bool) -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .dom_and_dow(both_day_fields_must_match)
        .build()
}

/// croner's error text, without its category and final stop.
fn croner_message(e: &croner::errors::CronError) -> String {
    let text = e.to_string();
    let text = text.split_once(": ").map_or(text.as_str(), |(_, m)| m);
    let text = text.trim_end_matches('.');
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Refuse what crontab(5) does not have before croner, which accepts more
/// (`L`, `W`, `#`, `?`, `+`) and replaces names anywhere in the line, sees it.
fn check_lexically(part: &str, field: &Field) -> Result<(), String> {
    let name = field.name;
    if let Some(c) = part
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '*' | ',' | '-' | '/')))
    {
        return Err(format!(
            "{name} '{part}': '{c}' is not crontab syntax (numbers, names, *, ranges a-b, steps /n and lists a,b)"
        ));
    }
    if part.split(',').any(str::is_empty) {
        return Err(format!("{name} '{part}': a list has an empty item"));
    }
    for word in part
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| !w.is_empty())
    {
        if field.names.is_empty() {
            return Err(format!(
                "{name} '{part}': '{word}' is not a number ({name} takes {})",
                field.range
            ));
        }
        if !field.names.contains(&word.to_ascii_lowercase().as_str()) {
            return Err(format!(
                "{name} '{part}': unknown name '{word}' ({name} takes {})",
                field.range
            ));
        }
    }
    Ok(())
}

/// Whether some month of the pattern has some day of the pattern's
/// day-of-month field (February has a 29th in leap years).
fn some_date_exists(cron: &Cron) -> bool {
    let p = &cron.pattern;
    let days = p.days.values();
    p.months.values().iter().any(|&m| {
        let longest = match m {
            2 => 29,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        days.iter().any(|&d| d >= 1 && d <= longest)
    })
}
