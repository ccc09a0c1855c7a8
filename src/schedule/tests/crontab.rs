//! crontab(5) parsing and numbering, the day fields, and refusals.

use super::*;

const MARCH: (&str, &str) = ("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z");

fn march(expr: &str) -> Vec<String> {
    fires(&cron(expr, "UTC"), MARCH.0, MARCH.1)
}

fn days(fired: &[String]) -> Vec<u32> {
    fired.iter().map(|f| f[8..10].parse().unwrap()).collect()
}

#[test]
fn sunday_is_0_and_7_and_sun() {
    let sundays = march("0 2 * * 0");
    // 2026-03-01 is a Sunday.
    assert_eq!(days(&sundays), [1, 8, 15, 22, 29]);
    for same in ["0 2 * * 7", "0 2 * * sun", "0 2 * * SUN", "0 2 * * Sun"] {
        assert_eq!(march(same), sundays, "{same}");
    }
    assert_eq!(
        days(&march("0 2 * * 5-7")),
        [1, 6, 7, 8, 13, 14, 15, 20, 21, 22, 27, 28, 29]
    );
}

#[test]
fn month_and_weekday_names_ranges_and_lists() {
    let weekdays = march("0 9 * * mon-fri");
    assert_eq!(weekdays.len(), 22);
    assert_eq!(weekdays, march("0 9 * * 1-5"));
    assert_eq!(
        days(&march("0 9 * * MON,wed")),
        [2, 4, 9, 11, 16, 18, 23, 25, 30]
    );
    let s = cron("0 0 1 jan *", "UTC");
    assert_eq!(
        local(&s, s.next_after(ts("2026-02-01T00:00:00Z"), None).unwrap()),
        "2027-01-01 00:00:00 UTC"
    );
    let s = cron("0 0 1 jan-mar/2 *", "UTC");
    assert_eq!(s.upcoming(ts("2026-01-15T00:00:00Z"), None, 3).len(), 3);
    assert_eq!(
        fires(&s, "2026-01-15T00:00:00Z", "2027-01-15T00:00:00Z"),
        ["2026-03-01 00:00:00 UTC", "2027-01-01 00:00:00 UTC"]
    );
}

#[test]
fn steps_on_star_and_on_ranges() {
    let hour = ("2026-03-02T09:59:59Z", "2026-03-02T10:59:59Z");
    let minutes = |expr: &str| -> Vec<u32> {
        fires(&cron(expr, "UTC"), hour.0, hour.1)
            .iter()
            .map(|f| f[14..16].parse().unwrap())
            .collect()
    };
    assert_eq!(minutes("*/15 * * * *"), [0, 15, 30, 45]);
    assert_eq!(minutes("1-10/2 * * * *"), [1, 3, 5, 7, 9]);
    assert_eq!(minutes("5,10,50-52 * * * *"), [5, 10, 50, 51, 52]);
    let hours: Vec<u32> = fires(
        &cron("0 8-18/5 * * *", "UTC"),
        MARCH.0,
        "2026-03-02T00:00:00Z",
    )
    .iter()
    .map(|f| f[11..13].parse().unwrap())
    .collect();
    assert_eq!(hours, [8, 13, 18]);
}

#[test]
fn both_day_fields_restricted_means_either() {
    // The 1st, the 15th and every Monday (2, 9, 16, 23, 30 March 2026).
    assert_eq!(days(&march("0 2 1,15 * 1")), [1, 2, 9, 15, 16, 23, 30]);
    assert_eq!(days(&march("0 2 1,15 * mon")), [1, 2, 9, 15, 16, 23, 30]);
}

#[test]
fn a_star_day_field_leaves_the_other_alone() {
    assert_eq!(days(&march("0 2 1,15 * *")), [1, 15]);
    assert_eq!(days(&march("0 2 * * 1")), [2, 9, 16, 23, 30]);
    // crontab(5): a field starting with `*` is not restricted, so `*/2`
    // and a weekday must both match (cronie); croner alone would take
    // either and fire on every odd day too.
    assert_eq!(days(&march("0 2 */2 * 1")), [9, 23]);
    assert_eq!(days(&march("0 2 1 * */7")), [1]);
}

#[test]
fn six_fields_put_seconds_first() {
    let s = cron("30 */20 * * * *", "UTC");
    assert_eq!(
        fires(&s, "2026-03-02T10:00:00Z", "2026-03-02T11:00:00Z"),
        [
            "2026-03-02 10:00:30 UTC",
            "2026-03-02 10:20:30 UTC",
            "2026-03-02 10:40:30 UTC"
        ]
    );
    assert_eq!(s.expression().as_deref(), Some("30 */20 * * * *"));
    assert_eq!(march("0 0 2 * * 0"), march("0 2 * * 0"));
}

#[test]
fn nicknames_are_their_lines() {
    for (nick, line) in [
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@Monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@hourly", "0 * * * *"),
    ] {
        let s = cron(nick, "UTC");
        assert_eq!(s.expression().as_deref(), Some(line), "{nick}");
        assert_eq!(s.describe(), nick);
        assert_eq!(march(nick), march(line), "{nick}");
    }
}

#[test]
fn white_space_is_folded() {
    let s = cron("  0   2 *\t* *  ", "UTC");
    assert_eq!(s.expression().as_deref(), Some("0 2 * * *"));
    assert_eq!(s.describe(), "0 2 * * *");
}

#[test]
fn invalid_expressions_say_what_is_wrong() {
    let error = |expr: &str| {
        Schedule::from_keys(&Keys {
            cron: expr.into(),
            timezone: "UTC".into(),
            ..Keys::default()
        })
        .unwrap_err()
    };
    assert_eq!(
        error("60 * * * *").to_string(),
        "schedule.cron: minute '60': number out of bounds (minute takes 0-59)"
    );
    for (expr, says) in [
        ("* * * *", "has 4 fields; a crontab time has 5"),
        ("0 0 0 1 1 * 2030", "has 7 fields"),
        (
            "0 2 * * funday",
            "day-of-week 'funday': unknown name 'funday'",
        ),
        ("0 2 * * monday", "unknown name 'monday'"),
        (
            "0 24 * * *",
            "hour '24': number out of bounds (hour takes 0-23)",
        ),
        ("0 0 0 * *", "day-of-month '0'"),
        ("0 0 32 * *", "day-of-month '32'"),
        ("0 0 * 13 *", "month '13'"),
        ("0 0 * * 8", "day-of-week '8'"),
        ("0 0 * sun *", "month 'sun': unknown name 'sun'"),
        ("0 0 * * jan", "day-of-week 'jan': unknown name 'jan'"),
        ("0 x * * *", "hour 'x': 'x' is not a number"),
        ("60 0 * * * *", "second '60'"),
        ("5/5 * * * *", "minute '5/5'"),
        ("*/0 * * * *", "minute '*/0'"),
        ("0 0 * * 7-1", "day-of-week '7-1'"),
        ("0 0 L * *", "day-of-month 'L': 'L' is not a number"),
        ("0 0 15W * *", "day-of-month '15W'"),
        ("0 0 * * 5L", "day-of-week '5L': unknown name 'L'"),
        ("0 0 * * 5#2", "'#' is not crontab syntax"),
        ("0 0 1 * +1", "'+' is not crontab syntax"),
        ("0 0 ? * *", "'?' is not crontab syntax"),
        ("0 0 30 2 *", "day-of-month '30' never falls in month '2'"),
        ("0 0 31 apr,jun *", "never falls"),
        ("@reboot", "unknown nickname '@reboot'"),
        (
            "0 0 1,,2 * *",
            "day-of-month '1,,2': a list has an empty item",
        ),
        ("0 0 , * *", "day-of-month ',': a list has an empty item"),
    ] {
        let e = error(expr);
        assert_eq!(e.key, "schedule.cron", "{expr}");
        assert!(e.what.contains(says), "{expr}: {}", e.what);
    }
    // The 29th of February exists, every fourth year.
    let s = cron("0 0 29 2 *", "UTC");
    assert_eq!(
        local(&s, s.next_after(ts("2026-01-01T00:00:00Z"), None).unwrap()),
        "2028-02-29 00:00:00 UTC"
    );
    // With a weekday restricted as well, either may match.
    cron("0 0 30 2 mon", "UTC");
}
