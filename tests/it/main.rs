//! The integration tests, as one test binary (as ripgrep does): one link
//! of the crate and its dependencies instead of one per file.
//!
//! Most start the real binaries (`recd`, `recctl`) in a temp dir through
//! `helper`; `server` runs the server in this process and `pipeline` the
//! retrain pipeline. Tests that need MovieLens read `$RECD_DATASETS` and say
//! when they are skipped; those that need PostgreSQL start a private server
//! (`helper::pg`).

mod helper;

mod backup;
mod bayes;
mod crash;
mod daemon;
mod docs;
mod download;
mod faults;
mod floors;
mod forget;
mod guide;
mod http;
mod http_compat;
mod http_data;
mod http_peers;
mod lifecycle;
mod limits;
mod metrics;
mod model_files;
mod pipeline;
mod props;
mod python_client;
mod ratings;
mod real_data;
mod recctl;
mod schedule;
mod security;
mod server;
mod soak;
mod store;
mod systemd;
mod train_cli;
mod unseen;
mod updates;
