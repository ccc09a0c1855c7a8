//! The retrain path from a request to the new model serving: pipeline
//! options from the config and the request's overrides, a job on its own
//! thread, and the swap once the pipeline has published.

use std::sync::Arc;

use super::jobs::Job;
use super::State;
use crate::protocol::RetrainParams;
use crate::train::pipeline;

#[derive(Debug, thiserror::Error)]
pub enum RetrainError {
    /// A parameter is out of range: the key and what is wrong.
    #[error("{0}")]
    InvalidParams(String),
    #[error("retrain job {0} is already running")]
    Busy(u64),
    #[error("the daemon is shutting down")]
    ShuttingDown,
}

impl State {
    /// Pipeline options from the config and a request's overrides.
    pub fn retrain_options(&self, p: &RetrainParams) -> Result<pipeline::Options, RetrainError> {
        let c = &self.config;
        let params = p
            .params
            .apply(&c.training.params)
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

    /// Start the retrain a request asks for.
    pub fn retrain(self: &Arc<Self>, p: &RetrainParams) -> Result<Arc<Job>, RetrainError> {
        if self.shutdown.is_cancelled() {
            return Err(RetrainError::ShuttingDown);
        }
        let opts = self.retrain_options(p)?;
        self.start_retrain(opts).map_err(RetrainError::Busy)
    }

    /// Start a retrain job whose success swaps the new model in before the
    /// job counts as finished. Err: the id of the job already running.
    pub fn start_retrain(self: &Arc<Self>, opts: pipeline::Options) -> Result<Arc<Job>, u64> {
        let st = self.clone();
        let job = self.jobs.start(opts, move |result| match result {
            Ok(outcome) if outcome.published => {
                let swapped = st.reload_blocking().map_err(|e| {
                    tracing::error!("retrain published a model that cannot be served: {e}");
                    format!("published but not served: {e}")
                })?;
                if let Some(s) = swapped {
                    tracing::info!(version = %s.version, previous = ?s.previous, "retrained model now serving");
                    st.notify.status(&format!("serving model {}", s.version));
                }
                Ok(())
            }
            Ok(outcome) => {
                tracing::info!(
                    "retrain skipped: {}",
                    outcome.skipped.as_deref().unwrap_or("nothing to do")
                );
                Ok(())
            }
            Err(e) => {
                tracing::error!("retrain failed: {e}; the served model is unchanged");
                Ok(())
            }
        })?;
        self.notify.status(&format!("retraining (job {})", job.id));
        Ok(job)
    }
}
