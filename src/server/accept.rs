//! The accept loop every listener of the daemon shares (the socket, the
//! metrics endpoint, the HTTP API): accept until shutdown, at most `max`
//! connections at once, back off when accepting fails (out of descriptors
//! or memory) rather than spin.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// A listener: Unix or TCP.
pub trait Listen {
    type Stream;
    type Peer;
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, Self::Peer)>> + Send;
}

impl Listen for tokio::net::UnixListener {
    type Stream = tokio::net::UnixStream;
    type Peer = tokio::net::unix::SocketAddr;
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, Self::Peer)>> + Send {
        tokio::net::UnixListener::accept(self)
    }
}

impl Listen for tokio::net::TcpListener {
    type Stream = tokio::net::TcpStream;
    type Peer = std::net::SocketAddr;
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, Self::Peer)>> + Send {
        tokio::net::TcpListener::accept(self)
    }
}

/// A connection accepted: with its slot (hold the permit while serving
/// it), or past the limit.
pub enum Accepted<S, P> {
    Slot(S, P, OwnedSemaphorePermit),
    Full(S, P),
}

/// Accept from `listener` until `shutdown`, handing each connection to
/// `each`; `what` names the listener in the log.
pub async fn accept<L: Listen>(
    listener: &L,
    shutdown: &CancellationToken,
    max: usize,
    what: &str,
    mut each: impl FnMut(Accepted<L::Stream, L::Peer>),
) {
    let slots = Arc::new(Semaphore::new(max));
    let mut backoff = Duration::from_millis(10);
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = Duration::from_millis(10);
                match slots.clone().try_acquire_owned() {
                    Ok(permit) => each(Accepted::Slot(stream, peer, permit)),
                    Err(_) => each(Accepted::Full(stream, peer)),
                }
            }
            Err(e) => {
                tracing::error!("{what}: accept failed: {e}; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}
