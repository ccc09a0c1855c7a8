//! UTC timestamps for version ids, metadata and the wire, without a
//! calendar crate: formatting, and reading back what it formats.

use std::time::{SystemTime, UNIX_EPOCH};

/// Civil date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Days since 1970-01-01 of a civil date (the inverse of [`civil`]).
fn days(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let (m, d) = (i64::from(m), i64::from(d));
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn parts(secs: i64) -> (i64, u32, u32, i64, i64, i64) {
    let (y, m, d) = civil(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    (y, m, d, s / 3600, s / 60 % 60, s % 60)
}

/// Whole seconds since the Unix epoch (0 before it).
pub fn unix_seconds(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `2026-11-24T11:15:00Z`
pub fn rfc3339(t: SystemTime) -> String {
    rfc3339_unix(unix_seconds(t))
}

/// [`rfc3339`] of a time in Unix seconds (as the database keeps them).
pub fn rfc3339_unix(secs: i64) -> String {
    let (y, mo, d, h, mi, s) = parts(secs);
    // Four digits after the sign, as ISO 8601 writes years before 0000.
    let sign = if y < 0 { "-" } else { "" };
    let y = y.unsigned_abs();
    format!("{sign}{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// Unix seconds of an RFC 3339 time (`2026-11-24T11:15:00Z`, or with a
/// fraction, which is dropped, or an offset such as `+01:00`); `None` for
/// anything else. Reads back whatever [`rfc3339_unix`] writes.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let (date, time) = text.split_once(['T', 't'])?;
    // The year may carry a sign: split the month and day off its end.
    let mut ymd = date.rsplitn(3, '-');
    let (d, m, y) = (ymd.next()?, ymd.next()?, ymd.next()?);
    let (d, m) = (two_digits(d)?, two_digits(m)?);
    let digits = y.strip_prefix('-').unwrap_or(y);
    // Far enough for every i64 of seconds, near enough not to overflow.
    if !(4..=12).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let y: i64 = y.parse().ok()?;
    let day = days(y, m, d);
    // Month 13 or February 30 come back as another date.
    if civil(day) != (y, m, d) {
        return None;
    }
    let (clock, offset) = if let Some(c) = time.strip_suffix(['Z', 'z']) {
        (c, 0)
    } else {
        let at = time.len().checked_sub(6)?;
        let (c, o) = (time.get(..at)?, time.get(at..)?);
        let sign = match o.as_bytes()[0] {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let (oh, om) = o[1..].split_once(':')?;
        let (oh, om) = (two_digits(oh)?, two_digits(om)?);
        if oh > 23 || om > 59 {
            return None;
        }
        (c, sign * i64::from(oh * 3600 + om * 60))
    };
    let (hms, fraction) = match clock.split_once('.') {
        Some((hms, f)) => (hms, Some(f)),
        None => (clock, None),
    };
    if fraction.is_some_and(|f| f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    let mut hms = hms.split(':');
    let (h, mi, s) = (hms.next()?, hms.next()?, hms.next()?);
    if hms.next().is_some() {
        return None;
    }
    let (h, mi, s) = (two_digits(h)?, two_digits(mi)?, two_digits(s)?);
    // 60: a leap second.
    if h > 23 || mi > 59 || s > 60 {
        return None;
    }
    day.checked_mul(86_400)?
        .checked_add(i64::from(h * 3600 + mi * 60 + s))?
        .checked_sub(offset)
}

fn two_digits(text: &str) -> Option<u32> {
    match text.as_bytes() {
        [a, b] if a.is_ascii_digit() && b.is_ascii_digit() => {
            Some(u32::from(a - b'0') * 10 + u32::from(b - b'0'))
        }
        _ => None,
    }
}

/// `20261124T111500Z`: sorts like the time it names, and is safe in a file name.
pub fn compact(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = parts(unix_seconds(t));
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(978_300_760);
        assert_eq!(rfc3339(t), "2000-12-31T22:12:40Z");
        let leap = UNIX_EPOCH + Duration::from_secs(1_709_164_800 + 3661);
        assert_eq!(rfc3339(leap), "2024-02-29T01:01:01Z");
        assert_eq!(compact(leap), "20240229T010101Z");
    }

    #[test]
    fn parses_what_it_writes() {
        for secs in [
            0,
            -1,
            978_300_760,
            1_709_164_800 + 3661,
            253_402_300_799,
            -62_167_219_200,
            i64::MAX,
            -62_167_219_201,
            i64::MIN + 2 * 86_400,
        ] {
            let text = rfc3339_unix(secs);
            assert_eq!(parse_rfc3339(&text), Some(secs), "{text}");
        }
        let mut secs = -5_000_000_000_i64;
        while secs < 5_000_000_000 {
            assert_eq!(parse_rfc3339(&rfc3339_unix(secs)), Some(secs));
            secs += 86_399 * 7 + 13;
        }
    }

    #[test]
    fn reads_offsets_and_fractions_and_refuses_the_rest() {
        let t = Some(978_300_760);
        assert_eq!(parse_rfc3339("2000-12-31T22:12:40.999Z"), t);
        assert_eq!(parse_rfc3339("2000-12-31t22:12:40z"), t);
        assert_eq!(parse_rfc3339("2000-12-31T23:12:40+01:00"), t);
        assert_eq!(parse_rfc3339("2000-12-31T20:12:40.5-02:00"), t);
        for bad in [
            "",
            "978300760",
            "2000-12-31",
            "2000-12-31T22:12:40",
            "2000-12-31 22:12:40Z",
            "2000-13-01T00:00:00Z",
            "2001-02-29T00:00:00Z",
            "2000-12-31T24:00:00Z",
            "2000-12-31T22:12:40.Z",
            "2000-12-31T22:12:40+1:00",
            "2000-12-31T22:12:40+01:0é",
            "2000-12-31T22:12:40éééééé",
            "2000-12-31T22:12:40:00Z",
            "+2000-12-31T22:12:40Z",
            "99999999999999999999-01-01T00:00:00Z",
            "200-12-31T22:12:40Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
    }
}
