//! Daylight saving in Europe/Madrid, 2026: the clocks go forward on 29
//! March (02:00 CET → 03:00 CEST) and back on 25 October (03:00 CEST →
//! 02:00 CET). A fixed time skipped runs once right after the jump; a fixed
//! time repeated runs once, the first time; a time with `*` or a step in it
//! runs by real time (cron(8), "Daylight Saving Time and other time
//! changes").

use super::*;

const MADRID: &str = "Europe/Madrid";
const SPRING: (&str, &str) = (
    "2026-03-28T12:00:00+01:00[Europe/Madrid]",
    "2026-03-30T12:00:00+02:00[Europe/Madrid]",
);
const AUTUMN: (&str, &str) = (
    "2026-10-24T12:00:00+02:00[Europe/Madrid]",
    "2026-10-26T12:00:00+01:00[Europe/Madrid]",
);

fn spring(expr: &str) -> Vec<String> {
    fires(&cron(expr, MADRID), SPRING.0, SPRING.1)
}

fn autumn(expr: &str) -> Vec<String> {
    fires(&cron(expr, MADRID), AUTUMN.0, AUTUMN.1)
}

#[test]
fn a_fixed_time_in_the_skipped_hour_runs_once_right_after_the_jump() {
    assert_eq!(
        spring("30 2 * * *"),
        ["2026-03-29 03:00:00 CEST", "2026-03-30 02:30:00 CEST"]
    );
    assert_eq!(
        spring("0 2 * * *"),
        ["2026-03-29 03:00:00 CEST", "2026-03-30 02:00:00 CEST"]
    );
    assert_eq!(spring("0 30 2 * * *"), spring("30 2 * * *"));
    // A time next to the skipped hour is untouched.
    assert_eq!(
        spring("0 3 * * *"),
        ["2026-03-29 03:00:00 CEST", "2026-03-30 03:00:00 CEST"]
    );
}

#[test]
fn a_fixed_time_in_the_repeated_hour_runs_once_the_first_time() {
    assert_eq!(
        autumn("30 2 * * *"),
        ["2026-10-25 02:30:00 CEST", "2026-10-26 02:30:00 CET"]
    );
    assert_eq!(
        autumn("0 2 * * *"),
        ["2026-10-25 02:00:00 CEST", "2026-10-26 02:00:00 CET"]
    );
    // Asked during the second pass, it has already run today.
    let s = cron("30 2 * * *", MADRID);
    let second_pass = ts("2026-10-25T02:10:00+01:00[Europe/Madrid]");
    assert_eq!(
        local(&s, s.next_after(second_pass, None).unwrap()),
        "2026-10-26 02:30:00 CET"
    );
}

/// croner moves and deduplicates a single time of day only; a list or a
/// range of fixed times is fixed for cronie too.
#[test]
fn fixed_times_in_a_list_or_range_are_moved_and_deduplicated() {
    assert_eq!(
        spring("30 2,14 * * *"),
        [
            "2026-03-28 14:30:00 CET",
            "2026-03-29 03:00:00 CEST",
            "2026-03-29 14:30:00 CEST",
            "2026-03-30 02:30:00 CEST",
        ]
    );
    assert_eq!(
        autumn("30 2,14 * * *"),
        [
            "2026-10-24 14:30:00 CEST",
            "2026-10-25 02:30:00 CEST",
            "2026-10-25 14:30:00 CET",
            "2026-10-26 02:30:00 CET",
        ]
    );
    // Two skipped times run once, at the jump.
    assert_eq!(
        spring("15,45 2 * * *")[..2],
        ["2026-03-29 03:00:00 CEST", "2026-03-30 02:15:00 CEST"]
    );
    assert_eq!(
        autumn("0 1-3 * * *"),
        [
            "2026-10-25 01:00:00 CEST",
            "2026-10-25 02:00:00 CEST",
            "2026-10-25 03:00:00 CET",
            "2026-10-26 01:00:00 CET",
            "2026-10-26 02:00:00 CET",
            "2026-10-26 03:00:00 CET",
        ]
    );
}

/// Count the fire times over the 24 real hours around each change.
#[test]
fn every_quarter_hour_runs_every_fifteen_real_minutes() {
    let s = cron("*/15 * * * *", MADRID);
    for (from, to) in [
        ("2026-03-29T00:00:00Z", "2026-03-30T00:00:00Z"),
        ("2026-10-25T00:00:00Z", "2026-10-26T00:00:00Z"),
    ] {
        let times = fire_times(&s, ts(from), ts(to));
        assert_eq!(times.len(), 96, "{from}");
        for pair in times.windows(2) {
            assert_eq!(pair[1].duration_since(pair[0]).as_secs(), 900, "{pair:?}");
        }
    }
    // Both passes of the repeated hour.
    let repeated = fires(
        &s,
        "2026-10-25T02:40:00+02:00[Europe/Madrid]",
        "2026-10-25T02:20:00+01:00[Europe/Madrid]",
    );
    assert_eq!(
        repeated,
        [
            "2026-10-25 02:45:00 CEST",
            "2026-10-25 02:00:00 CET",
            "2026-10-25 02:15:00 CET"
        ]
    );
}

#[test]
fn a_wildcard_or_stepped_hour_follows_real_time() {
    // Nothing is invented for the skipped hour.
    assert_eq!(
        fires(
            &cron("0 * * * *", MADRID),
            "2026-03-29T00:30:00+01:00[Europe/Madrid]",
            "2026-03-29T04:30:00+02:00[Europe/Madrid]"
        ),
        [
            "2026-03-29 01:00:00 CET",
            "2026-03-29 03:00:00 CEST",
            "2026-03-29 04:00:00 CEST"
        ]
    );
    // The repeated hour runs in both passes.
    assert_eq!(
        fires(
            &cron("0 * * * *", MADRID),
            "2026-10-25T00:30:00+02:00[Europe/Madrid]",
            "2026-10-25T03:30:00+01:00[Europe/Madrid]"
        ),
        [
            "2026-10-25 01:00:00 CEST",
            "2026-10-25 02:00:00 CEST",
            "2026-10-25 02:00:00 CET",
            "2026-10-25 03:00:00 CET"
        ]
    );
    assert_eq!(
        fires(
            &cron("0 */2 * * *", MADRID),
            "2026-10-24T23:00:00+02:00[Europe/Madrid]",
            "2026-10-25T05:00:00+01:00[Europe/Madrid]"
        ),
        [
            "2026-10-25 00:00:00 CEST",
            "2026-10-25 02:00:00 CEST",
            "2026-10-25 02:00:00 CET",
            "2026-10-25 04:00:00 CET"
        ]
    );
    // A step in the minute makes the job follow real time even with a
    // fixed hour: the skipped 02:xx are not run.
    assert_eq!(
        spring("*/30 2 * * *"),
        ["2026-03-30 02:00:00 CEST", "2026-03-30 02:30:00 CEST"]
    );
}

#[test]
fn a_missed_run_across_a_change_is_one_run() {
    let s = cron("30 2 * * *", MADRID);
    assert!(s.missed(
        ts(SPRING.0),
        ts("2026-03-29T03:00:00+02:00[Europe/Madrid]"),
        None
    ));
    assert!(!s.missed(
        ts(SPRING.0),
        ts("2026-03-29T01:59:59+01:00[Europe/Madrid]"),
        None
    ));
    assert!(!s.missed(
        ts("2026-10-25T02:31:00+02:00[Europe/Madrid]"),
        ts("2026-10-25T02:59:00+01:00[Europe/Madrid]"),
        None
    ));
}
