//! PostgreSQL's binary `COPY` format, for the four columns a retrain reads
//! (`seq` int8, `user_id` text, `movie_id` int8, `rating` float8), parsed
//! from chunks as they arrive: a row cut between two chunks waits for the
//! next, and nothing else is kept.

use super::{bad_row, Row};
use crate::store::StoreError;

const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";
/// The longest field accepted: far past any user id the daemon stores,
/// short enough that a corrupt length cannot make the reader hoard memory.
const MAX_FIELD: usize = 1 << 20;

/// The parser's state between chunks.
#[derive(Debug, Default)]
pub(crate) struct Reader {
    pending: Vec<u8>,
    header_read: bool,
    ended: bool,
    rows: u64,
}

fn broken(what: String) -> StoreError {
    StoreError::Failed(format!("reading the ratings from PostgreSQL: {what}"))
}

impl Reader {
    /// Parse what `chunk` completes, handing each row to `sink`.
    pub(crate) fn feed(
        &mut self,
        chunk: &[u8],
        sink: &mut dyn FnMut(Row<'_>),
    ) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            let used = self.parse(chunk, sink)?;
            self.pending.extend_from_slice(&chunk[used..]);
        } else {
            let mut buf = std::mem::take(&mut self.pending);
            buf.extend_from_slice(chunk);
            let used = self.parse(&buf, sink)?;
            buf.drain(..used);
            self.pending = buf;
        }
        Ok(())
    }

    /// How many rows there were, once the copy has ended whole.
    pub(crate) fn finish(self) -> Result<u64, StoreError> {
        if !self.ended || !self.pending.is_empty() {
            return Err(broken(format!(
                "the copy stopped after {} rows, before its end",
                self.rows
            )));
        }
        Ok(self.rows)
    }

    /// Parse whole rows from the start of `buf`; the bytes used.
    fn parse(&mut self, buf: &[u8], sink: &mut dyn FnMut(Row<'_>)) -> Result<usize, StoreError> {
        let mut at = 0;
        if !self.header_read {
            if buf.len() < 19 {
                return Ok(0);
            }
            if &buf[..11] != SIGNATURE {
                return Err(broken("not a binary copy".into()));
            }
            let extension = i32::from_be_bytes(buf[15..19].try_into().expect("4 bytes"));
            let extension = usize::try_from(extension)
                .ok()
                .filter(|&n| n <= MAX_FIELD)
                .ok_or_else(|| broken(format!("a header extension of {extension} bytes")))?;
            if buf.len() < 19 + extension {
                return Ok(0);
            }
            at = 19 + extension;
            self.header_read = true;
        }
        loop {
            if self.ended {
                if at < buf.len() {
                    return Err(broken("bytes after the end of the copy".into()));
                }
                return Ok(at);
            }
            let Some(count) = buf.get(at..at + 2) else {
                return Ok(at);
            };
            match i16::from_be_bytes([count[0], count[1]]) {
                -1 => {
                    self.ended = true;
                    at += 2;
                    continue;
                }
                4 => {}
                n => return Err(broken(format!("a row of {n} fields, expected 4"))),
            }
            let mut fields: [&[u8]; 4] = [&[]; 4];
            let mut p = at + 2;
            for field in &mut fields {
                let Some(len) = buf.get(p..p + 4) else {
                    return Ok(at);
                };
                let len = i32::from_be_bytes(len.try_into().expect("4 bytes"));
                let len = usize::try_from(len)
                    .ok()
                    .filter(|&n| n <= MAX_FIELD)
                    .ok_or_else(|| broken(format!("a field of length {len}")))?;
                let Some(bytes) = buf.get(p + 4..p + 4 + len) else {
                    return Ok(at);
                };
                *field = bytes;
                p += 4 + len;
            }
            let [seq, user, movie, rating] = fields;
            let eight = |f: &[u8], what: &str| -> Result<[u8; 8], StoreError> {
                f.try_into()
                    .map_err(|_| broken(format!("{what} of {} bytes, expected 8", f.len())))
            };
            let seq = i64::from_be_bytes(eight(seq, "a sequence number")?);
            let user =
                std::str::from_utf8(user).map_err(|_| bad_row(seq, "its user id is not UTF-8"))?;
            let movie = u32::try_from(i64::from_be_bytes(eight(movie, "a movie id")?))
                .map_err(|_| bad_row(seq, "its movie id is out of range"))?;
            let rating = f64::from_be_bytes(eight(rating, "a rating")?) as f32;
            sink(Row {
                seq,
                user,
                movie,
                rating,
            });
            self.rows += 1;
            at = p;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(rows: &[(i64, &str, i64, f64)]) -> Vec<u8> {
        let mut out = SIGNATURE.to_vec();
        out.extend(0i32.to_be_bytes());
        out.extend(0i32.to_be_bytes());
        for &(seq, user, movie, rating) in rows {
            out.extend(4i16.to_be_bytes());
            for field in [
                &seq.to_be_bytes()[..],
                user.as_bytes(),
                &movie.to_be_bytes()[..],
                &rating.to_be_bytes()[..],
            ] {
                out.extend((field.len() as i32).to_be_bytes());
                out.extend(field);
            }
        }
        out.extend((-1i16).to_be_bytes());
        out
    }

    fn read(bytes: &[u8], chunk: usize) -> Result<Vec<(i64, String, u32, f32)>, StoreError> {
        let mut got = Vec::new();
        let mut reader = Reader::default();
        for piece in bytes.chunks(chunk) {
            reader.feed(piece, &mut |r| {
                got.push((r.seq, r.user.to_owned(), r.movie, r.rating))
            })?;
        }
        assert_eq!(reader.finish()?, got.len() as u64);
        Ok(got)
    }

    #[test]
    fn rows_come_out_whole_however_the_chunks_fall() {
        let rows = [
            (1, "alice", 10, 4.5),
            (2, "bø", 7, 1.0),
            (9, "", 4_000_000_000, 3.0),
        ];
        let bytes = encode(&rows);
        for chunk in 1..=bytes.len() {
            let got = read(&bytes, chunk).unwrap();
            assert_eq!(got.len(), 3);
            assert_eq!(got[1], (2, "bø".to_owned(), 7, 1.0));
            assert_eq!(got[2].2, 4_000_000_000);
        }
        assert!(read(&encode(&[]), 3).unwrap().is_empty());
    }

    #[test]
    fn a_broken_copy_is_an_error_that_says_what_broke() {
        let bytes = encode(&[(1, "alice", 10, 4.5), (2, "bob", 7, 1.0)]);
        let message = |r: Result<_, StoreError>| r.unwrap_err().to_string();
        assert!(message(read(&bytes[..bytes.len() - 2], 5)).contains("stopped after 2 rows"));
        assert!(message(read(&bytes[..30], 5)).contains("stopped after 0 rows"));
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(message(read(&extra, 5)).contains("after the end"));
        let mut wrong = bytes.clone();
        wrong[0] = b'X';
        assert!(message(read(&wrong, 64)).contains("not a binary copy"));
        let mut null = encode(&[(1, "alice", 10, 4.5)]);
        null[21 + 12..21 + 16].copy_from_slice(&(-1i32).to_be_bytes());
        assert!(message(read(&null, 64)).contains("a field of length -1"));
        let huge = encode(&[(1, &"x".repeat(MAX_FIELD + 1), 10, 4.5)]);
        assert!(message(read(&huge, 4096)).contains("a field of length"));
        let movie = encode(&[(5, "a", -1, 4.5)]);
        assert_eq!(
            message(read(&movie, 64)),
            "database error: rating 5 in the database: its movie id is out of range"
        );
        let mut latin = encode(&[(6, "é", 1, 4.5)]);
        latin[21 + 12 + 4] = 0xff;
        assert!(message(read(&latin, 64)).contains("not UTF-8"));
    }
}
