//! A peer's bytes in both directions, each with a bound on how long the
//! peer may stall.
//!
//! [`Stalled`] wraps the write half: a write the peer takes no byte of for
//! the bound fails with `TimedOut`, so a client that pipelines requests and
//! never reads its replies is a dead peer, not a held connection slot.
//! [`Body`] reads the bytes an `import` request announced, right after its
//! line, each read bounded by the idle timeout.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite};
use tokio::time::Sleep;

/// A writer whose writes fail once the peer has taken no byte for `bound`.
/// The clock starts when a write first waits and stops at any progress.
pub struct Stalled<W> {
    inner: W,
    bound: Duration,
    timer: Option<Pin<Box<Sleep>>>,
}

impl<W> Stalled<W> {
    pub fn new(inner: W, bound: Duration) -> Stalled<W> {
        Stalled {
            inner,
            bound,
            timer: None,
        }
    }

    /// Ready when a write has waited for `bound`.
    fn poll_stall<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let bound = self.bound;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(bound)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the peer took no byte of its reply for {bound:?}"),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn settle<T>(&mut self, cx: &mut Context<'_>, p: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match p {
            Poll::Ready(r) => {
                self.timer = None;
                Poll::Ready(r)
            }
            Poll::Pending => self.poll_stall(cx),
        }
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Stalled<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let p = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.settle(cx, p)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let p = Pin::new(&mut this.inner).poll_flush(cx);
        this.settle(cx, p)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let p = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.settle(cx, p)
    }
}

/// Reads pass through untouched: over HTTP the stream is one object both
/// ways, and hyper bounds the reads itself.
impl<W: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Stalled<W> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

/// Why the bytes of a body stopped short.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the connection ended after {got} of the {want} bytes announced")]
    Ended { got: u64, want: u64 },
    #[error("no byte arrived for {idle:?} after {got} of the {want} bytes announced")]
    Stalled { got: u64, want: u64, idle: Duration },
    #[error("reading the bytes announced failed after {got} of {want}: {source}")]
    Io {
        got: u64,
        want: u64,
        source: io::Error,
    },
}

/// The `want` bytes that follow a request line, read in chunks.
pub struct Body<'a> {
    reader: &'a mut (dyn AsyncBufRead + Unpin + Send),
    want: u64,
    got: u64,
    idle: Duration,
    /// A read failed: the rest cannot be found in the stream.
    broken: bool,
}

impl<'a> Body<'a> {
    pub fn new(
        reader: &'a mut (dyn AsyncBufRead + Unpin + Send),
        want: u64,
        idle: Duration,
    ) -> Body<'a> {
        Body {
            reader,
            want,
            got: 0,
            idle,
            broken: false,
        }
    }

    /// Bytes announced and not read yet.
    pub fn remaining(&self) -> u64 {
        self.want - self.got
    }

    /// A read failed (or the bytes stopped arriving): the rest cannot be
    /// found in the stream, and the connection must close.
    pub fn broken(&self) -> bool {
        self.broken
    }

    /// The next chunk (at most the reader's buffer), appended to `out`;
    /// false once every announced byte has been read.
    pub async fn next_chunk(&mut self, out: &mut Vec<u8>) -> Result<bool, BodyError> {
        if self.remaining() == 0 {
            return Ok(false);
        }
        let (got, want, idle) = (self.got, self.want, self.idle);
        if self.broken {
            return Err(BodyError::Ended { got, want });
        }
        let buf = match tokio::time::timeout(idle, self.reader.fill_buf()).await {
            Ok(Ok(buf)) if !buf.is_empty() => buf,
            read => {
                self.broken = true;
                return Err(match read {
                    Ok(Ok(_)) => BodyError::Ended { got, want },
                    Ok(Err(source)) => BodyError::Io { got, want, source },
                    Err(_) => BodyError::Stalled { got, want, idle },
                });
            }
        };
        let n = buf
            .len()
            .min(usize::try_from(want - got).unwrap_or(usize::MAX));
        out.extend_from_slice(&buf[..n]);
        self.reader.consume(n);
        self.got += n as u64;
        Ok(true)
    }

    /// Read and drop what is left, so the next request line starts where
    /// the client expects it.
    pub async fn drain(&mut self) -> Result<(), BodyError> {
        let mut sink = Vec::new();
        while self.next_chunk(&mut sink).await? {
            sink.clear();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};

    #[tokio::test(start_paused = true)]
    async fn a_write_the_peer_never_takes_times_out() {
        let (a, mut b) = tokio::io::duplex(64);
        let mut w = Stalled::new(a, Duration::from_secs(5));
        let big = vec![b'x'; 1024];
        // The peer reads a little, then stops: progress resets the clock.
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 64];
            for _ in 0..4 {
                tokio::time::sleep(Duration::from_secs(3)).await;
                b.read_exact(&mut buf).await.unwrap();
            }
            b
        });
        let start = tokio::time::Instant::now();
        let e = w.write_all(&big).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(e.to_string().contains("took no byte"), "{e}");
        // Four reads three seconds apart kept it going past the bound; it
        // failed five seconds after the last.
        assert_eq!(start.elapsed().as_secs(), 17);
        let _b = reader.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_is_read_to_its_length_and_no_further() {
        let data = b"abcdefghij{\"next\":1}\n".to_vec();
        let mut r = BufReader::with_capacity(4, &data[..]);
        let mut body = Body::new(&mut r, 10, Duration::from_secs(1));
        let mut got = Vec::new();
        while body.next_chunk(&mut got).await.unwrap() {}
        assert_eq!(got, b"abcdefghij");
        let mut rest = String::new();
        r.read_to_string(&mut rest).await.unwrap();
        assert_eq!(rest, "{\"next\":1}\n");

        let mut short = BufReader::new(&b"abc"[..]);
        let mut body = Body::new(&mut short, 10, Duration::from_secs(1));
        let e = body.drain().await.unwrap_err();
        assert!(e.to_string().contains("after 3 of the 10 bytes"), "{e}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stops_arriving_is_cut_off() {
        let (mut w, r) = tokio::io::duplex(64);
        w.write_all(b"abc").await.unwrap();
        let mut r = BufReader::new(r);
        let mut body = Body::new(&mut r, 10, Duration::from_secs(2));
        let e = body.drain().await.unwrap_err();
        assert!(matches!(e, BodyError::Stalled { got: 3, .. }), "{e}");
        drop(w);
    }
}
