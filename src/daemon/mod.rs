//! The daemon process: bind the socket, start the lifecycle, serve, react
//! to signals, ping the watchdog, shut down cleanly.
//!
//! Startup: bind (refusing if another daemon answers on the socket,
//! replacing a stale socket file; then the metrics endpoint's address, if
//! `[metrics] listen` names one), build the state and start it (load
//! `current`, or train the first model while already answering `health`),
//! tell systemd READY=1, serve. SIGHUP reloads the model; SIGTERM/SIGINT
//! stop accepting, let requests in flight finish within
//! `shutdown_timeout_secs`, cancel a running retrain (nothing half-made is
//! published), remove the socket and return. docs/architecture.md has the
//! sequences.

mod socket;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::lifecycle::State;
use crate::notify::Notifier;
use crate::signals::{self, Signal};

pub use socket::SocketError;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Socket(#[from] SocketError),
    #[error(transparent)]
    Metrics(#[from] crate::metrics::BindError),
    #[error(transparent)]
    Http(#[from] crate::http::StartError),
    #[error("{0}")]
    Setup(String),
}

/// Run the daemon to completion on a new runtime. Returns when it has shut
/// down.
pub fn main(config: Config) -> Result<(), DaemonError> {
    crate::lifecycle::memory::cap_arenas();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("recd-worker")
        .build()
        .map_err(|e| DaemonError::Setup(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(run(config))
}

pub async fn run(config: Config) -> Result<(), DaemonError> {
    let path = config.daemon.socket.clone();
    let bound = socket::Bound::listen(&path)?;
    tracing::info!(socket = %path.display(), config = ?config.source, "recd {} listening", env!("CARGO_PKG_VERSION"));
    let metrics = match config.metrics.address {
        None => None,
        Some(address) => match crate::metrics::Endpoint::bind(address).await {
            Ok(endpoint) => Some(endpoint),
            Err(e) => {
                bound.into_parts().1.remove();
                return Err(e.into());
            }
        },
    };
    if let Some(address) = metrics.as_ref().and_then(|m| m.local_addr()) {
        tracing::info!("metrics on http://{address}/metrics and /healthz");
    }
    let http = match crate::http::Endpoint::bind(&config.http).await {
        Ok(endpoint) => endpoint,
        Err(e) => {
            bound.into_parts().1.remove();
            return Err(e.into());
        }
    };
    if let Some(http) = &http {
        if let Some(address) = http.local_addr() {
            tracing::info!("HTTP API on {}://{address}/v1/", http.scheme());
        }
    }
    let signals = signals::listen()
        .map_err(|e| DaemonError::Setup(format!("cannot install signal handlers: {e}")))?;

    let shutdown = CancellationToken::new();
    let state = State::new(config, Notifier::from_env(), shutdown.clone())
        .map_err(|e| DaemonError::Setup(e.to_string()))?;
    let status = state.start().await;
    state.notify.ready(&status);

    tokio::spawn(signal_loop(signals, state.clone()));
    tokio::spawn(state.clone().watch_current());
    tokio::spawn(
        state
            .clone()
            .run_schedule(Arc::new(crate::lifecycle::scheduler::SystemClock)),
    );
    if let Some(every) = crate::notify::watchdog_interval() {
        let st = state.clone();
        tokio::spawn(async move { watchdog(&st.notify, &st.shutdown, every / 2).await });
    }
    // The moment shutdown begins (STOPPING=1 is sent by the signal loop),
    // stop a running retrain (a connection waiting on it could not finish
    // otherwise).
    let st = state.clone();
    tokio::spawn(async move {
        st.shutdown.cancelled().await;
        if let Some(job) = st.jobs.running() {
            tracing::info!(job = job.id, "cancelling the running retrain");
            job.cancel("the daemon is shutting down");
        }
    });

    let (listener, ours) = bound.into_parts();
    let server = crate::server::Server::new(state.clone(), shutdown);
    let metrics = metrics.map(|m| tokio::spawn(m.serve(server.clone())));
    let http = http.map(|h| tokio::spawn(h.serve(server.clone())));
    crate::server::serve(listener, server).await;
    // They end with the token; their connections are cut, not waited for.
    for task in [metrics, http].into_iter().flatten() {
        let _ = task.await;
    }

    if let Some(job) = state.jobs.running() {
        job.cancel("the daemon is shutting down");
        let grace = state.config.daemon.shutdown_timeout;
        if tokio::time::timeout(grace, job.finished()).await.is_err() {
            tracing::warn!(job = job.id, "retrain did not stop within {grace:?}");
        }
    }
    ours.remove();
    tracing::info!("recd stopped");
    Ok(())
}

/// Ping systemd's watchdog every `every` until shutdown.
async fn watchdog(notify: &Notifier, shutdown: &CancellationToken, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => notify.watchdog(),
        }
    }
}

async fn signal_loop(mut signals: tokio::sync::mpsc::Receiver<Signal>, state: Arc<State>) {
    while let Some(signal) = signals.recv().await {
        match signal {
            Signal::Reload => {
                // Logged by the lifecycle, success or failure.
                let _ = state.reload("SIGHUP").await;
            }
            Signal::Shutdown(name) if state.shutdown.is_cancelled() => {
                tracing::debug!("{name} again: already shutting down");
            }
            Signal::Shutdown(name) => {
                tracing::info!("shutting down on {name}");
                // Told before anything stops: the process may be gone before
                // a task spawned to say it would run.
                state.notify.stopping();
                state.shutdown.cancel();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_watchdog_is_pinged_each_interval_until_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        listener.set_nonblocking(true).unwrap();
        let notify = Notifier::to_socket(&path).unwrap();
        let shutdown = CancellationToken::new();
        let every = Duration::from_secs(15);
        let pings = watchdog(&notify, &shutdown, every);
        // An hour of the paused clock, read as it passes (a datagram
        // socket's queue is short): a ping at once, then one every 15 s.
        let count = async {
            let mut buf = [0u8; 64];
            let mut n = 0;
            for _ in 0..3600 / 5 {
                tokio::time::sleep(every / 3).await;
                while let Ok(len) = listener.recv(&mut buf) {
                    assert_eq!(&buf[..len], b"WATCHDOG=1");
                    n += 1;
                }
            }
            shutdown.cancel();
            n
        };
        let ((), n) = tokio::join!(pings, count);
        assert_eq!(n, 3600 / 15 + 1);
    }
}
