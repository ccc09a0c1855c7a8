//! Reading a ratings file for `import`: any MovieLens layout (`::`, tab,
//! or CSV with an optional header), user ids as text, the timestamp
//! optional. Every line is either accepted or rejected with its number, a
//! [`Violation`] and a reason; one bad line never sinks the file. It never
//! touches the database or the file system: it reads bytes it is given, in
//! chunks as they arrive, holding at most one line of them.

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

/// What a file's lines came to so far.
#[derive(Debug, Default)]
pub struct Parsed {
    pub ratings: Vec<NewRating>,
    /// The accepted lines' numbers, parallel to `ratings`.
    pub lines: Vec<u64>,
    /// The rejected lines kept (the first [`Parser::new`]'s `keep` of them).
    pub rejected: Vec<Rejected>,
    /// Every rejected line, kept or not.
    pub rejected_count: usize,
}

/// The longest line an import reads; a longer one is rejected whole, and
/// never held in memory beyond this.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Reads a file's lines as its bytes arrive, in chunks cut anywhere.
pub struct Parser<'r, F> {
    rules: &'r Rules,
    known_movie: F,
    now: i64,
    keep: usize,
    layout: Option<Layout>,
    /// Lines begun so far: the number of the line in `partial`.
    number: u64,
    partial: Vec<u8>,
    /// The line in progress has passed [`MAX_LINE_BYTES`]: skip to its end.
    overlong: bool,
}

impl<'r, F: Fn(u32) -> bool> Parser<'r, F> {
    /// `known_movie` says whether a movie id is in the catalogue; `now`
    /// (Unix seconds) stamps lines without a timestamp; at most `keep`
    /// rejected lines are kept (all are counted).
    pub fn new(rules: &'r Rules, known_movie: F, now: i64, keep: usize) -> Parser<'r, F> {
        Parser {
            rules,
            known_movie,
            now,
            keep,
            layout: None,
            number: 1,
            partial: Vec::new(),
            overlong: false,
        }
    }

    /// Parse the complete lines of `bytes` (and of what came before) into `out`.
    pub fn feed(&mut self, mut bytes: &[u8], out: &mut Parsed) {
        while let Some(p) = bytes.iter().position(|&b| b == b'\n') {
            self.append(&bytes[..p]);
            self.end_line(out);
            bytes = &bytes[p + 1..];
        }
        self.append(bytes);
    }

    /// The end of the file: a last line without its newline still counts.
    pub fn finish(&mut self, out: &mut Parsed) {
        if !self.partial.is_empty() || self.overlong {
            self.end_line(out);
        }
    }

    fn append(&mut self, bytes: &[u8]) {
        if self.overlong {
            return;
        }
        if self.partial.len() + bytes.len() > MAX_LINE_BYTES {
            self.overlong = true;
            self.partial = Vec::new();
        } else {
            self.partial.extend_from_slice(bytes);
        }
    }

    fn end_line(&mut self, out: &mut Parsed) {
        let number = self.number;
        self.number += 1;
        let raw = std::mem::take(&mut self.partial);
        let result = if std::mem::take(&mut self.overlong) {
            Some(Err((
                Violation::Malformed,
                format!("the line is longer than {MAX_LINE_BYTES} bytes"),
            )))
        } else {
            self.line(number, &raw)
        };
        // Reuse the buffer for the next line.
        self.partial = raw;
        self.partial.clear();
        match result {
            None => {}
            Some(Ok(r)) => {
                out.ratings.push(r);
                out.lines.push(number);
            }
            Some(Err((code, reason))) => {
                out.rejected_count += 1;
                if out.rejected.len() < self.keep {
                    out.rejected.push(Rejected {
                        line: number,
                        code,
                        reason,
                    });
                }
            }
        }
    }

    /// One line: a rating, a refusal, or nothing (blank, a header).
    fn line(&mut self, number: u64, raw: &[u8]) -> Option<Result<NewRating, (Violation, String)>> {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        let layout = *self
            .layout
            .get_or_insert_with(|| Layout::sniff(raw).unwrap_or(Layout::Csv));
        let Ok(line) = std::str::from_utf8(raw) else {
            return Some(Err((Violation::Malformed, "the line is not UTF-8".into())));
        };
        let sep = std::str::from_utf8(layout.separator()).unwrap_or(",");
        let fields: Vec<&str> = line.split(sep).map(str::trim).collect();
        // A CSV header: its movie field is a name, not a number.
        if number == 1
            && layout == Layout::Csv
            && fields.get(1).is_some_and(|f| f.parse::<u32>().is_err())
        {
            return None;
        }
        Some(parse_fields(
            &fields,
            self.rules,
            &self.known_movie,
            self.now,
        ))
    }
}

/// Parse a whole file held in memory, keeping every rejected line.
pub fn parse(text: &[u8], rules: &Rules, known_movie: impl Fn(u32) -> bool, now: i64) -> Parsed {
    let mut out = Parsed::default();
    let mut parser = Parser::new(rules, known_movie, now, usize::MAX);
    parser.feed(text, &mut out);
    parser.finish(&mut out);
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

    const RULES: Rules = Rules {
        min: 1.0,
        max: 5.0,
        step: 1.0,
        max_user_id_bytes: 128,
    };

    #[test]
    fn chunks_cut_anywhere_read_as_the_whole() {
        let text = b"userId,movieId,rating\nalice,1,4\r\nbob,2,5\n\nx\ncarol,1,3";
        let whole = parse(text, &Rules::default(), |_| true, 7);
        for cut in 1..text.len() {
            let mut out = Parsed::default();
            let mut p = Parser::new(&RULES, |_| true, 7, 10);
            for chunk in text.chunks(cut) {
                p.feed(chunk, &mut out);
            }
            p.finish(&mut out);
            assert_eq!(out.ratings, whole.ratings, "chunks of {cut}");
            assert_eq!(out.lines, vec![2, 3, 6]);
            assert_eq!(out.rejected, whole.rejected);
        }
    }

    #[test]
    fn an_overlong_line_is_rejected_without_being_held() {
        let mut out = Parsed::default();
        let mut p = Parser::new(&RULES, |_| true, 7, 1);
        p.feed(b"alice,1,4\n", &mut out);
        let junk = vec![b'9'; 1024];
        for _ in 0..(MAX_LINE_BYTES / 1024 + 8) {
            p.feed(&junk, &mut out);
            assert!(p.partial.len() <= MAX_LINE_BYTES);
        }
        p.feed(b"\nbob,2,5\nbad\n", &mut out);
        p.finish(&mut out);
        assert_eq!(out.lines, vec![1, 3]);
        assert_eq!(out.rejected_count, 2);
        assert_eq!(out.rejected.len(), 1, "only the first is kept");
        assert_eq!(out.rejected[0].line, 2);
        assert!(out.rejected[0].reason.contains("longer than"));
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
