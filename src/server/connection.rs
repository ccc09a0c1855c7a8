//! One client connection: read a line, answer it, repeat.
//!
//! Requests on a connection are answered in order, each reply carrying its
//! request's id, so a client may pipeline. A line is capped in length
//! (`line_too_long`, then the connection closes), an idle connection is
//! closed after the configured timeout, so is one whose peer takes no byte
//! of a reply for the write timeout, and on shutdown the request in flight
//! is finished before the connection closes. An `import`'s bytes follow its
//! line; when the request is refused before they are read, they are
//! skipped (or the connection closes, past the import limit). A `backup`'s
//! bytes follow its reply line. Nothing a peer sends
//! can panic the daemon: every fault becomes an error reply.

use std::time::Instant;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use super::auth::Caller;
use super::methods::{self, Ctx};
use super::peer::{Body, Stalled};
use super::Server;
use crate::protocol::{self, Error, ErrorCode, Reply};

enum Line {
    Complete(Vec<u8>),
    TooLong,
    Eof,
}

/// Read one `\n`-terminated line of at most `max` bytes (the newline not
/// counted). A longer line is not buffered beyond `max`.
async fn read_line<R: AsyncBufRead + Unpin>(reader: &mut R, max: usize) -> std::io::Result<Line> {
    let mut line = Vec::new();
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            // A last line without its newline still counts.
            return Ok(if line.is_empty() {
                Line::Eof
            } else {
                Line::Complete(line)
            });
        }
        match buf.iter().position(|&b| b == b'\n') {
            Some(p) => {
                if line.len() + p > max {
                    return Ok(Line::TooLong);
                }
                line.extend_from_slice(&buf[..p]);
                reader.consume(p + 1);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Line::Complete(line));
            }
            None => {
                let n = buf.len();
                if line.len() + n > max {
                    return Ok(Line::TooLong);
                }
                line.extend_from_slice(buf);
                reader.consume(n);
            }
        }
    }
}

pub async fn serve(stream: UnixStream, server: &Server) {
    let peer = stream.peer_cred().ok().map(|c| (c.uid(), c.gid(), c.pid()));
    let (rd, wr) = stream.into_split();
    let mut reader = BufReader::with_capacity(16 * 1024, rd);
    let limits = &server.state.config.daemon;
    let mut wr = Stalled::new(wr, limits.write_timeout);
    let stats = &server.stats;
    loop {
        let next = tokio::select! {
            biased;
            _ = server.shutdown.cancelled() => break,
            r = tokio::time::timeout(limits.idle_timeout, read_line(&mut reader, limits.max_line_bytes)) => r,
        };
        let line = match next {
            Err(_idle) => {
                tracing::debug!("closing a connection idle for {:?}", limits.idle_timeout);
                break;
            }
            Ok(Err(e)) => {
                tracing::debug!("connection read error: {e}");
                break;
            }
            Ok(Ok(Line::Eof)) => break,
            Ok(Ok(Line::TooLong)) => {
                let e = Error::new(
                    ErrorCode::LineTooLong,
                    format!(
                        "request line longer than {} bytes; closing the connection",
                        limits.max_line_bytes
                    ),
                );
                stats.count_error(e.code);
                tracing::warn!("{e}");
                let _ = wr
                    .write_all(&Reply::error(serde_json::Value::Null, e).to_line())
                    .await;
                break;
            }
            Ok(Ok(Line::Complete(line))) => line,
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let started = Instant::now();
        let (reply, body, trailer) = match protocol::parse_request(&line) {
            Err((id, e)) => {
                stats.count_error(e.code);
                tracing::debug!("rejected request: {e}");
                (Reply::error(id, e).to_line(), 0, None)
            }
            Ok((id, req)) => {
                let announced = req.body_bytes();
                let mut ctx = Ctx {
                    server,
                    caller: Caller::Socket(peer),
                    id: Some(&id),
                    out: &mut wr,
                    body: Body::new(&mut reader, announced, limits.idle_timeout),
                    trailer: None,
                };
                let answer = methods::answer(req, &mut ctx, started).await;
                // Bytes that stopped short cannot be skipped: close.
                let unread = if ctx.body.broken() {
                    u64::MAX
                } else {
                    ctx.body.remaining()
                };
                let trailer = ctx.trailer.take();
                let reply = match answer {
                    Ok(result) => result_line(&id, &result),
                    Err(e) => Reply::error(id, e).to_line(),
                };
                (reply, unread, trailer)
            }
        };
        if let Err(e) = wr.write_all(&reply).await {
            tracing::debug!("closing a connection whose peer does not read: {e}");
            break;
        }
        // The bytes the reply announced (`backup`): all of them, or the
        // connection closes, since the peer cannot find the next reply.
        if let Some(file) = trailer {
            let mut file = tokio::fs::File::from_std(file);
            if let Err(e) = tokio::io::copy(&mut file, &mut wr).await {
                tracing::warn!("closing a connection whose reply's bytes could not be sent: {e}");
                break;
            }
        }
        // Bytes a refused request announced are not requests: skip them, or
        // close when they are too many to read.
        if body > 0 && !skip(&mut reader, body, limits).await {
            break;
        }
    }
}

/// Read and drop `n` bytes announced by a request that did not take them;
/// false when the connection must close instead.
async fn skip(
    reader: &mut BufReader<tokio::net::unix::OwnedReadHalf>,
    n: u64,
    limits: &crate::config::Daemon,
) -> bool {
    if n > limits.max_import_bytes {
        return false;
    }
    Body::new(reader, n, limits.idle_timeout)
        .drain()
        .await
        .is_ok()
}

/// `{"id":ID,"result":RESULT}` and a newline, from an already serialised result.
fn result_line(id: &serde_json::Value, result: &serde_json::value::RawValue) -> Vec<u8> {
    let mut out = Vec::with_capacity(result.get().len() + 32);
    out.extend_from_slice(b"{\"id\":");
    // A Value (a number or a string here) always serialises.
    let _ = serde_json::to_writer(&mut out, id);
    out.extend_from_slice(b",\"result\":");
    out.extend_from_slice(result.get().as_bytes());
    out.extend_from_slice(b"}\n");
    out
}

/// Tell a client over the connection limit why it is turned away.
pub async fn reject(mut stream: UnixStream, max: usize) {
    let e = Error::new(
        ErrorCode::TooManyConnections,
        format!("the daemon serves its maximum of {max} connections; try again later"),
    );
    let _ = stream
        .write_all(&Reply::error(serde_json::Value::Null, e).to_line())
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8], max: usize) -> Vec<String> {
        let mut r = BufReader::with_capacity(4, input);
        let mut out = Vec::new();
        loop {
            match read_line(&mut r, max).await.unwrap() {
                Line::Complete(l) => out.push(String::from_utf8(l).unwrap()),
                Line::TooLong => {
                    out.push("<too long>".into());
                    break;
                }
                Line::Eof => break,
            }
        }
        out
    }

    #[tokio::test]
    async fn lines_are_split_capped_and_crlf_tolerant() {
        assert_eq!(lines(b"ab\ncd\r\nef", 10).await, ["ab", "cd", "ef"]);
        assert_eq!(lines(b"0123456789\nx\n", 10).await, ["0123456789", "x"]);
        assert_eq!(lines(b"0123456789A\nx\n", 10).await, ["<too long>"]);
        assert_eq!(lines(b"0123456789ABCDEF", 10).await, ["<too long>"]);
        assert!(lines(b"", 10).await.is_empty());
    }
}
