//! Everything between rating files and a fitted model: dataset loading, the
//! SGD trainer and the Gibbs sampler, holdout evaluation, the synthetic
//! generator and the retrain pipeline.

pub mod bayes;
pub mod csr;
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
    fit_probed(data, params, bayes::Probe::default(), cancel, on_epoch).map(|(f, _)| f)
}

/// [`fit`], and for a Bayesian model what the kept samples said of each
/// `probe` rating (its predictive mean and spread), before export.
pub fn fit_probed(
    data: TrainData<'_>,
    params: &Params,
    probe: bayes::Probe<'_>,
    cancel: &AtomicBool,
    on_epoch: &mut dyn FnMut(&EpochReport),
) -> Result<(Factors, Option<bayes::Sampled>), Cancelled> {
    match params.algorithm {
        Algorithm::Svd => Ok((sgd::train(data, params, cancel, on_epoch)?, None)),
        Algorithm::BayesSvdpp => {
            let settings = bayes::Settings::from_params(params);
            let p = bayes::fit(data, probe, &settings, cancel, on_epoch)?;
            Ok((p.factors, Some(p.sampled)))
        }
    }
}
