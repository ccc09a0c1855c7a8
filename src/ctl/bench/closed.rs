//! Closed-loop load: each connection sends its next request when the
//! reply to the last is in. All connections on one thread (an async
//! runtime), so the load generator's own context switches do not crowd
//! the cores.

use std::path::Path;
use std::time::Instant;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::requests::{record, RequestGen, Sample, Shape};
use super::Failure;
use crate::protocol::Method;

/// Where the connections go: the socket, or the HTTP API (its address and
/// a token).
#[derive(Clone)]
pub enum Target {
    Socket(std::path::PathBuf),
    Http(String, Option<String>),
}

pub fn run(
    target: &Target,
    connections: usize,
    methods: &[Method],
    shape: &Shape,
    until: Instant,
) -> Result<Vec<Vec<Sample>>, Failure> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Usage(format!("cannot start the bench runtime: {e}")))?;
    Ok(rt.block_on(async {
        let tasks: Vec<_> = (0..connections)
            .map(|t| {
                let (target, methods, shape) = (target.clone(), methods.to_vec(), shape.clone());
                tokio::spawn(async move {
                    match target {
                        Target::Socket(socket) => {
                            connection(&socket, &methods, t as u64, &shape, until).await
                        }
                        Target::Http(address, token) => {
                            let token = token.as_deref();
                            http(&address, token, &methods, t as u64, &shape, until).await
                        }
                    }
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap_or_default());
        }
        out
    }))
}

async fn connection(
    socket: &Path,
    methods: &[Method],
    conn: u64,
    shape: &Shape,
    until: Instant,
) -> Vec<Sample> {
    let mut samples: Vec<Sample> = methods.iter().map(|_| Sample::default()).collect();
    let Ok(stream) = tokio::net::UnixStream::connect(socket).await else {
        return samples;
    };
    let (rd, mut writer) = stream.into_split();
    let mut reader = BufReader::with_capacity(64 * 1024, rd);
    let mut line = Vec::with_capacity(4096);
    let mut request = Vec::with_capacity(256);
    let mut gen = RequestGen::new(conn, shape);
    while Instant::now() < until {
        request.clear();
        let (which, expect) = gen.next(methods, &mut request);
        let t0 = Instant::now();
        line.clear();
        let ok = writer.write_all(&request).await.is_ok()
            && reader
                .read_until(b'\n', &mut line)
                .await
                .map(|r| r > 0)
                .unwrap_or(false);
        if !record(&mut samples, which, t0, ok, &line, &expect) {
            break;
        }
    }
    samples
}

/// A kept-alive HTTP/1.1 connection to the API: a request, its reply's
/// head and `Content-Length` body read, the next.
async fn http(
    address: &str,
    token: Option<&str>,
    methods: &[Method],
    conn: u64,
    shape: &Shape,
    until: Instant,
) -> Vec<Sample> {
    use tokio::io::AsyncReadExt;
    let mut samples: Vec<Sample> = methods.iter().map(|_| Sample::default()).collect();
    let Ok(stream) = tokio::net::TcpStream::connect(address).await else {
        return samples;
    };
    let _ = stream.set_nodelay(true);
    let (rd, mut writer) = stream.into_split();
    let mut reader = BufReader::with_capacity(64 * 1024, rd);
    let (mut head, mut body, mut request) = (Vec::new(), Vec::new(), Vec::new());
    let mut gen = RequestGen::new(conn, shape);
    while Instant::now() < until {
        request.clear();
        let which = gen.next_http(methods, token, &mut request);
        let t0 = Instant::now();
        let mut ok = writer.write_all(&request).await.is_ok();
        // The head, line by line, to its blank line.
        let mut length = 0usize;
        let mut status_ok = false;
        let mut first = true;
        while ok {
            head.clear();
            ok = matches!(reader.read_until(b'\n', &mut head).await, Ok(n) if n > 0);
            let line = String::from_utf8_lossy(&head);
            let line = line.trim_end();
            if first {
                status_ok = line.starts_with("HTTP/1.1 200");
                first = false;
            } else if line.is_empty() {
                break;
            } else if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        body.resize(length, 0);
        ok = ok && reader.read_exact(&mut body).await.is_ok();
        let expect = if status_ok { "" } else { "HTTP/1.1 200" };
        if !record(&mut samples, which, t0, ok, b"", expect) {
            break;
        }
    }
    samples
}
