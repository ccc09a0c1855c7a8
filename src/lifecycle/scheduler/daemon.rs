//! The schedule in the daemon: restored from the database at start, fired
//! as retrains with the trigger `scheduled`, paused and resumed durably.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use jiff::Timestamp;

use super::{drive, Fire, Live, WallClock};
use crate::lifecycle::{RetrainError, State};
use crate::protocol::{RetrainParams, Trigger};
use crate::store::{RunEnd, RunFilter, RunStatus, StoreError};

/// The keys of the scheduler's durable state.
const PAUSED: &str = "paused";
const RESUMED: &str = "resumed";

/// The daemon as the schedule fires it.
struct Daemon(Arc<State>);

impl Fire for Daemon {
    fn fire(&self, due: Timestamp) -> impl std::future::Future<Output = Option<Timestamp>> + Send {
        let st = self.0.clone();
        async move { st.scheduled_run(due).await }
    }
}

fn unix(t: Timestamp) -> i64 {
    t.as_second()
}

fn timestamp(secs: i64) -> Option<Timestamp> {
    Timestamp::from_second(secs).ok()
}

impl State {
    /// Run the configured schedule until shutdown (nothing when it is
    /// off). What the database remembers is read first, waiting for it
    /// if it is not reachable yet.
    pub async fn run_schedule(self: Arc<Self>, clock: Arc<dyn WallClock>) {
        let schedule = self.config.schedule.clone();
        if schedule.is_off() {
            return;
        }
        loop {
            match self.schedule_restored(clock.now()).await {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!("the schedule waits for the ratings database: {e}");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(10)) => {}
                        _ = self.shutdown.cancelled() => return,
                    }
                }
            }
        }
        let live = self.schedule.live();
        tracing::info!(
            "schedule: {} ({}); next run {}{}",
            schedule.describe(),
            schedule.timezone(),
            schedule
                .next_after(live.since.unwrap_or(clock.now()), live.last_start)
                .map_or("never".into(), |t| t.to_string()),
            if live.paused.is_some() {
                " (paused)"
            } else {
                ""
            }
        );
        let fire = Daemon(self.clone());
        drive(
            &schedule,
            clock.as_ref(),
            &self.schedule,
            &fire,
            &self.shutdown,
        )
        .await;
    }

    /// Load the schedule's durable state, once: by the loop at start, or
    /// by a method that needs it first (the socket opens before the
    /// database is reached, and a pause from before a restart must
    /// neither look lifted nor be lost to a restore that comes later).
    pub async fn schedule_restored(&self, now: Timestamp) -> Result<(), StoreError> {
        self.schedule
            .restored
            .get_or_try_init(|| self.restore_schedule(now))
            .await
            .map(drop)
    }

    /// The schedule's state from the database: paused or not, the end of
    /// the last scheduled run (or the last resume, if later), the last
    /// run's start.
    async fn restore_schedule(&self, now: Timestamp) -> Result<(), StoreError> {
        let store = &self.db.store;
        store.migrate().await?;
        let state_time = |v: Option<String>| {
            v.and_then(|v| crate::clock::parse_rfc3339(&v))
                .and_then(timestamp)
        };
        let paused = state_time(store.schedule_state(PAUSED).await?);
        let resumed = state_time(store.schedule_state(RESUMED).await?);
        let scheduled = RunFilter {
            trigger: Some(Trigger::Scheduled),
            ..RunFilter::default()
        };
        let last_scheduled = store.runs(1, scheduled).await?.pop();
        let last_run = store.runs(1, RunFilter::default()).await?.pop();
        let ended = last_scheduled.and_then(|r| timestamp(r.finished_at.unwrap_or(r.started_at)));
        // Never fired before: nothing was missed.
        let since = match (ended, resumed) {
            (Some(e), Some(r)) => e.max(r),
            (Some(t), None) | (None, Some(t)) => t,
            (None, None) => now,
        };
        self.schedule.restore(Live {
            paused,
            since: Some(since),
            last_start: last_run.and_then(|r| timestamp(r.started_at)),
            next: None,
        });
        Ok(())
    }

    /// A scheduled run: the new-ratings gate applies, nothing is forced,
    /// and it waits for its end. Another run in progress makes it a
    /// recorded skip.
    async fn scheduled_run(self: &Arc<Self>, due: Timestamp) -> Option<Timestamp> {
        let started = Timestamp::now();
        let p = RetrainParams {
            min_ratings: Some(self.config.training.min_new_ratings),
            ..RetrainParams::default()
        };
        match self.retrain(&p, Trigger::Scheduled).await {
            Ok(job) => {
                tracing::info!(job = job.id, "scheduled run (due {due}) started");
                job.finished().await;
                Some(started)
            }
            Err(RetrainError::Busy(running)) => {
                let reason = match running {
                    Some(id) => format!("run {id} was in progress"),
                    None => "another run was starting".to_string(),
                };
                tracing::info!("scheduled run (due {due}) skipped: {reason}");
                if let Err(e) = self.record_skip(&reason).await {
                    tracing::warn!("cannot record the skipped scheduled run: {e}");
                }
                Some(started)
            }
            Err(e) => {
                tracing::error!("the scheduled run due at {due} could not start: {e}");
                None
            }
        }
    }

    async fn record_skip(&self, reason: &str) -> Result<(), StoreError> {
        let store = &self.db.store;
        let now = crate::clock::unix_seconds(SystemTime::now());
        let id = store
            .start_run(now, Trigger::Scheduled, &serde_json::json!({}))
            .await?;
        let end = RunEnd {
            status: RunStatus::Skipped,
            seconds: 0.0,
            metrics: None,
            counts: None,
            new_ratings: None,
            watermark: 0,
            model_version: None,
            reason: Some(reason.to_owned()),
        };
        store.finish_run(id, now, &end).await?;
        if let Some(run) = store.run(id).await? {
            self.announce_run(&run);
        }
        Ok(())
    }

    /// Pause the schedule, durably; false if it was paused already.
    pub async fn pause_schedule(&self) -> Result<bool, StoreError> {
        let now = Timestamp::now();
        self.schedule_restored(now).await?;
        if self.schedule.live().paused.is_some() {
            return Ok(false);
        }
        // Restoring has migrated the database.
        let store = &self.db.store;
        store
            .set_schedule_state(PAUSED, Some(&crate::clock::rfc3339_unix(unix(now))))
            .await?;
        tracing::info!("schedule paused");
        Ok(self.schedule.pause(now))
    }

    /// Resume the schedule, durably; false if it was not paused. Runs that
    /// fell in the pause are not caught up.
    pub async fn resume_schedule(&self) -> Result<bool, StoreError> {
        let now = Timestamp::now();
        self.schedule_restored(now).await?;
        if self.schedule.live().paused.is_none() {
            return Ok(false);
        }
        // Restoring has migrated the database.
        let store = &self.db.store;
        store
            .set_schedule_state(RESUMED, Some(&crate::clock::rfc3339_unix(unix(now))))
            .await?;
        store.set_schedule_state(PAUSED, None).await?;
        let changed = self.schedule.resume(now);
        if changed {
            tracing::info!("schedule resumed");
        }
        Ok(changed)
    }
}
