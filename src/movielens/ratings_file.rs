//! Parser for one ratings file in any of the MovieLens layouts.
//!
//! It owns the byte-level work: splitting fields and numbers, and naming the
//! file, line and fault when a line is malformed; [`read`] (in `reader`)
//! streams a file through it on every core. It never
//! allocates per line and never panics on a file's contents; it knows nothing
//! of id maps or training.

use std::io::Read;
use std::path::{Path, PathBuf};

pub use super::reader::read;
use super::DatasetError;

/// How the fields of a ratings line are separated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `UserID::MovieID::Rating::Timestamp` (MovieLens 1M and 10M `ratings.dat`).
    DoubleColon,
    /// `user<TAB>item<TAB>rating<TAB>timestamp` (MovieLens 100K `u.data`).
    Tab,
    /// `userId,movieId,rating,timestamp` with a header line (MovieLens `ratings.csv`).
    Csv,
}

impl Layout {
    /// Guess the layout of a ratings file from its first line.
    pub fn sniff(first_line: &[u8]) -> Option<Layout> {
        if find(first_line, b"::").is_some() {
            Some(Layout::DoubleColon)
        } else if first_line.contains(&b'\t') {
            Some(Layout::Tab)
        } else if first_line.contains(&b',') {
            Some(Layout::Csv)
        } else {
            None
        }
    }

    pub fn separator(self) -> &'static [u8] {
        match self {
            Layout::DoubleColon => b"::",
            Layout::Tab => b"\t",
            Layout::Csv => b",",
        }
    }
}

/// The smallest and largest rating MovieLens uses, and its step.
pub const MIN_RATING: f32 = 0.5;
pub const MAX_RATING: f32 = 5.0;

/// One parsed line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Record {
    pub user: u32,
    pub movie: u32,
    pub rating: f32,
    pub timestamp: i64,
}

/// Read `path` and call `sink` for every rating in it.
pub fn read_path(
    path: &Path,
    layout: Option<Layout>,
    sink: impl FnMut(Record),
) -> Result<u64, DatasetError> {
    let file = std::fs::File::open(path).map_err(|source| DatasetError::Io {
        path: path.to_owned(),
        source,
    })?;
    read(file, path, layout, sink)
}

pub(super) fn read_some(
    reader: &mut impl Read,
    into: &mut [u8],
    path: &Path,
) -> Result<usize, DatasetError> {
    loop {
        match reader.read(into) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(DatasetError::Io {
                    path: path.to_owned(),
                    source,
                })
            }
        }
    }
}

pub(super) fn malformed(path: &Path, line: u64, what: String) -> DatasetError {
    DatasetError::Malformed {
        path: PathBuf::from(path),
        line,
        what,
    }
}

/// Parse one non-empty line; the error says what is wrong with it.
pub fn parse_line(line: &[u8], layout: Layout) -> Result<Record, String> {
    let mut fields = Splitter {
        rest: Some(line),
        sep: layout.separator(),
    };
    let mut next = |name: &str| {
        fields.next().ok_or_else(|| {
            format!("missing field '{name}' (expected user, movie, rating, timestamp)")
        })
    };
    let user = next("user")?;
    let movie = next("movie")?;
    let rating = next("rating")?;
    let timestamp = next("timestamp")?;
    if fields.next().is_some() {
        return Err("too many fields (expected user, movie, rating, timestamp)".into());
    }
    let user = parse_id(user).map_err(|e| format!("user id {e}"))?;
    let movie = parse_id(movie).map_err(|e| format!("movie id {e}"))?;
    let rating = parse_rating(rating)?;
    let timestamp = std::str::from_utf8(timestamp)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| format!("timestamp '{}' is not a whole number", show(timestamp)))?;
    Ok(Record {
        user,
        movie,
        rating,
        timestamp,
    })
}

/// A rating must be a multiple of 0.5 in [0.5, 5].
pub fn parse_rating(field: &[u8]) -> Result<f32, String> {
    let value: f32 = std::str::from_utf8(field)
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|v: &f32| v.is_finite())
        .ok_or_else(|| format!("rating '{}' is not a number", show(field)))?;
    check_rating(value)
}

/// `value` if it is on the rating scale: `MIN_RATING` to `MAX_RATING` in
/// half steps; else why not.
pub fn check_rating(value: f32) -> Result<f32, String> {
    if !(MIN_RATING..=MAX_RATING).contains(&value) {
        return Err(format!(
            "rating {value} is outside the scale {MIN_RATING}..{MAX_RATING}"
        ));
    }
    if (value * 2.0).fract() != 0.0 {
        return Err(format!("rating {value} is not a multiple of 0.5"));
    }
    Ok(value)
}

fn parse_id(field: &[u8]) -> Result<u32, String> {
    if field.is_empty() {
        return Err("is empty".into());
    }
    let mut v: u64 = 0;
    for &b in field {
        if !b.is_ascii_digit() {
            return Err(format!("'{}' is not a whole number", show(field)));
        }
        v = v * 10 + u64::from(b - b'0');
        if v > u64::from(u32::MAX) {
            return Err(format!("'{}' is too large", show(field)));
        }
    }
    Ok(v as u32)
}

/// A field as text for an error message, cut short if long.
fn show(field: &[u8]) -> String {
    let s = String::from_utf8_lossy(&field[..field.len().min(40)]).into_owned();
    if field.len() > 40 {
        s + "…"
    } else {
        s
    }
}

pub(crate) fn trim(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., last] = line {
        if last.is_ascii_whitespace() {
            line = rest;
        } else {
            break;
        }
    }
    while let [first, rest @ ..] = line {
        if first.is_ascii_whitespace() {
            line = rest;
        } else {
            break;
        }
    }
    line
}

pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    // Scan for the first byte and compare the rest only there: the general
    // window comparison was a tenth of the time of loading a large set.
    let mut from = 0;
    while let Some(p) = hay[from..].iter().position(|&b| b == first) {
        let at = from + p;
        if hay[at + 1..].starts_with(rest) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Splits on a multi-byte separator.
pub(crate) struct Splitter<'a> {
    pub rest: Option<&'a [u8]>,
    pub sep: &'a [u8],
}

impl<'a> Iterator for Splitter<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = self.rest?;
        match find(rest, self.sep) {
            Some(p) => {
                self.rest = Some(&rest[p + self.sep.len()..]);
                Some(&rest[..p])
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(text: &str, layout: Option<Layout>) -> Result<Vec<Record>, DatasetError> {
        let mut out = Vec::new();
        read(text.as_bytes(), Path::new("r.dat"), layout, |r| out.push(r))?;
        Ok(out)
    }

    fn error(text: &str) -> String {
        parse_all(text, None).unwrap_err().to_string()
    }

    #[test]
    fn parses_every_layout() {
        let dat = parse_all("1::1193::5::978300760\n2::661::3::978302109\n", None).unwrap();
        assert_eq!(dat.len(), 2);
        assert_eq!(
            dat[0],
            Record {
                user: 1,
                movie: 1193,
                rating: 5.0,
                timestamp: 978300760
            }
        );
        let tab = parse_all("196\t242\t3\t881250949\r\n", None).unwrap();
        assert_eq!((tab[0].user, tab[0].movie, tab[0].rating), (196, 242, 3.0));
        let csv = parse_all(
            "userId,movieId,rating,timestamp\n1,307,3.5,1256677221\n",
            None,
        )
        .unwrap();
        assert_eq!((csv[0].user, csv[0].movie, csv[0].rating), (1, 307, 3.5));
    }

    #[test]
    fn last_line_without_newline_and_blank_lines() {
        let r = parse_all("1::2::3::4\n\n5::6::4::8", None).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].user, 5);
    }

    #[test]
    fn lines_across_chunk_boundaries() {
        let mut text = String::new();
        for i in 0..200_000u32 {
            text.push_str(&format!("{i}::{}::4::97830{i}\n", i % 977));
        }
        let r = parse_all(&text, None).unwrap();
        assert_eq!(r.len(), 200_000);
        assert_eq!(r[123_456].user, 123_456);
    }

    #[test]
    fn malformed_lines_name_file_line_and_fault() {
        assert_eq!(
            error("1::2::3::4\n1::2::x::4\n"),
            "r.dat:2: rating 'x' is not a number"
        );
        assert_eq!(
            error("1::2::3::4\n\n1::2::3\n"),
            "r.dat:3: missing field 'timestamp' (expected user, movie, rating, timestamp)"
        );
        assert_eq!(
            error("1::2::6::4\n"),
            "r.dat:1: rating 6 is outside the scale 0.5..5"
        );
        assert_eq!(
            error("1::2::0::4\n"),
            "r.dat:1: rating 0 is outside the scale 0.5..5"
        );
        assert_eq!(
            error("1::2::3.3::4\n"),
            "r.dat:1: rating 3.3 is not a multiple of 0.5"
        );
        assert_eq!(
            error("1::2::nan::4\n"),
            "r.dat:1: rating 'nan' is not a number"
        );
        assert_eq!(
            error("-1::2::3::4\n"),
            "r.dat:1: user id '-1' is not a whole number"
        );
        assert_eq!(
            error("1::99999999999::3::4\n"),
            "r.dat:1: movie id '99999999999' is too large"
        );
        assert_eq!(
            error("1::2::3::4::5\n"),
            "r.dat:1: too many fields (expected user, movie, rating, timestamp)"
        );
        assert_eq!(
            error("1::2::3::soon\n"),
            "r.dat:1: timestamp 'soon' is not a whole number"
        );
        assert!(error("hello\n").contains("cannot tell the layout"));
    }

    #[test]
    fn empty_and_blank_files_are_errors() {
        assert_eq!(error(""), "r.dat: no ratings in the file");
        assert_eq!(error("\n\n  \n"), "r.dat: no ratings in the file");
        assert_eq!(
            parse_all("userId,movieId,rating,timestamp\n", None)
                .unwrap_err()
                .to_string(),
            "r.dat: no ratings in the file"
        );
    }

    #[test]
    fn find_locates_multi_byte_separators() {
        assert_eq!(find(b"1::2", b"::"), Some(1));
        assert_eq!(find(b"1:2::3", b"::"), Some(3));
        assert_eq!(find(b"1:2:3:", b"::"), None);
        assert_eq!(find(b"", b"::"), None);
        assert_eq!(find(b"a\tb", b"\t"), Some(1));
    }

    #[test]
    fn binary_garbage_is_an_error_not_a_panic() {
        let bytes: Vec<u8> = (0..5000u32).map(|i| (i * 7919 % 256) as u8).collect();
        let r = read(
            &bytes[..],
            Path::new("g"),
            Some(Layout::DoubleColon),
            |_| {},
        );
        assert!(r.is_err());
    }
}
