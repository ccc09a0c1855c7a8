//! The error of reading a MovieLens set: which file, which line, what is
//! wrong. Shared by the ratings-file parser and the dataset loader; it never
//! carries more than the file's name and a short reason.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}: {what}", path.display())]
    Malformed {
        path: PathBuf,
        line: u64,
        what: String,
    },
    #[error("{}: no ratings in the file", path.display())]
    Empty { path: PathBuf },
    #[error("{}: not a MovieLens directory (expected ratings.dat, u.data or ratings.csv in it)", dir.display())]
    NotFound { dir: PathBuf },
}
