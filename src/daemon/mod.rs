//! The daemon: bind the socket, load the model, serve, react to signals,
//! shut down cleanly.
//!
//! Startup: validate config, bind (refusing if another daemon answers on the
//! socket, replacing a stale socket file), load `current` (or, with no model
//! yet, start training one while already answering `health`), tell systemd
//! READY=1. SIGHUP reloads the model from disk; SIGTERM/SIGINT stop
//! accepting, let requests in flight finish within `shutdown_timeout_secs`,
//! cancel a running retrain (nothing half-made is published), remove the
//! socket and return. docs/architecture.md has the sequences.

pub mod db;
pub mod state;

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::jobs::Job;
use crate::notify::Notifier;
use crate::protocol::{Error, ErrorCode};
use crate::signals::{self, Signal};
use crate::train::pipeline;
use state::{State, Swapped};

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{}: another recd is already serving on this socket", .0.display())]
    AlreadyRunning(PathBuf),
    #[error("{}: {what}", path.display())]
    Socket { path: PathBuf, what: String },
    #[error("{0}")]
    Setup(String),
}

/// Run the daemon to completion on a new runtime. Returns when it has shut
/// down.
pub fn main(config: Config) -> Result<(), DaemonError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("recd-worker")
        .build()
        .map_err(|e| DaemonError::Setup(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(run(config))
}

pub async fn run(config: Config) -> Result<(), DaemonError> {
    let socket = config.daemon.socket.clone();
    let listener = bind(&socket)?;
    let ours = std::fs::metadata(&socket).map(|m| (m.dev(), m.ino())).ok();
    tracing::info!(socket = %socket.display(), config = ?config.source, "recd {} listening", env!("CARGO_PKG_VERSION"));
    let signals = signals::listen()
        .map_err(|e| DaemonError::Setup(format!("cannot install signal handlers: {e}")))?;

    let db = db::Db::new(&config).map_err(|e| DaemonError::Setup(e.to_string()))?;
    let state = Arc::new(State::new(
        config,
        db.clone(),
        Notifier::from_env(),
        CancellationToken::new(),
    ));
    tokio::spawn(db.prepare(state.config.paths.dataset.clone(), state.shutdown.clone()));
    let status = load_at_start(&state).await;
    state.notify.ready(&status);

    tokio::spawn(signal_loop(signals, state.clone()));
    if let Some(every) = crate::notify::watchdog_interval() {
        let st = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every / 2);
            loop {
                tokio::select! {
                    _ = st.shutdown.cancelled() => break,
                    _ = tick.tick() => st.notify.watchdog(),
                }
            }
        });
    }

    // The moment shutdown begins (STOPPING=1 is sent by the signal loop), stop a running retrain
    // (a connection waiting on it could not finish otherwise).
    let st = state.clone();
    tokio::spawn(async move {
        st.shutdown.cancelled().await;
        if let Some(job) = st.jobs.running() {
            tracing::info!(job = job.id, "cancelling the running retrain");
            job.cancel();
        }
    });

    crate::server::run(listener, state.clone()).await;

    if let Some(job) = state.jobs.running() {
        job.cancel();
        let grace = state.config.daemon.shutdown_timeout;
        if tokio::time::timeout(grace, job.finished()).await.is_err() {
            tracing::warn!(job = job.id, "retrain did not stop within {grace:?}");
        }
    }
    remove_socket(&socket, ours);
    tracing::info!("recd stopped");
    Ok(())
}

/// Load `current`; with no model, start training the first one. Returns the
/// status line for systemd.
async fn load_at_start(state: &Arc<State>) -> String {
    let st = state.clone();
    let loaded = tokio::task::spawn_blocking(move || st.reload_blocking()).await;
    match loaded {
        Ok(Ok(Some(s))) => {
            tracing::info!(version = %s.version, "serving model {}", s.version);
            format!("serving model {}", s.version)
        }
        Ok(Ok(None)) => first_model(state),
        Ok(Err(e)) => {
            tracing::error!(
                "the current model cannot be served: {e}; fix or roll back, then reload"
            );
            "no model: the current model file is unreadable".into()
        }
        Err(e) => {
            tracing::error!("loading the model failed: {e}");
            "no model".into()
        }
    }
}

fn first_model(state: &Arc<State>) -> String {
    let dataset = &state.config.paths.dataset;
    if dataset.is_dir() {
        return train_first(state);
    }
    let Some(url) = state.config.paths.dataset_url.clone() else {
        tracing::error!(
            "no model yet and no dataset at {}: {}",
            dataset.display(),
            PUT_FILES
        );
        return format!("no model: no dataset at {}", dataset.display());
    };
    state.downloading.store(true, Ordering::Relaxed);
    let st = state.clone();
    let spawned = std::thread::Builder::new()
        .name("recd-download".into())
        .spawn(move || download_then_train(&st, &url));
    if let Err(e) = spawned {
        state.downloading.store(false, Ordering::Relaxed);
        tracing::error!("cannot start the download: {e}");
    }
    "downloading the dataset".into()
}

/// Download the dataset from `url`, then train the first model on it; on
/// the download's thread.
fn download_then_train(st: &Arc<State>, url: &str) {
    let (dest, md5) = (
        st.config.paths.dataset.clone(),
        &st.config.paths.dataset_md5,
    );
    tracing::info!(
        "no model and no dataset: downloading {url} into {}",
        dest.display()
    );
    let mut next_report = 0u64;
    let result = crate::train::download::fetch(url, md5, &dest, &mut |done, total| {
        if done < next_report {
            return;
        }
        match total {
            Some(t) => tracing::info!(
                "downloading the dataset: {:.1} of {:.1} MB",
                done as f64 / 1e6,
                t as f64 / 1e6
            ),
            None => tracing::info!("downloading the dataset: {:.1} MB", done as f64 / 1e6),
        }
        next_report = done + total.map_or(4 << 20, |t| (t / 10).max(1));
    });
    st.downloading.store(false, Ordering::Relaxed);
    match result {
        Ok(()) => {
            tracing::info!("dataset ready in {}", dest.display());
            train_first(st);
        }
        Err(e) => {
            tracing::error!("{e}");
            tracing::error!("no model: {} (directory {})", PUT_FILES, dest.display());
            st.notify
                .status(&format!("no model: no dataset at {}", dest.display()));
        }
    }
}

const PUT_FILES: &str = "put the MovieLens 1M files (ratings.dat, movies.dat, from ml-1m.zip) in the directory \
     paths.dataset names, or point paths.dataset at a MovieLens directory, then call retrain or restart";

fn train_first(state: &Arc<State>) -> String {
    let dataset = &state.config.paths.dataset;
    let opts = pipeline::Options {
        database: Some(state.database()),
        ..pipeline::Options::from_config(&state.config)
    };
    match start_retrain(state, opts) {
        Ok(job) => {
            tracing::info!(
                job = job.id,
                "no model yet: training the first one from {}",
                dataset.display()
            );
            "training the first model".into()
        }
        Err(running) => format!("training (job {running})"),
    }
}

/// Start a retrain job whose success swaps the new model in.
pub fn start_retrain(state: &Arc<State>, opts: pipeline::Options) -> Result<Arc<Job>, u64> {
    let st = state.clone();
    let job = state.jobs.start(opts, move |result| match result {
        Ok(outcome) if outcome.published => {
            let swapped = st.reload_blocking().map_err(|e| format!("published but not served: {e}"))?;
            if let Some(s) = swapped {
                tracing::info!(version = %s.version, previous = ?s.previous, "retrained model now serving");
                st.notify.status(&format!("serving model {}", s.version));
            }
            Ok(())
        }
        Ok(outcome) => {
            tracing::info!("retrain skipped: {}", outcome.skipped.as_deref().unwrap_or("nothing to do"));
            Ok(())
        }
        Err(e) => {
            tracing::error!("retrain failed: {e}; the served model is unchanged");
            Ok(())
        }
    })?;
    state.notify.status(&format!("retraining (job {})", job.id));
    Ok(job)
}

/// Reload `current` from disk (SIGHUP or the reload method).
pub async fn reload(state: &Arc<State>, why: &str) -> Result<Swapped, Error> {
    state.notify.reloading();
    let st = state.clone();
    let result = tokio::task::spawn_blocking(move || st.reload_blocking()).await;
    let serving = state.served().map(|s| s.version().to_owned());
    let status = serving
        .as_deref()
        .map_or("no model".to_string(), |v| format!("serving model {v}"));
    state.notify.ready(&status);
    match result {
        Ok(Ok(Some(s))) => {
            tracing::info!(version = %s.version, previous = ?s.previous, "reloaded on {why}");
            Ok(s)
        }
        Ok(Ok(None)) => {
            let e = Error::new(
                ErrorCode::ReloadFailed,
                format!("no current model in {}", state.models.path().display()),
            );
            tracing::warn!("reload on {why} failed: {e}");
            Err(e)
        }
        Ok(Err(e)) => {
            tracing::warn!(
                "reload on {why} failed, still serving {}: {e}",
                serving.as_deref().unwrap_or("nothing")
            );
            Err(Error::new(
                ErrorCode::ReloadFailed,
                format!(
                    "{e}; still serving {}",
                    serving.as_deref().unwrap_or("no model")
                ),
            ))
        }
        Err(e) => Err(Error::new(ErrorCode::Internal, e.to_string())),
    }
}

async fn signal_loop(mut signals: tokio::sync::mpsc::Receiver<Signal>, state: Arc<State>) {
    while let Some(signal) = signals.recv().await {
        match signal {
            Signal::Reload => {
                let _ = reload(&state, "SIGHUP").await;
            }
            Signal::Shutdown => {
                tracing::info!("shutting down on signal");
                // Told before anything stops: the process may be gone before
                // a task spawned to say it would run.
                state.notify.stopping();
                state.shutdown.cancel();
            }
        }
    }
}

/// Bind the socket: refuse if a daemon answers on it, replace a stale one,
/// create it with mode 0660.
fn bind(path: &Path) -> Result<tokio::net::UnixListener, DaemonError> {
    let err = |what: String| DaemonError::Socket {
        path: path.to_owned(),
        what,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| err(format!("cannot create its directory: {e}")))?;
    }
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(err(
                "exists and is not a socket; refusing to replace it".into()
            ));
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(DaemonError::AlreadyRunning(path.to_owned()));
        }
        tracing::info!("removing stale socket {}", path.display());
        std::fs::remove_file(path)
            .map_err(|e| err(format!("cannot remove the stale socket: {e}")))?;
    }
    // The socket is created with mode 0777 & !umask: 0660 from the start, so
    // there is no moment when others could connect.
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o117));
    let bound = std::os::unix::net::UnixListener::bind(path);
    nix::sys::stat::umask(old);
    let listener = bound.map_err(|e| err(format!("cannot bind: {e}")))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .map_err(|e| err(format!("cannot set its mode: {e}")))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| err(e.to_string()))?;
    tokio::net::UnixListener::from_std(listener).map_err(|e| err(e.to_string()))
}

/// Remove the socket if it is still the one we bound.
fn remove_socket(path: &Path, ours: Option<(u64, u64)>) {
    let same = std::fs::metadata(path).map(|m| (m.dev(), m.ino())).ok() == ours && ours.is_some();
    if same {
        if let Err(e) = std::fs::remove_file(path) {
            tracing::warn!("cannot remove {}: {e}", path.display());
        }
    }
}
