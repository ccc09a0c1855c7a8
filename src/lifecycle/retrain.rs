//! The retrain path from a request (or the schedule, or the start) to the
//! new model serving: pipeline options from the config and the request's
//! overrides, the run recorded, a job on its own thread under the run's id,
//! its supervision (maximum duration, starvation), and the swap once the
//! pipeline has published.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::jobs::{Job, Reservation};
use super::{cpu, State};
use crate::protocol::{RetrainParams, Trigger};
use crate::store::RunStatus;
use crate::train::pipeline::{self, Outcome, PipelineError};

#[derive(Debug, thiserror::Error)]
pub enum RetrainError {
    /// A parameter is out of range: the key and what is wrong.
    #[error("{0}")]
    InvalidParams(String),
    /// Another run holds the one slot: its id (None while it is being
    /// recorded).
    #[error("{}", match .0 {
        Some(id) => format!("retrain job {id} is already running"),
        None => "a retrain is starting".to_string(),
    })]
    Busy(Option<u64>),
    #[error("the daemon is shutting down")]
    ShuttingDown,
    /// The run could not be recorded.
    #[error("cannot record the run in the ratings database: {0}")]
    Database(String),
}

/// How often a running job's CPU share is sampled, and the window it is
/// judged over.
const CPU_SAMPLE: Duration = Duration::from_secs(10);
const CPU_WINDOW: Duration = Duration::from_secs(60);
/// Under this share of one core over the window, a run is starved.
const STARVED_SHARE: f64 = 0.10;

impl State {
    /// Pipeline options from the config and a request's overrides.
    pub fn retrain_options(&self, p: &RetrainParams) -> Result<pipeline::Options, RetrainError> {
        let c = &self.config;
        let params = c
            .training
            .params_with(&p.params)
            .map_err(|e| RetrainError::InvalidParams(format!("{}: {}", e.key, e.what)))?;
        Ok(pipeline::Options {
            params,
            backup: !p.no_backup,
            force: p.force,
            min_new_ratings: p.min_ratings,
            database: Some(self.database()),
            protect: self
                .served()
                .map(|s| s.version().to_owned())
                .into_iter()
                .collect(),
            ..pipeline::Options::from_config(c)
        })
    }

    /// Start the retrain a request (or the schedule) asks for.
    pub async fn retrain(
        self: &Arc<Self>,
        p: &RetrainParams,
        trigger: Trigger,
    ) -> Result<Arc<Job>, RetrainError> {
        let opts = self.retrain_options(p)?;
        self.begin(opts, trigger).await
    }

    /// Take the one slot, record the run's start, and start it as a job
    /// whose success swaps the new model in before the job counts as
    /// finished.
    pub async fn begin(
        self: &Arc<Self>,
        opts: pipeline::Options,
        trigger: Trigger,
    ) -> Result<Arc<Job>, RetrainError> {
        if self.shutdown.is_cancelled() {
            return Err(RetrainError::ShuttingDown);
        }
        let slot = self.jobs.reserve().map_err(RetrainError::Busy)?;
        self.begin_in(slot, opts, trigger).await
    }

    /// [`begin`](State::begin) in a slot already taken.
    pub async fn begin_in(
        self: &Arc<Self>,
        slot: Reservation,
        mut opts: pipeline::Options,
        trigger: Trigger,
    ) -> Result<Arc<Job>, RetrainError> {
        let store = &self.db.store;
        let params = serde_json::to_value(&opts.params).unwrap_or_default();
        let now = crate::clock::unix_seconds(SystemTime::now());
        let id = async {
            store.migrate().await?;
            store.start_run(now, trigger, &params).await
        }
        .await
        .map_err(|e| RetrainError::Database(e.to_string()))?;
        opts.run_id = Some(id);
        self.schedule.started(jiff::Timestamp::now());
        let st = self.clone();
        let job = slot.start(id as u64, trigger, opts, move |job, result| {
            st.after_run(job, result)
        });
        tracing::info!(job = job.id, trigger = trigger.name(), "retrain started");
        self.notify.status(&format!("retraining (job {})", job.id));
        self.supervise(&job);
        Ok(job)
    }

    /// On the job's thread, once the pipeline has ended: serve what it
    /// published, and say how it went.
    fn after_run(&self, job: &Job, result: &Result<Outcome, PipelineError>) -> Result<(), String> {
        let end = match result {
            Ok(outcome) if outcome.published => {
                let swapped = self.reload_blocking().map_err(|e| {
                    tracing::error!("retrain published a model that cannot be served: {e}");
                    format!("published but not served: {e}")
                });
                if let Ok(Some(s)) = &swapped {
                    tracing::info!(job = job.id, version = %s.version, previous = ?s.previous, "retrained model now serving");
                    self.notify.status(&format!("serving model {}", s.version));
                }
                if let Err(why) = &swapped {
                    let db = self.database();
                    if let Err(e) = db.set_run_status(job.id as i64, RunStatus::Failed, why) {
                        tracing::warn!(
                            job = job.id,
                            "cannot record that run {} failed: {e}",
                            job.id
                        );
                    }
                }
                swapped.map(drop)
            }
            Ok(outcome) => {
                tracing::info!(
                    job = job.id,
                    "retrain skipped: {}",
                    outcome.skipped.as_deref().unwrap_or("nothing to do")
                );
                Ok(())
            }
            Err(e) => {
                let status = pipeline::status_of(result);
                tracing::error!(
                    job = job.id,
                    "retrain {}: {e}; the served model is unchanged",
                    status.name()
                );
                Ok(())
            }
        };
        let fallback = pipeline::run_end(result, job.status().seconds);
        let fallback = match &end {
            Err(why) => crate::store::RunEnd {
                status: RunStatus::Failed,
                reason: Some(why.clone()),
                ..fallback
            },
            Ok(()) => fallback,
        };
        self.announce(job, fallback);
        end
    }

    /// Watch a running job: cancel it past `training.max_duration_secs`,
    /// and say when its threads are starved of CPU.
    fn supervise(self: &Arc<Self>, job: &Arc<Job>) {
        let job = job.clone();
        let max = self.config.training.max_duration;
        self.runtime.spawn(async move {
            let deadline = async {
                match max {
                    Some(max) => tokio::time::sleep(max).await,
                    None => std::future::pending().await,
                }
            };
            tokio::pin!(deadline);
            let mut samples = VecDeque::new();
            let mut cpu = cpu::RetrainCpu::default();
            let mut tick = tokio::time::interval(CPU_SAMPLE);
            loop {
                tokio::select! {
                    _ = job.finished() => return,
                    _ = &mut deadline => {
                        let max = max.unwrap_or_default().as_secs();
                        tracing::warn!(job = job.id, "retrain ran past training.max_duration_secs ({max} s): cancelling it");
                        job.cancel(&format!("ran past training.max_duration_secs ({max} s)"));
                        job.finished().await;
                        return;
                    }
                    at = tick.tick() => {
                        if let Some(cpu) = cpu.sample() {
                            samples.push_back((at, cpu));
                            job.set_starved(starved(&mut samples));
                        }
                    }
                }
            }
        });
    }
}

/// Whether the samples (time, CPU seconds of the run's threads) say the run
/// got under [`STARVED_SHARE`] of a core over the last [`CPU_WINDOW`]: how
/// much it got, if so. Drops samples older than the window needs.
fn starved(samples: &mut VecDeque<(tokio::time::Instant, f64)>) -> Option<String> {
    let &(now, cpu_now) = samples.back()?;
    while samples.len() > 2 && now - samples[1].0 >= CPU_WINDOW {
        samples.pop_front();
    }
    let &(then, cpu_then) = samples.front()?;
    let wall = (now - then).as_secs_f64();
    if wall < CPU_WINDOW.as_secs_f64() {
        return None;
    }
    let share = (cpu_now - cpu_then).max(0.0) / wall;
    (share < STARVED_SHARE).then(|| {
        format!(
            "its threads got {:.1}% of a core over the last {:.0} s (other work on the host comes first)",
            share * 100.0,
            wall
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_is_starved_under_a_tenth_of_a_core_over_a_minute() {
        let t0 = tokio::time::Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut samples = VecDeque::new();
        // Under a minute of samples says nothing, however little CPU.
        for s in (0..=50).step_by(10) {
            samples.push_back((at(s), 0.0));
            assert_eq!(starved(&mut samples), None);
        }
        samples.push_back((at(60), 3.0));
        let why = starved(&mut samples).expect("5% of a core is starved");
        assert!(why.contains("5.0% of a core"), "{why}");
        // 15 s of CPU over the minute from 10 s to 70 s is 25%: not starved.
        samples.push_back((at(70), 15.0));
        assert_eq!(starved(&mut samples), None);
        assert!(samples.len() <= 8, "old samples are dropped");
    }
}
