//! `recd eval`: train on one ratings file and score another, outside the
//! models directory. It publishes nothing.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use serde::Serialize;

use super::PipelineError;
use crate::numeric::{Params, Scale};
use crate::train::bayes::Probe;
use crate::train::dataset::Dataset;
use crate::train::{eval, fit_probed};

/// The result of `recd eval`.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub rmse: f64,
    pub mae: f64,
    /// For `bayes_svdpp`, the RMSE of the sampler's predictive mean (each
    /// test rating's prediction averaged over the kept sweeps), which the
    /// exported model approximates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub posterior_mean_rmse: Option<f64>,
    /// For `bayes_svdpp`, how the standard deviation `predict` reports
    /// compares with the sampler's own spread of the test predictions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub std_dev: Option<eval::StdDevCheck>,
    pub fit_seconds: f64,
    pub train_ratings: u64,
    pub test_ratings: u64,
    pub users: u64,
    pub items: u64,
    pub params: Params,
    pub threads: usize,
}

/// Train on one ratings file and score another. Test users and movies that
/// the training file lacks are scored as unknown (mean and known biases).
pub fn eval_files(
    train: &std::path::Path,
    test: &std::path::Path,
    params: &Params,
) -> Result<EvalReport, PipelineError> {
    let mut train_set = Dataset::load_ratings_file(train)?;
    let test_set = Dataset::load_ratings_file(test)?;
    let mapped = train_set.reindex(&test_set);
    let data = train_set.train_data();
    let start = Instant::now();
    let probe = Probe {
        users: &mapped.users,
        items: &mapped.items,
    };
    let never = AtomicBool::new(false);
    let (factors, sampled) = fit_probed(data, params, probe, &never, &mut |_| {})?;
    let fit_seconds = start.elapsed().as_secs_f64();
    let scale = Scale::of(&train_set.ratings.values);
    let m = eval::score(&factors, scale, &mapped);
    let posterior = sampled.as_ref().map(|p| {
        let p = p.predictions.iter().map(|&p| p as f32);
        eval::score_predictions(p, scale, &mapped).rmse
    });
    let std_dev = sampled.and_then(|p| eval::std_dev_check(&factors, &mapped, &p.spread));
    Ok(EvalReport {
        rmse: m.rmse,
        mae: m.mae,
        posterior_mean_rmse: posterior,
        std_dev,
        fit_seconds,
        train_ratings: train_set.ratings.len() as u64,
        test_ratings: mapped.len() as u64,
        users: train_set.users.len() as u64,
        items: train_set.movies.len() as u64,
        params: params.clone(),
        threads: params.effective_threads(),
    })
}
