//! The ratings database: the application's users' ratings, the movie
//! catalogue and the record of training runs, in SQLite (embedded, the
//! default) or PostgreSQL (by URL), through `sqlx`.
//!
//! The same statements run on both (`$N` placeholders, `ON CONFLICT`,
//! `RETURNING`) but one: writing a run of ratings, an upsert of arrays on
//! PostgreSQL. The schema differs only in its types, so each backend has
//! its own embedded migrations, applied at open.
//!
//! It owns SQL and nothing else: no validation of what a rating means (see
//! [`rules`]), no batching (see [`writer`]), and no protocol error codes
//! (a refusal is a [`rules::Violation`]; the server maps it to its code).
//!
//! # Layout
//!
//! - `connect`: [`Target`], [`Options`], the pools, opening, migrations,
//!   [`StoreError`].
//! - `faults`: a full disk, a read-only file, an I/O error named for the
//!   operator; replacing a failed pool; the database file's mode.
//! - `ratings`: [`NewRating`], [`Stored`], [`Counts`]; the catalogue and
//!   the queries.
//! - `write`: [`Write`], [`Done`]; one transaction of writes, and import.
//! - `erasures`: [`Erasure`]; the record of `forget`, and its tombstones.
//! - [`snapshot`]: a consistent copy of an SQLite database (`backup`), the
//!   checks a copy must pass, and putting one in place (`recd restore`).
//! - `runs`: [`Run`], [`RunEnd`]; the record of training runs.
//! - `blocking`: [`Blocking`], the store for threads outside the runtime.
//! - [`rules`], [`import`], [`writer`]: the checks a rating must pass,
//!   reading a ratings file, group commit.

mod blocking;
mod bulk;
mod connect;
mod erasures;
mod faults;
pub mod import;
mod ratings;
pub mod restore;
pub mod rules;
mod runs;
pub mod snapshot;
mod write;
pub mod writer;

pub use blocking::Blocking;
pub use bulk::Row as RatingRow;
pub use connect::{Options, Store, StoreError, Target};
pub use erasures::Erasure;
pub use ratings::{Counts, NewRating, Stored};
pub use runs::{Run, RunEnd, RunFilter, RunStatus, Trigger};
pub use snapshot::{BackupInfo, Snapshot};
pub use write::{Done, Write};
