//! The daemon's side of the ratings database: reaching it (and retrying
//! while it is down, without holding up serving), the movie catalogue that
//! ratings are checked against, and the group-commit writer.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::protocol::{Error, ErrorCode};
use crate::store::writer::Writer;
use crate::store::{Store, StoreError};

pub struct Db {
    pub store: Store,
    pub writer: Writer,
    /// Movie ids in the catalogue; None until the database has been reached
    /// and migrated.
    catalogue: ArcSwapOption<HashSet<u32>>,
    /// Why it is not ready, for the error replies meanwhile.
    last_error: Mutex<String>,
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
        }))
    }

    /// The catalogue, once the database is ready.
    pub fn catalogue(&self) -> Result<Arc<HashSet<u32>>, Error> {
        self.catalogue.load_full().ok_or_else(|| {
            let why = self
                .last_error
                .lock()
                .map(|e| e.clone())
                .unwrap_or_default();
            Error::new(
                ErrorCode::DbUnavailable,
                format!(
                    "the ratings database ({}) is not ready: {why}",
                    self.store.target().display()
                ),
            )
        })
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
        self.catalogue.store(Some(Arc::new(ids)));
        Ok(n)
    }
}

/// The protocol error for a store error.
pub fn store_error(e: StoreError) -> Error {
    match e {
        StoreError::Unavailable(m) => Error::new(ErrorCode::DbUnavailable, m),
        StoreError::Failed(m) => Error::new(ErrorCode::Internal, m),
    }
}
