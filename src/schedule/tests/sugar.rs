//! The modes besides cron, the keys, and what the daemon asks: missed
//! runs and a simulated week.

use std::time::Duration;

use super::*;
use crate::schedule::ScheduleError;

fn keys(mode: &str) -> Keys {
    Keys {
        mode: mode.into(),
        timezone: "Europe/Madrid".into(),
        ..Keys::default()
    }
}

fn schedule(k: Keys) -> Schedule {
    Schedule::from_keys(&k).unwrap()
}

fn error(k: Keys) -> ScheduleError {
    Schedule::from_keys(&k).unwrap_err()
}

#[test]
fn the_default_is_off() {
    let s = Schedule::from_keys(&Keys::default()).unwrap();
    assert!(s.is_off());
    assert_eq!(s, Schedule::off());
    assert_eq!(s, Schedule::default());
    assert_eq!((s.describe().as_str(), s.expression()), ("off", None));
    let t = ts("2026-03-01T00:00:00Z");
    assert_eq!(s.next_after(t, None), None);
    assert!(s.upcoming(t, Some(t), 5).is_empty());
    assert!(!s.missed(t, ts("2027-01-01T00:00:00Z"), None));
    assert_eq!((s.random_delay(), s.catch_up()), (Duration::ZERO, true));
}

#[test]
fn cron_alone_implies_mode_cron_and_mode_cron_needs_it() {
    let s = schedule(Keys {
        mode: String::new(),
        cron: "0 3 * * *".into(),
        ..keys("")
    });
    assert_eq!(s.expression().as_deref(), Some("0 3 * * *"));
    // An explicit mode wins over a `cron` it does not use.
    let s = schedule(Keys {
        cron: "0 3 * * *".into(),
        ..keys("off")
    });
    assert!(s.is_off());
    let e = error(keys("cron"));
    assert_eq!(e.key, "schedule.cron");
    assert!(e.what.contains("needs a crontab time"), "{e}");
}

#[test]
fn interval_counts_from_the_last_start() {
    let s = schedule(Keys {
        interval_hours: 6,
        ..keys("interval")
    });
    assert_eq!(
        (s.describe().as_str(), s.expression()),
        ("every 6 hours", None)
    );
    let last = ts("2026-05-04T10:00:00Z");
    let at = |h: &str| ts(&format!("2026-05-04T{h}:00Z"));
    // Never before last start + 6 h, whenever asked (a restart included).
    assert_eq!(s.next_after(at("12:00"), Some(last)), Some(at("16:00")));
    assert_eq!(s.next_after(at("09:00"), Some(last)), Some(at("16:00")));
    assert_eq!(s.next_after(at("16:00"), Some(last)), Some(at("22:00")));
    assert_eq!(s.next_after(at("20:30"), Some(last)), Some(at("22:00")));
    // No run yet: due at once.
    assert_eq!(s.next_after(at("12:00"), None), Some(at("12:00")));
    assert_eq!(
        s.upcoming(at("12:00"), Some(last), 3),
        [at("16:00"), at("22:00"), ts("2026-05-05T04:00:00Z")]
    );
    assert_eq!(s.upcoming(at("12:00"), None, 2), [at("12:00"), at("18:00")]);
    // Real hours: the repeated hour of 25 October counts.
    let s = schedule(Keys {
        interval_hours: 24,
        ..keys("interval")
    });
    let last = ts("2026-10-24T12:00:00+02:00[Europe/Madrid]");
    assert_eq!(
        local(&s, s.next_after(last, Some(last)).unwrap()),
        "2026-10-25 11:00:00 CET"
    );
    assert_eq!(
        schedule(Keys {
            interval_hours: 1,
            ..keys("interval")
        })
        .describe(),
        "every hour"
    );
}

#[test]
fn daily_is_its_crontab_line() {
    let daily = schedule(Keys {
        at: "02:00".into(),
        ..keys("daily")
    });
    assert_eq!(daily.describe(), "daily at 02:00");
    assert_eq!(daily.expression().as_deref(), Some("0 2 * * *"));
    let line = cron("0 2 * * *", "Europe/Madrid");
    let start = ts("2026-01-01T00:00:00Z");
    assert_eq!(
        daily.upcoming(start, None, 400),
        line.upcoming(start, None, 400)
    );
    let s = schedule(Keys {
        at: "7:05".into(),
        ..keys("daily")
    });
    assert_eq!(
        (s.describe().as_str(), s.expression().as_deref()),
        ("daily at 07:05", Some("5 7 * * *"))
    );
}

#[test]
fn weekly_is_its_crontab_line_on_the_named_day() {
    let default = schedule(keys("weekly"));
    assert_eq!(default.describe(), "weekly on sunday at 02:00");
    assert_eq!(default.expression().as_deref(), Some("0 2 * * 0"));
    let start = ts("2026-01-01T00:00:00Z");
    assert_eq!(
        default.upcoming(start, None, 60),
        cron("0 2 * * 0", "Europe/Madrid").upcoming(start, None, 60)
    );
    for day in ["monday", "Mon", "MONDAY", "mon"] {
        let s = schedule(Keys {
            day: day.into(),
            at: "06:30".into(),
            ..keys("weekly")
        });
        assert_eq!(s.describe(), "weekly on monday at 06:30", "{day}");
        assert_eq!(s.expression().as_deref(), Some("30 6 * * 1"));
        assert_eq!(
            s.upcoming(start, None, 60),
            cron("30 6 * * 1", "Europe/Madrid").upcoming(start, None, 60)
        );
    }
}

#[test]
fn every_key_is_checked_and_named() {
    for (k, key, says) in [
        (
            Keys {
                mode: "hourly".into(),
                ..keys("")
            },
            "schedule.mode",
            "must be one of off, cron",
        ),
        (
            Keys {
                at: "25:00".into(),
                ..keys("daily")
            },
            "schedule.at",
            "got '25:00'",
        ),
        (
            Keys {
                at: "2:5".into(),
                ..keys("daily")
            },
            "schedule.at",
            "HH:MM",
        ),
        (
            Keys {
                at: "noon".into(),
                ..keys("off")
            },
            "schedule.at",
            "HH:MM",
        ),
        (
            Keys {
                day: "funday".into(),
                ..keys("weekly")
            },
            "schedule.day",
            "got 'funday'",
        ),
        (
            Keys {
                day: "mo".into(),
                ..keys("weekly")
            },
            "schedule.day",
            "must be a weekday",
        ),
        (
            Keys {
                timezone: "Mars/Olympus".into(),
                ..keys("daily")
            },
            "schedule.timezone",
            "unknown time zone 'Mars/Olympus'",
        ),
        (
            Keys {
                interval_hours: 0,
                ..keys("interval")
            },
            "schedule.interval_hours",
            "between 1 and 8760, got 0",
        ),
        (
            Keys {
                random_delay_secs: 86_401,
                ..keys("daily")
            },
            "schedule.random_delay_secs",
            "between 0 and 86400",
        ),
        (
            Keys {
                cron: "0 0 * *".into(),
                ..keys("daily")
            },
            "schedule.cron",
            "has 4 fields",
        ),
    ] {
        let e = error(k);
        assert_eq!(e.key, key, "{e}");
        assert!(e.what.contains(says), "{e}");
    }
}

#[test]
fn delay_catch_up_and_time_zone_are_kept() {
    let s = schedule(Keys {
        random_delay_secs: 900,
        catch_up: false,
        ..keys("daily")
    });
    assert_eq!(s.random_delay(), Duration::from_secs(900));
    assert!(!s.catch_up());
    assert_eq!(s.timezone(), "Europe/Madrid");
    assert_eq!(
        cron("0 2 * * *", "America/New_York").timezone(),
        "America/New_York"
    );
    // The same wall-clock time is a different instant in another zone.
    let t = ts("2026-06-01T00:00:00Z");
    assert_eq!(
        cron("0 2 * * *", "UTC").next_after(t, None),
        Some(ts("2026-06-01T02:00:00Z"))
    );
    assert_eq!(
        cron("0 2 * * *", "America/New_York").next_after(t, None),
        Some(ts("2026-06-01T06:00:00Z"))
    );
}

#[test]
fn many_missed_fire_times_are_one_missed_run() {
    let s = cron("*/15 * * * *", "Europe/Madrid");
    let t = |hm: &str| ts(&format!("2026-05-04T{hm}:00+02:00[Europe/Madrid]"));
    assert!(s.missed(t("00:00"), t("12:00"), None));
    assert!(!s.missed(t("00:01"), t("00:14"), None));
    // (since, now]: a fire time at `now` is missed, one at `since` is not.
    assert!(s.missed(t("00:01"), t("00:15"), None));
    assert!(!s.missed(t("00:15"), t("00:29"), None));
    let daily = cron("0 2 * * *", "Europe/Madrid");
    assert!(daily.missed(t("01:00"), t("09:00"), None));
    assert!(!daily.missed(t("03:00"), t("23:00"), None));

    let s = schedule(Keys {
        interval_hours: 6,
        ..keys("interval")
    });
    assert!(s.missed(t("01:00"), t("07:00"), Some(t("00:00"))));
    assert!(s.missed(t("01:00"), t("23:00"), Some(t("00:00"))));
    assert!(!s.missed(t("01:00"), t("05:59"), Some(t("00:00"))));
    assert!(!s.missed(t("01:00"), t("23:00"), None));
}

#[test]
fn a_simulated_week_fires_each_time_once() {
    // A plain week, and the week the clocks go back in Madrid.
    for monday in ["2026-05-04", "2026-10-19"] {
        let from = ts(&format!("{monday}T00:00:00+02:00[Europe/Madrid]"));
        let to = from
            .checked_add(jiff::SignedDuration::from_hours(7 * 24))
            .unwrap();
        let daily = fire_times(&cron("0 2 * * *", "Europe/Madrid"), from, to);
        assert_eq!(daily.len(), 7, "{monday}");
        let quarter = fire_times(&cron("*/15 * * * *", "Europe/Madrid"), from, to);
        assert_eq!(quarter.len(), 672, "{monday}");
        for pair in quarter.windows(2) {
            assert_eq!(
                pair[1].duration_since(pair[0]).as_secs(),
                900,
                "{monday}: {pair:?}"
            );
        }
    }
}
