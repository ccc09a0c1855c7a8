//! A run in the database's record: its start, and how its result is
//! recorded at its end.

use std::time::SystemTime;

use super::{Options, Outcome, PipelineError};
use crate::store::{RunEnd, RunStatus};

/// Record in `db` the start of the run `opts` describes (its trigger and
/// parameters, now); its id.
pub fn record_start(
    db: &crate::store::Blocking,
    opts: &Options,
) -> Result<i64, crate::store::StoreError> {
    let params = serde_json::to_value(&opts.params).unwrap_or_default();
    let now = crate::clock::unix_seconds(SystemTime::now());
    db.start_run(now, opts.trigger, &params)
}

/// How a run's result is recorded.
pub fn status_of(result: &Result<Outcome, PipelineError>) -> RunStatus {
    match result {
        Ok(o) if o.published => RunStatus::Published,
        Ok(_) => RunStatus::Skipped,
        Err(PipelineError::QualityGate { .. }) => RunStatus::Rejected,
        Err(PipelineError::Cancelled(_)) => RunStatus::Cancelled,
        Err(_) => RunStatus::Failed,
    }
}

/// The record of a run's end.
pub fn run_end(result: &Result<Outcome, PipelineError>, seconds: f64) -> RunEnd {
    let status = status_of(result);
    match result {
        Ok(o) => RunEnd {
            status,
            seconds,
            metrics: o
                .rmse
                .map(|rmse| serde_json::json!({ "rmse": rmse, "mae": o.mae })),
            counts: o.published.then(|| {
                serde_json::json!({
                    "ratings": o.ratings,
                    "database_ratings": o.database_ratings,
                    "users": o.users,
                    "items": o.items,
                })
            }),
            new_ratings: o.new_ratings.map(|n| n as i64),
            watermark: o.watermark,
            model_version: o.version.clone(),
            reason: o.skipped.clone(),
        },
        Err(e) => RunEnd {
            status,
            seconds,
            metrics: match e {
                PipelineError::QualityGate {
                    new,
                    current,
                    ratings,
                    ..
                } => Some(serde_json::json!({
                    "rmse": new,
                    "current_rmse": current,
                    "compared_ratings": ratings,
                })),
                _ => None,
            },
            counts: None,
            new_ratings: None,
            watermark: 0,
            model_version: None,
            reason: Some(e.to_string()),
        },
    }
}
