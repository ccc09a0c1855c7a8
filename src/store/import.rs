//! Reading a ratings file for `import`: any MovieLens layout (`::`, tab,
//! or CSV with an optional header), user ids as text, the timestamp
//! optional. Every line is either accepted or rejected with its number, a
//! [`Violation`] and a reason; one bad line never sinks the file. It never
//! touches the database or the file system: it reads bytes it is given.

use serde::{Deserialize, Serialize};

use super::rules::{Rules, Violation};
use super::NewRating;
use crate::movielens::ratings_file::Layout;

/// A line that was not imported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejected {
    pub line: u64,
    pub code: Violation,
    pub reason: String,
}

/// A file, read.
#[derive(Debug, Default)]
pub struct Parsed {
    pub ratings: Vec<NewRating>,
    /// The accepted lines' numbers, parallel to `ratings`.
    pub lines: Vec<u64>,
    pub rejected: Vec<Rejected>,
}

/// Parse `text`. `known_movie` says whether a movie id is in the catalogue;
/// `now` (Unix seconds) stamps lines without a timestamp.
pub fn parse(text: &[u8], rules: &Rules, known_movie: impl Fn(u32) -> bool, now: i64) -> Parsed {
    let mut out = Parsed::default();
    let mut layout = None;
    for (k, raw) in text.split(|&b| b == b'\n').enumerate() {
        let number = k as u64 + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let layout = *layout.get_or_insert_with(|| Layout::sniff(raw).unwrap_or(Layout::Csv));
        let reject = |code, reason: String| Rejected {
            line: number,
            code,
            reason,
        };
        let Ok(line) = std::str::from_utf8(raw) else {
            out.rejected
                .push(reject(Violation::Malformed, "the line is not UTF-8".into()));
            continue;
        };
        let sep = std::str::from_utf8(layout.separator()).unwrap_or(",");
        let fields: Vec<&str> = line.split(sep).map(str::trim).collect();
        // A CSV header: its movie field is a name, not a number.
        if number == 1
            && layout == Layout::Csv
            && fields.get(1).is_some_and(|f| f.parse::<u32>().is_err())
        {
            continue;
        }
        match parse_fields(&fields, rules, &known_movie, now) {
            Ok(r) => {
                out.ratings.push(r);
                out.lines.push(number);
            }
            Err((code, reason)) => out.rejected.push(reject(code, reason)),
        }
    }
    out
}

fn parse_fields(
    fields: &[&str],
    rules: &Rules,
    known_movie: &impl Fn(u32) -> bool,
    now: i64,
) -> Result<NewRating, (Violation, String)> {
    let bad = |what: String| (Violation::Malformed, what);
    if !(3..=4).contains(&fields.len()) {
        return Err(bad(format!(
            "{} fields; expected user, movie, rating and an optional timestamp",
            fields.len()
        )));
    }
    let user = fields[0];
    rules.user(user).map_err(|r| (r.code, r.message))?;
    let movie: u32 = fields[1]
        .parse()
        .map_err(|_| bad(format!("movie id '{}' is not a whole number", fields[1])))?;
    let rating: f64 = fields[2].parse().map_err(|_| {
        (
            Violation::InvalidRating,
            format!("rating '{}' is not a number", fields[2]),
        )
    })?;
    let rating = rules.rating(rating).map_err(|r| (r.code, r.message))?;
    let rated_at = match fields.get(3) {
        Some(t) => t
            .parse::<i64>()
            .map_err(|_| bad(format!("timestamp '{t}' is not a whole number")))?,
        None => now,
    };
    if !known_movie(movie) {
        return Err((
            Violation::UnknownMovie,
            format!("movie {movie} is not in the catalogue"),
        ));
    }
    Ok(NewRating {
        user: user.to_owned(),
        movie,
        rating,
        rated_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_lines_in_and_bad_lines_named() {
        let text = b"userId,movieId,rating,timestamp\r\n\
            alice,1,4,978300760\r\n\
            bob,2,5\n\
            \n\
            carol,999,3,1\n\
            dave,1,6,1\n\
            eve,1,3.5,1\n\
            ,1,3,1\n\
            frank,x,3,1\n\
            gina,1,4,1,extra\n\
            hal,2,2,yesterday\n\
            \xff\xfe,1,1,1\n";
        let p = parse(text, &Rules::default(), |m| m == 1 || m == 2, 77);
        assert_eq!(p.ratings.len(), 2);
        assert_eq!(p.ratings[0].user, "alice");
        assert_eq!(p.ratings[0].rated_at, 978300760);
        assert_eq!(p.ratings[1].rated_at, 77);
        assert_eq!(p.lines, vec![2, 3]);
        // As the import reply shows them.
        let shown = serde_json::to_value(&p.rejected).unwrap();
        let got: Vec<(u64, &str)> = shown
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["line"].as_u64().unwrap(), r["code"].as_str().unwrap()))
            .collect();
        assert_eq!(
            got,
            vec![
                (5, "unknown_movie"),
                (6, "invalid_rating"),
                (7, "invalid_rating"),
                (8, "invalid_user"),
                (9, "invalid_params"),
                (10, "invalid_params"),
                (11, "invalid_params"),
                (12, "invalid_params"),
            ]
        );
        assert!(p.rejected[0].reason.contains("999"));
        let read: Vec<Rejected> = serde_json::from_value(shown).unwrap();
        assert_eq!(read, p.rejected);
    }

    #[test]
    fn movielens_layouts() {
        let dat = parse(
            b"1::1193::5::978300760\n1::661::3::978302109\n",
            &Rules::default(),
            |_| true,
            0,
        );
        assert_eq!((dat.ratings.len(), dat.rejected.len()), (2, 0));
        assert_eq!(dat.ratings[0].movie, 1193);
        let tab = parse(b"196\t242\t3\t881250949\n", &Rules::default(), |_| true, 0);
        assert_eq!(tab.ratings[0].user, "196");
    }
}
