//! `retrain.check`, `retrain` (with progress lines), `job.status` and
//! `job.cancel`.

use std::sync::Arc;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use super::{internal, Ctx};
use crate::lifecycle::{RetrainError, State};
use crate::protocol::{
    Check, Error, ErrorCode, JobCancelled, JobParams, JobState, JobStatus, Progress, Reply,
    RetrainCheckParams, RetrainParams, Trigger,
};
use crate::train::pipeline;

fn retrain_error(e: RetrainError) -> Error {
    match &e {
        RetrainError::InvalidParams(_) => Error::new(ErrorCode::InvalidParams, e.to_string()),
        RetrainError::ShuttingDown => Error::new(ErrorCode::ShuttingDown, e.to_string()),
        RetrainError::Busy(running) => Error::new(ErrorCode::Busy, e.to_string())
            .with_data(serde_json::json!({ "job": running })),
        RetrainError::Database(_) => Error::new(ErrorCode::DbUnavailable, e.to_string()),
    }
}

pub async fn check(state: &Arc<State>, p: RetrainCheckParams) -> Result<Check, Error> {
    let opts = state
        .retrain_options(&RetrainParams::default())
        .map_err(retrain_error)?;
    let threshold = p
        .min_ratings
        .unwrap_or(state.config.training.min_new_ratings);
    tokio::task::spawn_blocking(move || pipeline::check(&opts, threshold))
        .await
        .map_err(internal)?
        .map_err(|e| {
            tracing::warn!("retrain.check failed: {e}");
            Error::new(ErrorCode::ReloadFailed, e.to_string())
        })
}

/// Start a retrain and stream its progress to the caller until it ends.
pub async fn retrain<W: AsyncWrite + Unpin>(
    p: RetrainParams,
    ctx: &mut Ctx<'_, W>,
) -> Result<JobStatus, Error> {
    let job = ctx
        .server
        .state
        .retrain(&p, Trigger::Manual)
        .await
        .map_err(retrain_error)?;
    let mut progress = job.subscribe();
    let mut streaming = true;
    loop {
        tokio::select! {
            _ = job.finished() => break,
            event = progress.recv(), if streaming => match event {
                Ok(event) => streaming = send_progress(ctx, event).await,
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => streaming = false,
            },
        }
    }
    // Lines sent just before the end are still queued: pass them on.
    while streaming {
        match progress.try_recv() {
            Ok(event) => streaming = send_progress(ctx, event).await,
            Err(TryRecvError::Lagged(_)) => {}
            Err(_) => break,
        }
    }
    let status = job.status();
    match status.state {
        JobState::Published | JobState::Skipped => Ok(status),
        JobState::Running | JobState::Rejected | JobState::Failed | JobState::Cancelled => {
            let message = match status.state {
                JobState::Cancelled => format!(
                    "retrain job {} was cancelled: {}",
                    status.id,
                    status.reason.as_deref().unwrap_or("on request")
                ),
                JobState::Rejected => format!(
                    "retrain job {} was rejected: {}",
                    status.id,
                    status.reason.as_deref().unwrap_or("by the quality gate")
                ),
                _ => format!(
                    "retrain job {} failed: {}",
                    status.id,
                    status.reason.as_deref().unwrap_or("unknown error")
                ),
            };
            let data = serde_json::to_value(&status).map_err(internal)?;
            Err(Error::new(ErrorCode::TrainFailed, message).with_data(data))
        }
    }
}

/// Write one progress line; false once the caller has hung up (it then
/// stops hearing progress, and the job goes on).
async fn send_progress<W: AsyncWrite + Unpin>(ctx: &mut Ctx<'_, W>, event: Progress) -> bool {
    let line = match ctx.id {
        Some(id) => Reply::progress(id.clone(), &event).to_line(),
        None => crate::protocol::progress_line(&event),
    };
    ctx.out.write_all(&line).await.is_ok()
}

fn unknown_job(id: Option<u64>) -> Error {
    match id {
        Some(id) => Error::new(ErrorCode::UnknownJob, format!("no job {id}")),
        None => Error::new(ErrorCode::UnknownJob, "no retrain job has run yet"),
    }
}

/// A job of this daemon's life, or else the run of that id (or the latest)
/// in the database's history: job ids are run ids, so they outlive a
/// restart.
pub async fn job_status(state: &State, p: JobParams) -> Result<JobStatus, Error> {
    let job = state.jobs.get(p.job);
    if let (Some(job), Some(_)) = (&job, p.job) {
        return Ok(job.status());
    }
    let store = &state.db.store;
    // A fresh database may not have its tables yet.
    let run = match store.migrate().await {
        Err(e) => Err(e),
        Ok(()) => match p.job {
            Some(id) => store.run(i64::try_from(id).unwrap_or(i64::MAX)).await,
            None => store.last_run().await,
        },
    };
    let run = match (run, &job) {
        (Ok(run), _) => run,
        // The database is out of reach: what this daemon knows will do.
        (Err(_), Some(_)) => None,
        (Err(e), None) => return Err(Error::new(ErrorCode::DbUnavailable, e.to_string())),
    };
    match (job, run) {
        (Some(job), Some(run)) if run.id as u64 <= job.id => Ok(job.status()),
        (_, Some(run)) => Ok(JobStatus::of_run(&run)),
        (Some(job), None) => Ok(job.status()),
        (None, None) => Err(unknown_job(p.job)),
    }
}

pub fn job_cancel(state: &State, p: JobParams) -> Result<JobCancelled, Error> {
    let job = match p.job {
        Some(id) => state
            .jobs
            .get(Some(id))
            .ok_or_else(|| unknown_job(Some(id)))?,
        None => state
            .jobs
            .running()
            .ok_or_else(|| Error::new(ErrorCode::UnknownJob, "no retrain job is running"))?,
    };
    let status = job.status();
    if status.state != JobState::Running {
        return Ok(JobCancelled {
            job: job.id,
            cancelled: false,
            state: status.state,
        });
    }
    job.cancel("cancelled on request (job.cancel)");
    tracing::info!(job = job.id, "retrain job cancellation requested");
    Ok(JobCancelled {
        job: job.id,
        cancelled: true,
        state: JobState::Running,
    })
}
