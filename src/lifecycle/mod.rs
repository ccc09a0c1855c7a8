//! The model's lifecycle in the daemon: what serves, and how that changes.
//!
//! It owns the daemon's shared [`State`]: the served model (an `Arc` behind
//! an atomic swap), the models directory, the retrain jobs, the ratings
//! database's daemon side, and the shutdown token. Its entry points are the
//! things that change what serves: load at start (or train the first model,
//! downloading the dataset first if need be: `start`), reload, rollback,
//! and retrain (`retrain`); it follows `current` when another process
//! changes it (`watch`), and runs the retraining schedule (`scheduler`). The server and the signal loop call them; it
//! never knows either, and never writes a reply.
//!
//! A request loads one snapshot of the served model and keeps it to its
//! end, so a swap neither blocks nor fails a request in flight; the old
//! model is unmapped when its last request ends.

pub mod announce;
mod cpu;
pub mod db;
pub mod jobs;
pub mod memory;
mod retrain;
pub mod scheduler;
mod start;
pub mod tombstones;
mod watch;

pub use watch::WATCH_INTERVAL;

pub use retrain::RetrainError;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arc_swap::ArcSwapOption;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::model::format::ModelError;
use crate::model::publish::ModelsDir;
use crate::model::Model;
use crate::notify::Notifier;
use crate::serving::Served;
use db::Db;
use jobs::Jobs;

pub struct State {
    pub config: Config,
    pub models: ModelsDir,
    served: ArcSwapOption<Served>,
    pub jobs: Arc<Jobs>,
    pub started: Instant,
    pub notify: Notifier,
    pub shutdown: CancellationToken,
    /// The ratings database.
    pub db: Arc<Db>,
    /// The daemon's runtime, for threads outside it that need the database.
    pub runtime: tokio::runtime::Handle,
    /// Set while the dataset is being downloaded on first start.
    pub downloading: AtomicBool,
    /// Why the model serving is not the one `current` names (it could not
    /// be loaded at start); cleared when a model from `current` serves.
    degraded: Mutex<Option<String>>,
    /// Told of each run's end (`[notify]`).
    pub notifications: crate::notifications::Notifier,
    /// The runs announced, by how they ended.
    pub runs_ended: announce::Ended,
    /// The retraining schedule's live state (paused, next run).
    pub schedule: scheduler::Control,
    /// Serialises reload, rollback and the swap after a retrain, so two of
    /// them cannot interleave their read of `current` and their swap. Held
    /// only on blocking threads, never across an `.await`.
    swap_lock: Mutex<()>,
}

/// What a `forget` did: its record's id, the ratings deleted, and when
/// (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Erased {
    pub erasure: i64,
    pub deleted: u64,
    pub at: i64,
}

/// What a reload or a rollback did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swapped {
    pub previous: Option<String>,
    pub version: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("no current model in {}", .0.display())]
    NoCurrent(PathBuf),
    #[error("{error}; still serving {}", .serving.as_deref().unwrap_or("no model"))]
    Unreadable {
        error: ModelError,
        serving: Option<String>,
    },
    #[error("the reload task failed: {0}")]
    Task(String),
}

#[derive(Debug)]
pub enum RollbackError {
    /// No such version; the versions there are.
    Unknown(Vec<String>),
    Model(ModelError),
    Io(String),
}

impl State {
    /// The state for `config`, serving nothing yet; the database is not
    /// reached until [`start`](State::start). Call it on the runtime that
    /// will serve. Fails only on a malformed database URL.
    pub fn new(
        config: Config,
        notify: Notifier,
        shutdown: CancellationToken,
    ) -> Result<Arc<State>, crate::store::StoreError> {
        let db = Db::new(&config)?;
        Ok(Arc::new(State {
            db,
            runtime: tokio::runtime::Handle::current(),
            models: ModelsDir::new(&config.paths.models_dir),
            notifications: crate::notifications::Notifier::new(&config.notify),
            runs_ended: announce::Ended::default(),
            config,
            served: ArcSwapOption::empty(),
            jobs: Arc::new(Jobs::default()),
            started: Instant::now(),
            notify,
            shutdown,
            downloading: AtomicBool::new(false),
            degraded: Mutex::new(None),
            schedule: scheduler::Control::default(),
            swap_lock: Mutex::new(()),
        }))
    }

    pub fn served(&self) -> Option<Arc<Served>> {
        self.served.load_full()
    }

    /// Why the model serving is a fallback, if it is one.
    pub fn degraded(&self) -> Option<String> {
        self.degraded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A rating or a removal, committed, and the user's folded-in vector
    /// (built from their old ratings) forgotten.
    pub async fn write(
        &self,
        write: crate::store::Write,
    ) -> Result<crate::store::Done, crate::store::StoreError> {
        let user = write.user().to_owned();
        let done = self.db.write(write).await?;
        if let Some(s) = self.served() {
            s.forget(&user);
        }
        Ok(done)
    }

    /// A batch of an import's ratings, committed, and the folded-in
    /// vectors of its users forgotten; how many rows were written.
    pub async fn import(
        &self,
        batch: &[crate::store::NewRating],
    ) -> Result<u64, crate::store::StoreError> {
        let n = self.db.import(batch).await?;
        if let Some(s) = self.served() {
            let users: std::collections::HashSet<&str> =
                batch.iter().map(|r| r.user.as_str()).collect();
            for user in users {
                s.forget(user);
            }
        }
        Ok(n)
    }

    /// Erase `user` (`forget`): every rating of theirs deleted and the
    /// erasure recorded, in one transaction; then no served model answers
    /// for them with what it learnt of them, and their folded-in vector
    /// and recent ratings are gone. The erasure's record and how many
    /// ratings went.
    pub async fn forget(
        &self,
        user: &str,
        by_uid: Option<u32>,
        by_token: Option<String>,
    ) -> Result<Erased, crate::store::StoreError> {
        let at = crate::clock::unix_seconds(std::time::SystemTime::now());
        let done = self
            .write(crate::store::Write::Forget {
                user: user.to_owned(),
                at,
                by_uid,
                by_token: by_token.clone(),
            })
            .await?;
        let crate::store::Done::Forgotten { erasure, deleted } = done else {
            return Err(crate::store::StoreError::Failed(
                "the writer answered an erasure with something else".into(),
            ));
        };
        self.db.tombstones.add(user, erasure);
        // Again, now that the tombstone is there: a request that folded
        // them in meanwhile may have cached them.
        if let Some(s) = self.served() {
            s.forget(user);
        }
        tracing::info!(
            user,
            deleted,
            erasure,
            uid = by_uid,
            token = by_token.as_deref(),
            "erased a user's ratings"
        );
        Ok(Erased {
            erasure,
            deleted,
            at,
        })
    }

    /// A consistent copy of the ratings database (SQLite), in a private
    /// temp file the daemon makes beside the database and unlinks at once:
    /// what `backup` sends after its reply (and what an HTTP `backup`
    /// would send as its body).
    pub async fn backup(
        &self,
    ) -> Result<crate::store::Snapshot, crate::store::snapshot::FileError> {
        let started = std::time::Instant::now();
        let snapshot = self.db.store.snapshot().await?;
        let i = &snapshot.info;
        tracing::info!(
            bytes = i.bytes,
            ratings = i.ratings,
            users = i.users,
            "copied the ratings database in {:.2?}",
            started.elapsed()
        );
        Ok(snapshot)
    }

    /// The database for the retrain pipeline (which runs off the runtime).
    pub fn database(&self) -> crate::store::Blocking {
        crate::store::Blocking {
            store: self.db.store.clone(),
            handle: self.runtime.clone(),
        }
    }

    /// Reload `current` from disk (SIGHUP or the reload method): tell
    /// systemd, read and verify off the reactor, swap. On any failure the
    /// model in service stays; the failure is logged here.
    pub async fn reload(self: &Arc<Self>, why: &str) -> Result<Swapped, ReloadError> {
        self.notify.reloading();
        let st = self.clone();
        let result = tokio::task::spawn_blocking(move || st.reload_blocking()).await;
        let serving = self.served().map(|s| s.version().to_owned());
        let status = serving
            .as_deref()
            .map_or("no model".to_string(), |v| format!("serving model {v}"));
        self.notify.ready(&status);
        let result = match result {
            Ok(Ok(Some(s))) => Ok(s),
            Ok(Ok(None)) => Err(ReloadError::NoCurrent(self.models.path().to_owned())),
            Ok(Err(error)) => Err(ReloadError::Unreadable { error, serving }),
            Err(e) => Err(ReloadError::Task(e.to_string())),
        };
        match &result {
            Ok(s) => {
                tracing::info!(version = %s.version, previous = ?s.previous, "reloaded on {why}")
            }
            Err(e) => tracing::warn!("reload on {why} failed: {e}"),
        }
        result
    }

    /// Open the model `current` points at and swap it in. Blocking (it reads
    /// and verifies the whole file): call it off the reactor. On any error
    /// the model in service stays.
    pub fn reload_blocking(&self) -> Result<Option<Swapped>, ModelError> {
        let _guard = self.swap_lock.lock().unwrap_or_else(|e| e.into_inner());
        let Some(model) = self.models.open_current()? else {
            return Ok(None);
        };
        Ok(Some(self.swap(model)))
    }

    /// Point `current` at `version`, verified first, and serve it.
    /// Blocking: call it off the reactor.
    pub fn rollback_blocking(&self, version: &str) -> Result<Swapped, RollbackError> {
        let _guard = self.swap_lock.lock().unwrap_or_else(|e| e.into_inner());
        let known = self
            .models
            .versions()
            .map_err(|e| RollbackError::Io(e.to_string()))?;
        if !known.iter().any(|v| v == version) {
            return Err(RollbackError::Unknown(known));
        }
        let model = Model::open(&self.models.version_path(version)).map_err(|e| {
            tracing::warn!("rollback to {version} refused: {e}");
            RollbackError::Model(e)
        })?;
        self.models
            .switch_current(version)
            .map_err(|e| RollbackError::Io(e.to_string()))?;
        let swapped = self.swap(model);
        tracing::info!(version = %swapped.version, previous = ?swapped.previous, "rolled back");
        Ok(swapped)
    }

    /// Serve `model`, which `current` names (reload, rollback, retrain).
    fn swap(&self, model: Model) -> Swapped {
        *self.degraded.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.swap_in(model)
    }

    fn swap_in(&self, model: Model) -> Swapped {
        let version = model.metadata().version.clone();
        self.db.model_changed(model.metadata(), &self.runtime);
        let old = self.served.swap(Some(Arc::new(Served::new(model))));
        Swapped {
            previous: old.map(|o| o.version().to_owned()),
            version,
        }
    }
}
