//! MovieLens files, below both the trainer and the ratings database: the
//! layouts of a ratings file and its byte-level parser, the error that names
//! a file and line, and the prefix dataset users carry in a model.
//!
//! It is a leaf: it imports nothing from this crate, reads only the files it
//! is handed, and knows nothing of id maps, training or SQL.

mod error;
pub mod ratings_file;
mod reader;

pub use error::DatasetError;

/// The prefix of dataset users' ids in a model: `ml:` and the dataset's id.
/// The application's users (from the ratings database) keep their own ids,
/// and ids starting with `ml:` are refused for them, so the two never merge
/// by accident.
pub const DATASET_USER_PREFIX: &str = "ml:";
