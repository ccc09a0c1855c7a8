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

pub fn run(
    socket: &Path,
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
                let (socket, methods, shape) = (socket.to_owned(), methods.to_vec(), shape.clone());
                tokio::spawn(
                    async move { connection(&socket, &methods, t as u64, &shape, until).await },
                )
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
