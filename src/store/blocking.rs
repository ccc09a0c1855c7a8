//! The store for synchronous callers on threads outside the runtime (the
//! retrain pipeline): each call runs on a runtime's handle and waits. It
//! holds no SQL of its own, and must never be called from a thread that is
//! running async tasks (a `block_on` there panics).

use super::{RunEnd, Store, StoreError, Trigger};

/// The store for a thread outside the runtime: each call runs on
/// `handle`'s runtime and waits.
#[derive(Clone)]
pub struct Blocking {
    pub store: Store,
    pub handle: tokio::runtime::Handle,
}

impl std::fmt::Debug for Blocking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Blocking({})", self.store.target().display())
    }
}

impl Blocking {
    /// Run `f` on the store, its migrations applied first (the pipeline may
    /// start before the daemon has reached the database).
    fn run<T, F: std::future::Future<Output = Result<T, StoreError>>>(
        &self,
        f: impl FnOnce(Store) -> F,
    ) -> Result<T, StoreError> {
        let store = self.store.clone();
        self.handle.block_on(async move {
            store.migrate().await?;
            f(store).await
        })
    }

    /// Every rating, in sequence order, to `sink`; how many there were.
    pub fn each_rating(
        &self,
        sink: &mut dyn FnMut(super::RatingRow<'_>),
    ) -> Result<u64, StoreError> {
        self.run(|s| async move { s.each_rating(sink).await })
    }

    pub fn last_erasure(&self) -> Result<i64, StoreError> {
        self.run(|s| async move { s.last_erasure().await })
    }

    pub fn count_since(&self, watermark: i64) -> Result<i64, StoreError> {
        self.run(|s| async move { s.count_since(watermark).await })
    }

    pub fn start_run(
        &self,
        started_at: i64,
        trigger: Trigger,
        params: &serde_json::Value,
    ) -> Result<i64, StoreError> {
        let params = params.clone();
        self.run(|s| async move { s.start_run(started_at, trigger, &params).await })
    }

    pub fn set_run_status(
        &self,
        id: i64,
        status: super::RunStatus,
        reason: &str,
    ) -> Result<(), StoreError> {
        let reason = reason.to_owned();
        self.run(|s| async move { s.set_run_status(id, status, &reason).await })
    }

    /// Run `id` as recorded.
    pub fn get_run(&self, id: i64) -> Result<Option<super::Run>, StoreError> {
        self.run(|s| async move { s.run(id).await })
    }

    pub fn finish_run(&self, id: i64, finished_at: i64, end: &RunEnd) -> Result<(), StoreError> {
        let end = end.clone();
        self.run(|s| async move { s.finish_run(id, finished_at, &end).await })
    }
}
