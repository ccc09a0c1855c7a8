//! `recd eval`: train on one ratings file and score another, outside the
//! models directory. It publishes nothing.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use serde::Serialize;

use super::PipelineError;
use crate::numeric::{Params, Scale};
use crate::train::dataset::Dataset;
use crate::train::eval;

/// The result of `recd eval`.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub rmse: f64,
    pub mae: f64,
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
    let train_set = Dataset::load_ratings_file(train)?;
    let test_set = Dataset::load_ratings_file(test)?;
    let mapped = train_set.reindex(&test_set);
    let data = train_set.train_data();
    let start = Instant::now();
    let factors = crate::train::fit(data, params, &AtomicBool::new(false), &mut |_| {})?;
    let fit_seconds = start.elapsed().as_secs_f64();
    let m = eval::score(&factors, Scale::of(&train_set.ratings.values), &mapped);
    Ok(EvalReport {
        rmse: m.rmse,
        mae: m.mae,
        fit_seconds,
        train_ratings: train_set.ratings.len() as u64,
        test_ratings: mapped.len() as u64,
        users: train_set.users.len() as u64,
        items: train_set.movies.len() as u64,
        params: params.clone(),
        threads: params.effective_threads(),
    })
}
