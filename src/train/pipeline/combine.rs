//! The dataset's ratings and the database's under one set of dense indices:
//! dataset users as `ml:ID`, database users under their own ids, database
//! movies interned after the dataset's. The dataset's ratings are moved,
//! not copied, and the database's appended to them.

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
}

/// The dataset is left without its ratings.
pub(super) fn combine(dataset: &mut Dataset, db: &[crate::store::Stored]) -> Combined {
    let ids = dataset.users.ids();
    let mut c = Combined {
        ratings: std::mem::take(&mut dataset.ratings),
        user_ids: ids.iter().map(|&id| dataset_user(id)).collect(),
        user_keys: ids.iter().map(|&id| u64::from(id)).collect(),
        movies: dataset.movies.clone(),
        database_users: 0,
    };
    let mut index: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
    for r in db {
        let u = *index.entry(r.user.as_str()).or_insert_with(|| {
            c.user_ids.push(r.user.clone());
            c.user_keys
                .push(crate::rng::fnv1a(r.user.as_bytes()) | 1 << 63);
            (c.user_ids.len() - 1) as u32
        });
        let i = c.movies.intern(r.movie);
        c.ratings.push(u, i, r.rating);
    }
    c.database_users = index.len();
    c
}
