//! The accept loop: one task per connection, bounded in number.
//!
//! It takes its listener and the daemon state (with the shutdown token) as
//! arguments, so a test can bind its own socket. A failed accept is logged
//! and retried after a back-off; only cancellation ends the loop. On
//! shutdown it stops accepting and gives the open connections the
//! configured time to finish the request they are on.

pub mod connection;
pub mod methods;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UnixListener;
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

use crate::daemon::state::State;

pub async fn run(listener: UnixListener, state: Arc<State>) {
    let tracker = TaskTracker::new();
    let max = state.config.daemon.max_connections;
    let slots = Arc::new(Semaphore::new(max));
    let mut backoff = Duration::from_millis(10);
    loop {
        let accepted = tokio::select! {
            _ = state.shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, _)) => {
                backoff = Duration::from_millis(10);
                state
                    .stats
                    .connections_total
                    .fetch_add(1, Ordering::Relaxed);
                match slots.clone().try_acquire_owned() {
                    Ok(permit) => {
                        state.stats.connections_open.fetch_add(1, Ordering::Relaxed);
                        let st = state.clone();
                        tracker.spawn(async move {
                            connection::serve(stream, st).await;
                            drop(permit);
                        });
                    }
                    Err(_) => {
                        state
                            .stats
                            .connections_rejected
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::warn!("connection refused: {max} connections already open");
                        tracker.spawn(connection::reject(stream, max));
                    }
                }
            }
            Err(e) => {
                // Out of descriptors or memory: wait and try again rather than spin.
                tracing::error!("accept failed: {e}; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
    tracker.close();
    let grace = state.config.daemon.shutdown_timeout;
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        tracing::warn!(
            "{} connections still open after {grace:?}; closing them",
            tracker.len()
        );
    }
}
