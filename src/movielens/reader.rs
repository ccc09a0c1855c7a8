//! The driver of a ratings file's parse: it reads the file in batches of a
//! few megabytes, cuts each batch at line boundaries into one piece per
//! thread, parses the pieces at once and hands their records on in the
//! file's order, on the caller's thread while the next batch is parsed. Memory stays bounded by the batch whatever the file's size,
//! and a line longer than [`MAX_LINE`] is an error rather than a buffer
//! that grows.

use std::io::Read;
use std::path::Path;

use super::ratings_file::{malformed, parse_line, read_some, trim, Layout, Record};
use super::DatasetError;

/// Bytes one thread parses at a time.
const PIECE: usize = 4 << 20;
/// The most threads a parse uses.
const MAX_THREADS: usize = 8;
/// The longest line accepted (a MovieLens line is under 60 bytes).
pub const MAX_LINE: usize = 1 << 20;

/// Parse ratings from `reader`; `path` only names the source in errors.
/// With no `layout`, it is sniffed from the first line. Returns the number of
/// ratings passed to `sink`, which sees them in the file's order.
pub fn read(
    reader: impl Read + Send,
    path: &Path,
    layout: Option<Layout>,
    sink: impl FnMut(Record),
) -> Result<u64, DatasetError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_THREADS);
    read_with(reader, path, layout, (threads, PIECE), sink)
}

/// [`read`] with `threads` pieces of `piece` bytes a batch.
pub(crate) fn read_with(
    reader: impl Read + Send,
    path: &Path,
    layout: Option<Layout>,
    cut: (usize, usize),
    mut sink: impl FnMut(Record),
) -> Result<u64, DatasetError> {
    // One batch is parsed while the one before goes to `sink` here.
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut send = |batch| tx.send(batch).is_ok();
            if let Err(e) = parse_batches(reader, path, layout, cut, &mut send) {
                send(Err(e));
            }
        });
        let mut count: u64 = 0;
        for batch in rx {
            for records in batch? {
                count += records.len() as u64;
                records.into_iter().for_each(&mut sink);
            }
        }
        if count == 0 {
            return Err(DatasetError::Empty {
                path: path.to_owned(),
            });
        }
        Ok(count)
    })
}

/// The records of one batch, piece by piece.
type Batch = Result<Vec<Vec<Record>>, DatasetError>;

/// Read and parse `reader` a batch at a time, passing each to `send` until
/// it returns false (nobody listens any more).
fn parse_batches(
    mut reader: impl Read,
    path: &Path,
    mut layout: Option<Layout>,
    (threads, piece): (usize, usize),
    send: &mut dyn FnMut(Batch) -> bool,
) -> Result<(), DatasetError> {
    let threads = threads.max(1);
    let batch = threads * piece.max(1);
    let mut buf: Vec<u8> = Vec::new();
    // Lines wholly before `buf`.
    let mut lines_before: u64 = 0;
    let mut eof = false;
    while !eof {
        let start = buf.len();
        buf.resize(start + batch, 0);
        let mut filled = start;
        while filled < buf.len() {
            let n = read_some(&mut reader, &mut buf[filled..], path)?;
            if n == 0 {
                eof = true;
                break;
            }
            filled += n;
        }
        buf.truncate(filled);
        // Lines are parsed only when complete; at end of file the last one
        // may lack its newline.
        let complete = if eof {
            buf.len()
        } else {
            // What was kept from the last batch has no newline.
            match buf[start..].iter().rposition(|&b| b == b'\n') {
                Some(p) => start + p + 1,
                None if buf.len() > MAX_LINE => {
                    return Err(malformed(path, lines_before + 1, too_long()))
                }
                None => continue,
            }
        };
        let text = &buf[..complete];
        if layout.is_none() {
            layout = sniff(text, path, lines_before)?;
        }
        let pieces = cut(text, threads, piece);
        let header = lines_before == 0;
        let parsed: Vec<Piece> = match layout {
            // Only blank lines so far.
            None => pieces.iter().map(|&p| Piece::blank(p)).collect(),
            Some(layout) if pieces.len() == 1 => vec![Piece::parse(pieces[0], layout, header)],
            Some(layout) => std::thread::scope(|scope| {
                let handles: Vec<_> = pieces[1..]
                    .iter()
                    .map(|&p| scope.spawn(move || Piece::parse(p, layout, false)))
                    .collect();
                let mut out = vec![Piece::parse(pieces[0], layout, header)];
                // A parse cannot panic on a file's bytes; should one anyway,
                // it is the parser's bug and goes on up.
                out.extend(handles.into_iter().map(|h| h.join().unwrap()));
                out
            }),
        };
        let mut records = Vec::with_capacity(parsed.len());
        for p in parsed {
            if let Some((line, what)) = p.error {
                // What came before the bad line goes first, as it would
                // have in a sequential parse.
                records.push(p.records);
                send(Ok(records));
                return Err(malformed(path, lines_before + line, what));
            }
            lines_before += p.lines;
            records.push(p.records);
        }
        if !send(Ok(records)) {
            return Ok(());
        }
        buf.drain(..complete);
    }
    Ok(())
}

fn too_long() -> String {
    format!("the line is longer than {MAX_LINE} bytes")
}

/// The layout of the first non-blank line of `text`, if it has one.
fn sniff(text: &[u8], path: &Path, lines_before: u64) -> Result<Option<Layout>, DatasetError> {
    let Some((k, line)) = text
        .split(|&b| b == b'\n')
        .map(trim)
        .enumerate()
        .find(|(_, l)| !l.is_empty())
    else {
        return Ok(None);
    };
    Layout::sniff(line).map(Some).ok_or_else(|| {
        malformed(
            path,
            lines_before + k as u64 + 1,
            "cannot tell the layout: expected fields separated by '::', a tab or a comma".into(),
        )
    })
}

/// `text` (whole lines) in at most `threads` pieces of at least `piece`
/// bytes, each cut just after a newline.
fn cut(text: &[u8], threads: usize, piece: usize) -> Vec<&[u8]> {
    let n = text.len().div_ceil(piece.max(1)).clamp(1, threads);
    let mut out = Vec::with_capacity(n);
    let mut from = 0;
    for k in 1..n {
        let at = (text.len() * k / n).max(from);
        let end = match text[at..].iter().position(|&b| b == b'\n') {
            Some(p) => at + p + 1,
            None => text.len(),
        };
        out.push(&text[from..end]);
        from = end;
    }
    out.push(&text[from..]);
    out
}

/// What one piece held.
#[derive(Default)]
struct Piece {
    records: Vec<Record>,
    /// Lines in the piece (a last one without its newline included).
    lines: u64,
    /// The first malformed line: its number within the piece and the fault.
    error: Option<(u64, String)>,
}

impl Piece {
    fn lines_of(text: &[u8]) -> u64 {
        let newlines = text.iter().filter(|&&b| b == b'\n').count() as u64;
        newlines + u64::from(text.last().is_some_and(|&b| b != b'\n'))
    }

    fn blank(text: &[u8]) -> Piece {
        Piece {
            lines: Piece::lines_of(text),
            ..Piece::default()
        }
    }

    /// Parse `text`; with `header`, a first line of a CSV file that does
    /// not start with a digit is its header.
    fn parse(text: &[u8], layout: Layout, header: bool) -> Piece {
        let mut out = Piece::blank(text);
        out.records.reserve(text.len() / 24);
        for (k, raw) in text.split(|&b| b == b'\n').enumerate() {
            if raw.len() > MAX_LINE {
                out.error = Some((k as u64 + 1, too_long()));
                break;
            }
            let line = trim(raw);
            if line.is_empty() {
                continue;
            }
            if header
                && k == 0
                && layout == Layout::Csv
                && line.first().is_some_and(|b| !b.is_ascii_digit())
            {
                continue;
            }
            match parse_line(line, layout) {
                Ok(r) => out.records.push(r),
                Err(what) => {
                    out.error = Some((k as u64 + 1, what));
                    break;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
