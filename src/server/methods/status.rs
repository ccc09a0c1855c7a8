//! `health` and `stats`.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::lifecycle::State;
use crate::protocol::{
    DatabaseContents, DatabaseStats, Health, HealthStatus, ModelSummary, Stats, PROTOCOL_VERSION,
};
use crate::server::Server;

pub fn health(state: &State) -> Health {
    let served = state.served();
    let job = state.jobs.running().map(|j| j.status());
    let degraded = served.as_ref().and(state.degraded());
    let status = if state.shutdown.is_cancelled() {
        HealthStatus::ShuttingDown
    } else if degraded.is_some() {
        HealthStatus::Degraded
    } else if served.is_some() {
        HealthStatus::Ok
    } else if state.jobs.busy() {
        HealthStatus::Training
    } else if state.downloading.load(Ordering::Relaxed) {
        HealthStatus::Downloading
    } else {
        HealthStatus::NoModel
    };
    Health {
        status,
        degraded,
        uptime_seconds: state.started.elapsed().as_secs_f64(),
        protocol_version: PROTOCOL_VERSION,
        recd_version: env!("CARGO_PKG_VERSION").into(),
        model: served.as_deref().map(|s| ModelSummary::new(&s.model)),
        job,
        next_run: state
            .schedule
            .live()
            .next
            .map(|t| crate::clock::rfc3339_unix(t.as_second())),
    }
}

pub async fn stats(server: &Server) -> Stats {
    let state = &server.state;
    let served = state.served();
    let watermark = served
        .as_ref()
        .map_or(0, |s| s.model.metadata().db_watermark);
    Stats {
        uptime_seconds: state.started.elapsed().as_secs_f64(),
        connections: server.stats.connections(),
        requests: server.stats.requests(),
        errors: server.stats.errors(),
        model: served.as_deref().map(|s| ModelSummary::new(&s.model)),
        database: database_stats(state, watermark).await,
    }
}

/// The database's part of `stats`: counts, ratings since the served model's
/// watermark, the last training run. Never waits long: an unreachable
/// database is reported, not waited for.
async fn database_stats(state: &State, watermark: i64) -> DatabaseStats {
    let store = &state.db.store;
    let mut v = DatabaseStats {
        backend: store.backend().into(),
        target: store.target().display(),
        available: false,
        error: None,
        contents: None,
    };
    if let Err(e) = state.db.catalogue() {
        v.error = Some(e.0);
        return v;
    }
    let read = async {
        Ok::<_, crate::store::StoreError>(DatabaseContents {
            counts: store.counts().await?,
            watermark,
            since_watermark: store.count_since(watermark).await?,
            last_run: store.last_run().await?,
        })
    };
    match tokio::time::timeout(Duration::from_secs(2), read).await {
        Ok(Ok(contents)) => {
            v.available = true;
            v.contents = Some(contents);
        }
        Ok(Err(e)) => v.error = Some(e.to_string()),
        Err(_) => v.error = Some("no answer within 2 s".into()),
    }
    v
}
