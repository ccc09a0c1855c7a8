//! Everything between rating files and a fitted model: dataset loading, the
//! SGD trainer, holdout evaluation, the synthetic generator and the retrain
//! pipeline.

pub mod bayes;
pub mod dataset;
pub mod download;
pub mod eval;
pub mod export;
pub mod pipeline;
pub mod sgd;
pub mod synth;
