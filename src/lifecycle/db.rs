//! The daemon's side of the ratings database: reaching it (and retrying
//! while it is down, without holding up serving), the movie catalogue that
//! ratings are checked against, the group-commit writer, the ratings newer
//! than the served model, kept in memory in step with writes, the users
//! erased by `forget` ([`Tombstones`]), and the count of ratings written.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use tokio_util::sync::CancellationToken;

use super::tombstones::Tombstones;
use crate::config::Config;
use crate::store::writer::Writer;
use crate::store::{Store, StoreError, Write};

/// Database ratings newer than the served model's watermark, by user: what
/// the model does not know. Users the model has not seen are folded in from
/// here, and every user's newer ratings are left out of their
/// recommendations, without a query on the request path.
#[derive(Debug, Default)]
struct Recent {
    /// Movie id and rating, per user.
    by_user: HashMap<String, Vec<(u32, f32)>>,
}

impl Recent {
    fn apply(&mut self, write: &Write) {
        match write {
            Write::Rate(r) => {
                let list = self.by_user.entry(r.user.clone()).or_default();
                list.retain(|&(m, _)| m != r.movie);
                list.push((r.movie, r.rating));
            }
            Write::Unrate { user, movie } => {
                if let Some(list) = self.by_user.get_mut(user) {
                    list.retain(|&(m, _)| m != *movie);
                    if list.is_empty() {
                        self.by_user.remove(user);
                    }
                }
            }
            Write::Forget { user, .. } => {
                self.by_user.remove(user);
            }
        }
    }
}

/// The recent ratings and the writes applied while a reload of them runs.
#[derive(Default)]
struct RecentState {
    current: Option<Recent>,
    /// Some while a reload runs: writes it may not have seen.
    pending: Option<Vec<Write>>,
}

impl RecentState {
    /// A write committed: applied to the recent ratings, and kept for a
    /// reload that runs meanwhile.
    fn follow(&mut self, write: Write) {
        if let Some(cur) = self.current.as_mut() {
            cur.apply(&write);
        }
        if let Some(pending) = self.pending.as_mut() {
            pending.push(write);
        }
    }
}

/// The database has not been reached (or migrated) yet: why.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct NotReady(pub String);

/// The reason recorded for a run the daemon was stopped or killed during.
const ABANDONED: &str = "interrupted: the daemon stopped before the run ended";

pub struct Db {
    pub store: Store,
    pub writer: Writer,
    recent: Mutex<RecentState>,
    /// The served model's watermark, which `recent` follows.
    watermark: AtomicI64,
    /// Movie ids in the catalogue; None until the database has been reached
    /// and migrated.
    catalogue: ArcSwapOption<HashSet<u32>>,
    /// Why it is not ready, for the error replies meanwhile.
    last_error: Mutex<String>,
    /// When this daemon started (Unix seconds): runs its predecessors left
    /// `running` started before.
    started_at: i64,
    /// Ratings this daemon has written (`rate` and `import`).
    written: AtomicU64,
    /// Users no model trained before their erasure may answer for.
    pub tombstones: Tombstones,
}

impl Db {
    /// Set up the pool (no connection yet) and the writer. Fails only on a
    /// malformed URL.
    pub fn new(config: &Config) -> Result<Arc<Db>, StoreError> {
        let store = Store::connect_lazy(&config.database.target, config.database.options())?;
        Ok(Arc::new(Db {
            writer: Writer::spawn(store.clone()),
            store,
            catalogue: ArcSwapOption::empty(),
            last_error: Mutex::new("not connected yet".into()),
            recent: Mutex::new(RecentState::default()),
            watermark: AtomicI64::new(0),
            started_at: crate::clock::unix_seconds(std::time::SystemTime::now()),
            written: AtomicU64::new(0),
            tombstones: Tombstones::default(),
        }))
    }

    /// The catalogue, once the database is ready.
    pub fn catalogue(&self) -> Result<Arc<HashSet<u32>>, NotReady> {
        self.catalogue.load_full().ok_or_else(|| {
            let why = self
                .last_error
                .lock()
                .map(|e| e.clone())
                .unwrap_or_default();
            NotReady(format!(
                "the ratings database ({}) is not ready: {why}",
                self.store.target().display()
            ))
        })
    }

    /// A user's ratings that the served model does not know (movie id,
    /// rating); None when they could not be loaded (the database is
    /// unavailable).
    pub fn recent_for(&self, user: &str) -> Option<Vec<(u32, f32)>> {
        let st = self.recent.lock().ok()?;
        let recent = st.current.as_ref()?;
        Some(recent.by_user.get(user).cloned().unwrap_or_default())
    }

    /// Write through the group-commit writer, then keep the recent ratings
    /// in step.
    pub async fn write(&self, write: Write) -> Result<crate::store::Done, StoreError> {
        let done = self.writer.submit(write.clone()).await?;
        if let crate::store::Done::Rated { .. } = done {
            self.written.fetch_add(1, Ordering::Relaxed);
        }
        if let Ok(mut st) = self.recent.lock() {
            st.follow(write);
        }
        Ok(done)
    }

    /// Write a batch of an import's ratings in one transaction, counted;
    /// how many rows were written.
    pub async fn import(&self, batch: &[crate::store::NewRating]) -> Result<u64, StoreError> {
        let n = self.store.import(batch).await?;
        self.written.fetch_add(n, Ordering::Relaxed);
        // The recent ratings follow, as they do a rating's: the importer's
        // users are served from what they imported at once.
        if let Ok(mut st) = self.recent.lock() {
            for rating in batch {
                st.follow(Write::Rate(rating.clone()));
            }
        }
        Ok(n)
    }

    /// Ratings this daemon has written since it started.
    pub fn ratings_written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// A new model serves: follow its watermark.
    pub fn model_changed(
        self: &Arc<Self>,
        meta: &crate::model::Metadata,
        runtime: &tokio::runtime::Handle,
    ) {
        let watermark = meta.db_watermark;
        self.watermark.store(watermark, Ordering::Relaxed);
        if self.catalogue.load().is_none() {
            // Not prepared yet: preparing loads them, for this watermark.
            return;
        }
        let db = self.clone();
        runtime.spawn(async move {
            if let Err(e) = db.reload_recent().await {
                tracing::warn!("cannot load the ratings newer than the model: {e}");
            }
        });
    }

    /// Load the ratings newer than the served model's watermark. Writes
    /// that land meanwhile are replayed on the result (they are idempotent),
    /// so none is missed whichever side of the query they committed on.
    pub async fn reload_recent(&self) -> Result<(), StoreError> {
        // Again if the model changed meanwhile.
        loop {
            let watermark = self.watermark.load(Ordering::Relaxed);
            self.load_recent(watermark).await?;
            if self.watermark.load(Ordering::Relaxed) == watermark {
                return Ok(());
            }
        }
    }

    async fn load_recent(&self, watermark: i64) -> Result<(), StoreError> {
        if let Ok(mut st) = self.recent.lock() {
            st.pending = Some(Vec::new());
        }
        let rows = match self.store.ratings_since(watermark).await {
            Ok(rows) => rows,
            Err(e) => {
                if let Ok(mut st) = self.recent.lock() {
                    st.pending = None;
                }
                return Err(e);
            }
        };
        let mut recent = Recent::default();
        for r in rows {
            recent.apply(&Write::Rate(crate::store::NewRating {
                user: r.user,
                movie: r.movie,
                rating: r.rating,
                rated_at: r.rated_at,
            }));
        }
        if let Ok(mut st) = self.recent.lock() {
            for w in st.pending.take().unwrap_or_default() {
                recent.apply(&w);
            }
            st.current = Some(recent);
        }
        Ok(())
    }

    /// Migrate, put the dataset's movies into the catalogue and load it;
    /// until that works, retry with a growing pause. Spawned at start; ends
    /// when ready or at shutdown.
    pub async fn prepare(self: Arc<Self>, dataset: PathBuf, shutdown: CancellationToken) {
        let mut pause = Duration::from_millis(500);
        let mut dataset_done = false;
        loop {
            match self.try_prepare(&dataset, &mut dataset_done).await {
                Ok(n) => {
                    tracing::info!(
                        "ratings database ready: {}, {n} movies in the catalogue",
                        self.store.target().display()
                    );
                    if dataset_done {
                        return;
                    }
                    // Ready, but the dataset (and its movie file) is not
                    // there yet: look again later.
                    pause = Duration::from_secs(10);
                }
                Err(e) => {
                    tracing::warn!(
                        "ratings database {} not ready: {e}; retrying in {pause:?}",
                        self.store.target().display()
                    );
                    if let Ok(mut last) = self.last_error.lock() {
                        *last = e.to_string();
                    }
                    pause = (pause * 2).min(Duration::from_secs(30));
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    async fn try_prepare(
        &self,
        dataset: &std::path::Path,
        dataset_done: &mut bool,
    ) -> Result<usize, StoreError> {
        self.store.migrate().await?;
        let stale = crate::store::snapshot::remove_stale_copies(self.store.target());
        if stale > 0 {
            tracing::warn!("removed {stale} backup copies an earlier daemon left unfinished");
        }
        let ended = self
            .store
            .end_abandoned_runs(self.started_at, ABANDONED)
            .await?;
        if ended > 0 {
            tracing::warn!(
                "{ended} training runs left running by an earlier daemon recorded as failed"
            );
        }
        if !*dataset_done {
            let dir = dataset.to_owned();
            let loaded =
                tokio::task::spawn_blocking(move || crate::train::dataset::load_catalogue(&dir))
                    .await
                    .map_err(|e| StoreError::Failed(e.to_string()))?;
            match loaded {
                Ok(movies) => {
                    let mut rows: Vec<(u32, String, String)> = movies
                        .into_iter()
                        .map(|(id, m)| (id, m.title, m.genres))
                        .collect();
                    rows.sort_by_key(|r| r.0);
                    self.store.put_movies(&rows).await?;
                    *dataset_done = true;
                }
                Err(e) => tracing::info!("no movie catalogue to import yet: {e}"),
            }
        }
        let ids: HashSet<u32> = self.store.movie_ids().await?.into_iter().collect();
        let n = ids.len();
        self.tombstones.load(&self.store.erasures_after(0).await?);
        self.reload_recent().await?;
        self.catalogue.store(Some(Arc::new(ids)));
        Ok(n)
    }
}
