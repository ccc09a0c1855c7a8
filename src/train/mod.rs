//! Everything between rating files and a fitted model: dataset loading, the
//! SGD trainer and the Gibbs sampler, holdout evaluation, the synthetic
//! generator and the retrain pipeline.

pub mod bayes;
pub mod dataset;
pub mod download;
pub mod eval;
pub mod export;
pub mod pipeline;
pub mod sgd;
pub mod synth;

use std::sync::atomic::AtomicBool;

use crate::numeric::{Algorithm, Factors, Params};
use sgd::{Cancelled, EpochReport, TrainData};

/// Fit the model `params.algorithm` names. `on_epoch` hears after every SGD
/// epoch or Gibbs sweep; `cancel` is polled as it goes.
pub fn fit(
    data: TrainData<'_>,
    params: &Params,
    cancel: &AtomicBool,
    on_epoch: &mut dyn FnMut(&EpochReport),
) -> Result<Factors, Cancelled> {
    match params.algorithm {
        Algorithm::Svd => sgd::train(data, params, cancel, on_epoch),
        Algorithm::BayesSvdpp => {
            let settings = bayes::Settings::from_params(params);
            let probe = bayes::Probe::default();
            bayes::fit(data, probe, &settings, cancel, on_epoch).map(|p| p.factors)
        }
    }
}
