//! The accept loop: one task per connection, bounded in number.
//!
//! [`run`] takes its listener, the shutdown token and the daemon's state as
//! arguments, so a test binds its own socket in a temp dir and serves
//! without the binary. A failed accept is logged and retried after a
//! back-off; only cancellation ends the loop. On shutdown it stops
//! accepting and gives the open connections the configured time to finish
//! the request they are on.
//!
//! Below it: `connection` (read a line, answer it, repeat), `peer` (the
//! bounds on a peer that stalls: replies it does not read, bytes it stops
//! sending), `methods` (one handler per method), `auth` (who may call admin
//! methods), `stats` (the counters and latency histograms, which the
//! metrics endpoint reads too). The server calls the lifecycle and the
//! serving policy; they never call it.

pub mod accept;
pub mod auth;
pub mod connection;
pub mod methods;
pub mod peer;
pub mod stats;

use std::sync::Arc;
use tokio::net::UnixListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::lifecycle::State;
use accept::Accepted;

/// What the connections of one server share.
pub struct Server {
    pub state: Arc<State>,
    pub shutdown: CancellationToken,
    pub stats: stats::Stats,
    pub admin: auth::Admin,
}

impl Server {
    pub fn new(state: Arc<State>, shutdown: CancellationToken) -> Arc<Server> {
        Arc::new(Server {
            admin: auth::Admin::resolve(state.config.daemon.admin_group.as_deref()),
            stats: stats::Stats::default(),
            shutdown,
            state,
        })
    }
}

/// Serve `listener` until `shutdown` is cancelled, then wait (up to
/// `daemon.shutdown_timeout_secs`) for the open connections to finish.
pub async fn run(listener: UnixListener, shutdown: CancellationToken, state: Arc<State>) {
    serve(listener, Server::new(state, shutdown)).await
}

/// [`run`] with the server built by the caller, which shares its counters
/// (the metrics endpoint reads them).
pub async fn serve(listener: UnixListener, server: Arc<Server>) {
    let shutdown = server.shutdown.clone();
    let limits = &server.state.config.daemon;
    let max = limits.max_connections;
    let grace = limits.shutdown_timeout;
    let tracker = TaskTracker::new();
    accept::accept(&listener, &shutdown, max, "socket", |accepted| {
        let stats = &server.stats;
        stats.connections_total.inc();
        match accepted {
            Accepted::Slot(stream, _, permit) => {
                stats.connections_open.inc();
                let server = server.clone();
                tracker.spawn(async move {
                    connection::serve(stream, &server).await;
                    server.stats.connections_open.dec();
                    drop(permit);
                });
            }
            Accepted::Full(stream, _) => {
                stats.connections_rejected.inc();
                stats.count_error(crate::protocol::ErrorCode::TooManyConnections);
                tracing::warn!("connection refused: {max} connections already open");
                tracker.spawn(connection::reject(stream, max));
            }
        }
    })
    .await;
    tracker.close();
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        tracing::warn!(
            "{} connections still open after {grace:?}; closing them",
            tracker.len()
        );
    }
}
