//! `history`, `schedule`, `schedule.pause` and `schedule.resume`.

use super::store_error;
use crate::lifecycle::State;
use crate::protocol::{
    Error, ErrorCode, History, HistoryParams, ScheduleInfo, ScheduleParams, SchedulePaused, Trigger,
};
use crate::store::{RunFilter, RunStatus};

pub async fn history(state: &State, p: HistoryParams) -> Result<History, Error> {
    let limit = p.limit.unwrap_or(HistoryParams::DEFAULT_LIMIT);
    if !(1..=HistoryParams::MAX_LIMIT).contains(&limit) {
        return Err(Error::new(
            ErrorCode::InvalidParams,
            format!(
                "limit: must be between 1 and {}, got {limit}",
                HistoryParams::MAX_LIMIT
            ),
        ));
    }
    let filter = RunFilter {
        status: p.status,
        trigger: p.trigger,
    };
    // The daemon migrates in the background at start: a fresh database
    // may not have its tables yet.
    state.db.store.migrate().await.map_err(store_error)?;
    let runs = state
        .db
        .store
        .runs(limit, filter)
        .await
        .map_err(store_error)?;
    let erasures = state
        .db
        .store
        .latest_erasures(limit)
        .await
        .map_err(store_error)?;
    Ok(History { runs, erasures })
}

pub async fn schedule(state: &State, p: ScheduleParams) -> Result<ScheduleInfo, Error> {
    let n = p.next.unwrap_or(ScheduleParams::DEFAULT_NEXT);
    if n > ScheduleParams::MAX_NEXT {
        return Err(Error::new(
            ErrorCode::InvalidParams,
            format!(
                "next: must be at most {}, got {n}",
                ScheduleParams::MAX_NEXT
            ),
        ));
    }
    let c = &state.config;
    let now = jiff::Timestamp::now();
    // What the database says (a pause from before a restart), not what
    // this daemon has had time to read of it.
    state.schedule_restored(now).await.map_err(store_error)?;
    let live = state.schedule.live();
    let next = match live.paused {
        Some(_) => Vec::new(),
        None => c
            .schedule
            .upcoming(live.since.unwrap_or(now), live.last_start, n),
    };
    let zone = c.schedule.zone();
    let store = &state.db.store;
    let last = |status: Option<RunStatus>, trigger: Option<Trigger>| async move {
        let filter = RunFilter { status, trigger };
        store.runs(1, filter).await.map(|mut r| r.pop())
    };
    let watermark = state
        .served()
        .map_or(0, |s| s.model.metadata().db_watermark);
    Ok(ScheduleInfo {
        schedule: c.schedule.describe(),
        expression: c.schedule.expression(),
        timezone: c.schedule.timezone().to_owned(),
        next_local: next
            .iter()
            .map(|t| {
                t.to_zoned(zone.clone())
                    .strftime("%Y-%m-%dT%H:%M:%S%:z")
                    .to_string()
            })
            .collect(),
        next: next.iter().map(|t| rfc3339(*t)).collect(),
        paused: live.paused.is_some(),
        paused_at: live.paused.map(rfc3339),
        min_new_ratings: c.training.min_new_ratings,
        new_ratings: store.count_since(watermark).await.ok(),
        max_rmse_increase: c.training.max_rmse_increase,
        random_delay_secs: c.schedule.random_delay().as_secs(),
        catch_up: c.schedule.catch_up(),
        max_duration_secs: c.training.max_duration.map(|d| d.as_secs()),
        last_attempt: last(None, Some(Trigger::Scheduled))
            .await
            .map_err(store_error)?,
        last_success: last(Some(RunStatus::Published), None)
            .await
            .map_err(store_error)?,
        notifications: state.notifications.describe(),
    })
}

/// Whole seconds in UTC, as every other time on the wire.
fn rfc3339(t: jiff::Timestamp) -> String {
    crate::clock::rfc3339_unix(t.as_second())
}

pub async fn pause(state: &State) -> Result<SchedulePaused, Error> {
    let changed = state.pause_schedule().await.map_err(store_error)?;
    Ok(SchedulePaused {
        paused: true,
        changed,
    })
}

pub async fn resume(state: &State) -> Result<SchedulePaused, Error> {
    let changed = state.resume_schedule().await.map_err(store_error)?;
    Ok(SchedulePaused {
        paused: false,
        changed,
    })
}
