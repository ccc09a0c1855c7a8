//! recd: a self-hosted movie recommendation daemon.
//!
//! It trains a biased matrix-factorization model (Surprise's "SVD": global
//! mean, user and item biases, factor vectors, fitted by SGD) on a MovieLens
//! base dataset, writes it as a versioned, checksummed file that is used in
//! place through a memory map, and publishes it atomically with backups.
//!
//! # Layout
//!
//! Floors, lowest first; a module imports only from floors below its own,
//! and no two modules import each other.
//!
//! - Leaves:
//!   - [`numeric`]: the dot product, factor arrays, rating scale, metrics,
//!     training parameters and the one set of overrides flags and requests
//!     carry.
//!   - [`movielens`]: ratings-file parsing, the dataset error, the prefix of
//!     dataset users.
//!   - [`rng`], [`clock`]: a seeded generator and UTC timestamps, so results
//!     and version ids depend on nothing outside this crate.
//!   - [`notify`], [`signals`]: systemd's notify protocol; signals as a typed
//!     stream.
//!   - [`schedule`]: the retraining schedule: crontab times, intervals and
//!     daily or weekly sugar in a time zone, as fire times.
//! - [`model`]: the model file format, the mapped model, scoring, fold-in,
//!   related movies, and the models directory (publishing, backups,
//!   `current`).
//! - [`store`]: the ratings database (SQLite or PostgreSQL): ratings, the
//!   movie catalogue, training runs; the checks a rating must pass; group
//!   commit; file import.
//! - [`notifications`]: the `[notify]` section and the webhook and command
//!   told of each training run's end (its statuses are the store's), on
//!   threads of their own.
//! - [`config`]: the TOML configuration, validated; errors name the key.
//! - [`train`]: dataset loaders, the SGD trainer, holdout evaluation, the
//!   synthetic generator and the retrain pipeline. [`logging`]: log setup.
//! - [`protocol`]: the wire: requests, one result type per method, error
//!   codes; shared by the daemon, the client and the tests.
//! - [`serving`]: the serving policy: how a user is answered by the model in
//!   service. [`client`]: the blocking socket client.
//! - [`lifecycle`]: the daemon's state and what changes what serves (start,
//!   reload, rollback, retrain, jobs, the retraining schedule, run
//!   announcements, the database's daemon side). [`ctl`]: `recctl`.
//! - [`server`]: the accept loop, connections, one handler per method.
//! - [`metrics`]: the optional monitoring endpoint, `/metrics` (Prometheus)
//!   and `/healthz` over HTTP. [`http`]: the optional HTTP API, every
//!   method at a `/v1` route and the old system's endpoints.
//! - [`daemon`]: the process: socket, signals, watchdog, shutdown.
//! - [`cli`]: `recd`'s command line.
//!
//! # Start here
//!
//! - The accept loop: [`server::run`]; the one `match` on a request:
//!   [`server::methods::handle`].
//! - The reload sequence: [`lifecycle::State::reload`] (SIGHUP and the
//!   `reload` method both come here).
//! - A retrain from request (or the schedule:
//!   [`lifecycle::scheduler::drive`]) to publish: the `retrain` handler →
//!   [`lifecycle::State::retrain`] → [`lifecycle::State::begin`] (the run
//!   recorded; its id is the job's) → [`lifecycle::jobs::Reservation::start`]
//!   (its own thread) → [`train::pipeline::run`] → the job's end reloads
//!   `current`, swaps it in and announces the run → the reply.
//! - A recommendation: the `recommend` handler →
//!   [`serving::Served::answer`] → [`serving::Served::recommend`] →
//!   [`model`]'s scoring.

pub mod cli;
pub mod client;
pub mod clock;
pub mod config;
pub mod ctl;
pub mod daemon;
pub mod http;
pub mod lifecycle;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod movielens;
pub mod notifications;
pub mod notify;
pub mod numeric;
pub mod protocol;
pub mod rng;
pub mod schedule;
pub mod server;
pub mod serving;
pub mod signals;
pub mod store;
pub mod train;
