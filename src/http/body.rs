//! Bodies both ways: a request's bytes read within their limits, and
//! replies, whole or streamed as JSON lines.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body as _, Frame, Incoming, SizeHint};
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{HeaderMap, Response, StatusCode};
use serde::Serialize;
use tokio::io::{AsyncBufRead, AsyncRead, ReadBuf};
use tokio::sync::mpsc;
use tokio_util::sync::PollSender;

use crate::protocol::{Error, ErrorCode};
use crate::server::methods::Raw;

/// A reply's body.
pub type Body = BoxBody<Bytes, Infallible>;

pub const JSON: &str = "application/json";
pub const JSON_LINES: &str = "application/x-ndjson";

/// A reply of `status` whose body is `value` as JSON.
pub fn json(status: StatusCode, value: &impl Serialize) -> Response<Body> {
    let mut text = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    text.push(b'\n');
    bytes(status, JSON, text)
}

pub fn bytes(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body)).boxed());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// A file streamed as it is read (a backup's copy); a read that fails
/// ends the body short, which the client sees against `Content-Length`.
pub struct FileBody {
    file: tokio::fs::File,
    buf: bytes::BytesMut,
}

impl FileBody {
    pub fn new(file: std::fs::File) -> FileBody {
        FileBody {
            file: tokio::fs::File::from_std(file),
            buf: bytes::BytesMut::with_capacity(256 * 1024),
        }
    }
}

impl hyper::body::Body for FileBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        if this.buf.capacity() - this.buf.len() < 64 * 1024 {
            this.buf.reserve(256 * 1024);
        }
        match ready!(tokio_util::io::poll_read_buf(
            Pin::new(&mut this.file),
            cx,
            &mut this.buf
        )) {
            Ok(0) => Poll::Ready(None),
            Ok(_) => Poll::Ready(Some(Ok(Frame::data(this.buf.split().freeze())))),
            Err(e) => {
                tracing::warn!("http: reading a backup's copy: {e}");
                Poll::Ready(None)
            }
        }
    }
}

/// A method's result: 200, the result as the socket's `result` holds it.
pub fn result(raw: &Raw) -> Response<Body> {
    let mut text = raw.get().as_bytes().to_vec();
    text.push(b'\n');
    bytes(StatusCode::OK, JSON, text)
}

/// An error reply: the code's status, `{"error": {...}}`.
pub fn error(e: Error) -> Response<Body> {
    let status =
        StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = json(status, &ErrorBody { error: &e });
    if e.code == ErrorCode::Unauthorized {
        r.headers_mut().insert(
            hyper::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"recd\""),
        );
    }
    r
}

#[derive(Serialize)]
pub struct ErrorBody<'a> {
    pub error: &'a Error,
}

/// The length a request announces, if it does.
pub fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// A request's JSON body within the socket's limits: at most
/// `daemon.max_line_bytes`, arriving within `daemon.idle_timeout_secs`;
/// None when it is empty.
pub async fn read_json(
    req: hyper::Request<Incoming>,
    limits: &crate::config::Daemon,
) -> Result<Option<serde_json::Value>, Error> {
    let (parts, body) = req.into_parts();
    let (headers, max, idle) = (&parts.headers, limits.max_line_bytes, limits.idle_timeout);
    let too_large = || {
        Error::new(
            ErrorCode::BodyTooLarge,
            format!("the body is larger than daemon.max_line_bytes ({max} bytes)"),
        )
    };
    if content_length(headers).is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let collected = tokio::time::timeout(idle, Limited::new(body, max).collect())
        .await
        .map_err(|_| {
            Error::new(
                ErrorCode::InvalidRequest,
                format!("the body did not arrive within {idle:?}"),
            )
        })?
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                too_large()
            } else {
                Error::new(ErrorCode::InvalidRequest, format!("reading the body: {e}"))
            }
        })?;
    let bytes = collected.to_bytes();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| Error::new(ErrorCode::ParseError, format!("invalid JSON: {e}")))
}

/// A request's body as a byte reader, for `import`.
pub struct Reader {
    body: Incoming,
    chunk: Bytes,
    done: bool,
}

impl Reader {
    pub fn new(body: Incoming) -> Reader {
        Reader {
            body,
            chunk: Bytes::new(),
            done: false,
        }
    }
}

impl AsyncBufRead for Reader {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        while this.chunk.is_empty() && !this.done {
            match ready!(Pin::new(&mut this.body).poll_frame(cx)) {
                None => this.done = true,
                Some(Err(e)) => return Poll::Ready(Err(io::Error::other(e))),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        this.chunk = data;
                    }
                }
            }
        }
        Poll::Ready(Ok(&this.chunk))
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        self.get_mut().chunk.advance(amt);
    }
}

impl AsyncRead for Reader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let have = ready!(self.as_mut().poll_fill_buf(cx))?;
        let n = have.len().min(buf.remaining());
        buf.put_slice(&have[..n]);
        self.consume(n);
        Poll::Ready(Ok(()))
    }
}

/// What a streamed reply carries: lines as they come, then the outcome.
pub enum Part {
    Line(Bytes),
    End(Result<Raw, Error>),
}

/// The write end of a streamed reply: each write is one line of it. A
/// write fails once the peer has gone (the reply was dropped).
pub struct LineWriter(pub PollSender<Part>);

impl tokio::io::AsyncWrite for LineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let gone = || io::Error::new(io::ErrorKind::BrokenPipe, "the HTTP peer has gone");
        ready!(self.0.poll_reserve(cx)).map_err(|_| gone())?;
        self.0
            .send_item(Part::Line(Bytes::copy_from_slice(buf)))
            .map_err(|_| gone())?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A streamed reply's body: the lines, then a last line with the result
/// (`{"result": ...}`) or the error (`{"error": ...}`).
pub struct Lines {
    first: Option<Part>,
    rx: mpsc::Receiver<Part>,
}

impl Lines {
    pub fn new(first: Part, rx: mpsc::Receiver<Part>) -> Lines {
        Lines {
            first: Some(first),
            rx,
        }
    }
}

fn end_line(end: Result<Raw, Error>) -> Bytes {
    #[derive(Serialize)]
    struct Ok<'a> {
        result: &'a Raw,
    }
    let mut line = match &end {
        Result::Ok(raw) => serde_json::to_vec(&Ok { result: raw }),
        Err(e) => serde_json::to_vec(&ErrorBody { error: e }),
    }
    .unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

impl hyper::body::Body for Lines {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let part = match self.first.take() {
            Some(p) => Some(p),
            None => ready!(self.rx.poll_recv(cx)),
        };
        Poll::Ready(part.map(|p| {
            Ok(Frame::data(match p {
                Part::Line(b) => b,
                Part::End(end) => end_line(end),
            }))
        }))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}
