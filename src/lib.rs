//! recd: a self-hosted movie recommendation daemon.
//!
//! It trains a biased matrix-factorization model (Surprise's "SVD": global
//! mean, user and item biases, factor vectors, fitted by SGD) on a MovieLens
//! base dataset, writes it as a versioned, checksummed file that is used in
//! place through a memory map, and publishes it atomically with backups.
//!
//! # Layout
//!
//! - [`numeric`]: the leaf both trainer and model stand on: the dot product,
//!   factor arrays, scale, metrics, training parameters and their overrides.
//! - [`movielens`]: the leaf below train and store: ratings-file parsing, the
//!   dataset error, the prefix of dataset users.
//! - [`config`]: the TOML configuration, validated; errors name the key.
//! - [`train`]: dataset loaders, the SGD trainer, holdout evaluation, the
//!   synthetic generator and the retrain pipeline.
//! - [`model`]: the model file format, the mapped model and the models
//!   directory (publishing, backups, the `current` pointer).
//! - [`store`]: the ratings database (SQLite or PostgreSQL): ratings, the
//!   movie catalogue, training runs; the checks a rating must pass; group
//!   commit; file import.
//! - [`rng`], [`clock`]: a seeded generator and UTC timestamps, so results
//!   and version ids depend on nothing outside this crate.
//!
//! Floors, lowest first: leaves (`rng`, `clock`, `numeric`, `movielens`) →
//! `model` → `store` → `config` → `train` → the runtime (`jobs`, `protocol`,
//! `server`, `daemon`, `cli`, `ctl`). A module imports only from floors below
//! its own (one exception remains: `store` takes its error codes from
//! `protocol`).

pub mod cli;
pub mod client;
pub mod clock;
pub mod config;
pub mod ctl;
pub mod daemon;
pub mod lifecycle;
pub mod logging;
pub mod model;
pub mod movielens;
pub mod notify;
pub mod numeric;
pub mod protocol;
pub mod rng;
pub mod server;
pub mod serving;
pub mod signals;
pub mod store;
pub mod train;
