//! The dataset's ratings and the database's under one set of dense indices:
//! dataset users as `ml:ID`, database users under their own ids, database
//! movies interned after the dataset's. The dataset's ratings are moved,
//! not copied, and the database's appended to them as they are read, so a
//! database rating costs the retrain its 12 bytes and nothing more.

use std::collections::HashMap;

use crate::store::RatingRow;
use crate::train::dataset::{Dataset, Interner, Ratings};
use crate::train::export::dataset_user;

/// The dataset's ratings and the database's, under one set of dense user
/// and item indices.
pub(super) struct Combined {
    pub(super) ratings: Ratings,
    /// The model's id of each user index: `ml:ID` for dataset users, the
    /// application's id for database users.
    pub(super) user_ids: Vec<String>,
    /// A key per user index for the holdout split: the dataset id, or a
    /// hash of the database id with the top bit set (never a dataset id).
    pub(super) user_keys: Vec<u64>,
    pub(super) movies: Interner,
    pub(super) database_users: usize,
    pub(super) database_ratings: u64,
    /// The highest sequence number read (0 for none).
    pub(super) watermark: i64,
    /// Database ratings above the sequence number the combiner was given.
    pub(super) new_ratings: u64,
}

/// Collects the database's ratings after the dataset's.
pub(super) struct Combiner {
    c: Combined,
    /// Each database user's index; their ids join `user_ids` at the end,
    /// so that each is held once.
    index: HashMap<String, u32>,
    since: i64,
}

impl Combiner {
    /// Start from `dataset`'s ratings (it is left without them); database
    /// ratings above sequence `since` are counted as new.
    pub(super) fn new(dataset: &mut Dataset, since: i64) -> Combiner {
        let ids = dataset.users.ids();
        Combiner {
            c: Combined {
                ratings: std::mem::take(&mut dataset.ratings),
                user_ids: ids.iter().map(|&id| dataset_user(id)).collect(),
                user_keys: ids.iter().map(|&id| u64::from(id)).collect(),
                movies: dataset.movies.clone(),
                database_users: 0,
                database_ratings: 0,
                watermark: 0,
                new_ratings: 0,
            },
            index: HashMap::new(),
            since,
        }
    }

    pub(super) fn add(&mut self, r: RatingRow<'_>) {
        let c = &mut self.c;
        let u = match self.index.get(r.user) {
            Some(&u) => u,
            None => {
                let u = c.user_keys.len() as u32;
                c.user_keys
                    .push(crate::rng::fnv1a(r.user.as_bytes()) | 1 << 63);
                self.index.insert(r.user.to_owned(), u);
                u
            }
        };
        let i = c.movies.intern(r.movie);
        c.ratings.push(u, i, r.rating);
        c.database_ratings += 1;
        c.watermark = c.watermark.max(r.seq);
        c.new_ratings += u64::from(r.seq > self.since);
    }

    pub(super) fn finish(self) -> Combined {
        let mut c = self.c;
        c.database_users = self.index.len();
        let first = c.user_ids.len();
        c.user_ids.resize(first + self.index.len(), String::new());
        for (id, u) in self.index {
            c.user_ids[u as usize] = id;
        }
        c
    }
}
