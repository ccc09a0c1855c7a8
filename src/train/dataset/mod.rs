//! Base datasets: a MovieLens directory turned into dense-indexed ratings and a
//! movie catalogue.
//!
//! It owns format detection (1M/10M `.dat`, 100K `u.data`, the CSV sets), text
//! decoding (ISO-8859-1 movie files come out as UTF-8) and the mapping of
//! external ids to dense indices. It never guesses silently: a directory with
//! no ratings file, an empty set or a malformed line is an error naming the
//! file.

pub mod cache;
mod catalogue;
mod index;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use catalogue::load_catalogue_of;
pub use catalogue::{decode_text, load_catalogue, split_csv, Movie};
pub use index::{Interner, Ratings};

use crate::movielens::ratings_file::{self, Layout, Record};
use crate::movielens::DatasetError;

/// Which MovieLens layout a directory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// `ratings.dat` + `movies.dat` (1M, 10M).
    Dat,
    /// `u.data` + `u.item` (100K).
    Ml100k,
    /// `ratings.csv` + `movies.csv` (latest, 20M, 25M, 32M).
    Csv,
}

impl Format {
    pub fn detect(dir: &Path) -> Result<Format, DatasetError> {
        if !dir.is_dir() {
            return Err(DatasetError::Io {
                path: dir.to_owned(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such directory"),
            });
        }
        [
            ("ratings.dat", Format::Dat),
            ("u.data", Format::Ml100k),
            ("ratings.csv", Format::Csv),
        ]
        .into_iter()
        .find(|(name, _)| dir.join(name).is_file())
        .map(|(_, f)| f)
        .ok_or_else(|| DatasetError::NotFound {
            dir: dir.to_owned(),
        })
    }

    fn ratings_file(self) -> (&'static str, Layout) {
        match self {
            Format::Dat => ("ratings.dat", Layout::DoubleColon),
            Format::Ml100k => ("u.data", Layout::Tab),
            Format::Csv => ("ratings.csv", Layout::Csv),
        }
    }
}

/// A loaded base dataset.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub dir: PathBuf,
    pub format: Format,
    pub users: Interner,
    pub movies: Interner,
    pub ratings: Ratings,
    /// Catalogue entries by movie id; movies nobody rated are kept too.
    pub catalogue: HashMap<u32, Movie>,
}

impl Dataset {
    /// Load the MovieLens set in `dir`, detected by its files.
    pub fn load(dir: &Path) -> Result<Dataset, DatasetError> {
        Dataset::load_cached(dir, None).map(|(d, _)| d)
    }

    /// [`Dataset::load`], through the binary copy at `copy` if given: read
    /// from it when it was made from this very ratings file, else parsed
    /// and written to it. Also says which, for the run's report.
    pub fn load_cached(dir: &Path, copy: Option<&Path>) -> Result<(Dataset, String), DatasetError> {
        let format = Format::detect(dir)?;
        let catalogue = load_catalogue_of(dir, format)?;
        let (name, layout) = format.ratings_file();
        let file = dir.join(name);
        let Some(copy) = copy else {
            let arrays = parse(&file, Some(layout))?;
            return Ok((Dataset::of(dir, format, arrays, catalogue), "parsed".into()));
        };
        let stamp = cache::Stamp::of(&file, format).map_err(|source| DatasetError::Io {
            path: file.clone(),
            source,
        })?;
        let (arrays, note) = match cache::read(copy, stamp) {
            Ok(arrays) => (
                arrays,
                format!("read from the binary copy {}", copy.display()),
            ),
            Err(why) => {
                let arrays = parse(&file, Some(layout))?;
                let note = match cache::write(copy, stamp, &arrays) {
                    Ok(()) => format!("parsed; binary copy {why}: written to {}", copy.display()),
                    Err(e) => format!(
                        "parsed; binary copy {why}: cannot write {}: {e}",
                        copy.display()
                    ),
                };
                (arrays, note)
            }
        };
        Ok((Dataset::of(dir, format, arrays, catalogue), note))
    }

    fn of(dir: &Path, format: Format, a: cache::Arrays, catalogue: HashMap<u32, Movie>) -> Dataset {
        Dataset {
            dir: dir.to_owned(),
            format,
            users: a.users,
            movies: a.movies,
            ratings: a.ratings,
            catalogue,
        }
    }

    /// Load a single ratings file (any layout, sniffed), for `recd eval`.
    pub fn load_ratings_file(path: &Path) -> Result<Dataset, DatasetError> {
        let arrays = parse(path, None)?;
        Ok(Dataset::of(path, Format::Dat, arrays, HashMap::new()))
    }
}

/// The ratings of one file, under dense indices in first-seen order.
fn parse(path: &Path, layout: Option<Layout>) -> Result<cache::Arrays, DatasetError> {
    let mut a = cache::Arrays {
        users: Interner::default(),
        movies: Interner::default(),
        ratings: Ratings::default(),
    };
    ratings_file::read_path(path, layout, |r: Record| {
        a.ratings
            .push(a.users.intern(r.user), a.movies.intern(r.movie), r.rating);
    })?;
    Ok(a)
}

impl Dataset {
    /// The ratings as training input, in this dataset's index space (the
    /// SGD trainer leaves them in another order).
    pub fn train_data(&mut self) -> super::sgd::TrainData<'_> {
        super::sgd::TrainData {
            n_users: self.users.len(),
            n_items: self.movies.len(),
            users: &mut self.ratings.users,
            items: &mut self.ratings.items,
            values: &mut self.ratings.values,
        }
    }

    /// `other`'s ratings in this dataset's index space; a user or movie this
    /// dataset lacks becomes `u32::MAX` (unknown to a model trained on it).
    pub fn reindex(&self, other: &Dataset) -> Ratings {
        let (users, movies) = (other.users.ids(), other.movies.ids());
        let r = &other.ratings;
        let mut out = Ratings::default();
        for ((&u, &i), &v) in r.users.iter().zip(&r.items).zip(&r.values) {
            let u = self.users.get(users[u as usize]).unwrap_or(u32::MAX);
            let i = self.movies.get(movies[i as usize]).unwrap_or(u32::MAX);
            out.push(u, i, v);
        }
        out
    }
}

#[cfg(test)]
mod tests;
