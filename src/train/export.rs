//! Turning a trained model and its training set into a model file's parts:
//! id maps, per-user rated items, item popularity and titles.

use std::time::SystemTime;

use super::csr::Csr;
use super::dataset::{Dataset, Ratings};
use crate::model::{write_model, Metadata, ModelParts};
use crate::movielens::DATASET_USER_PREFIX;
use crate::numeric::{Factors, Scale};

/// What a dataset user is called in a model (see [`DATASET_USER_PREFIX`]).
pub fn dataset_user(id: u32) -> String {
    format!("{DATASET_USER_PREFIX}{id}")
}

/// The per-user and per-item tables a model file carries besides factors.
pub struct Tables {
    pub user_ids: Vec<String>,
    pub movie_ids: Vec<u32>,
    pub rated_offsets: Vec<u64>,
    pub rated_items: Vec<u32>,
    pub item_counts: Vec<u32>,
    pub item_means: Vec<f32>,
    pub titles: Vec<String>,
    pub genres: Vec<String>,
}

impl Tables {
    /// Build the tables from every rating the model stands on (train and
    /// holdout alike: a user has seen what they rated, whichever side of the
    /// split it fell on).
    pub fn build(dataset: &Dataset, all: &Ratings) -> Tables {
        Tables::build_from(
            dataset
                .users
                .ids()
                .iter()
                .map(|&id| dataset_user(id))
                .collect(),
            dataset.movies.ids().to_vec(),
            &dataset.catalogue,
            ItemStats::of(&[all], dataset.movies.len()),
            &[all],
        )
    }

    /// As [`Tables::build`], for users and movies named explicitly: the id
    /// of each user index and the movie id of each item index. The ratings
    /// come in parts (a retrain's train and holdout sets), of which only
    /// the users and items are read: their values may be gone, `stats` was
    /// taken before.
    pub fn build_from(
        user_ids: Vec<String>,
        movie_ids: Vec<u32>,
        catalogue: &std::collections::HashMap<u32, super::dataset::Movie>,
        stats: ItemStats,
        parts: &[&Ratings],
    ) -> Tables {
        let n_users = user_ids.len();
        let (rated_offsets, rated_items) = rated_csr(parts, n_users);
        let ItemStats {
            counts: item_counts,
            means: item_means,
        } = stats;
        let entry = |id: &u32| catalogue.get(id);
        Tables {
            user_ids,
            titles: movie_ids
                .iter()
                .map(|id| entry(id).map(|m| m.title.clone()).unwrap_or_default())
                .collect(),
            genres: movie_ids
                .iter()
                .map(|id| entry(id).map(|m| m.genres.clone()).unwrap_or_default())
                .collect(),
            movie_ids,
            rated_offsets,
            rated_items,
            item_counts,
            item_means,
        }
    }

    pub fn parts<'a>(
        &'a self,
        meta: &'a Metadata,
        factors: &'a Factors,
        scale: Scale,
    ) -> ModelParts<'a> {
        ModelParts {
            meta,
            factors,
            scale,
            user_ids: &self.user_ids,
            movie_ids: &self.movie_ids,
            rated_offsets: &self.rated_offsets,
            rated_items: &self.rated_items,
            item_counts: &self.item_counts,
            item_means: &self.item_means,
            titles: &self.titles,
            genres: &self.genres,
        }
    }

    pub fn write<W: std::io::Write + std::io::Seek>(
        &self,
        out: &mut W,
        meta: &Metadata,
        factors: &Factors,
        scale: Scale,
    ) -> std::io::Result<u64> {
        write_model(out, &self.parts(meta, factors, scale))
    }
}

/// Item indices rated by each user, ascending and without repeats.
fn rated_csr(parts: &[&Ratings], n_users: usize) -> (Vec<u64>, Vec<u32>) {
    let pairs: Vec<(&[u32], &[u32])> = parts.iter().map(|p| (&p.users[..], &p.items[..])).collect();
    let (offsets, items) = Csr::build_parts(n_users, &pairs).into_parts();
    (offsets.into_iter().map(|o| o as u64).collect(), items)
}

/// How many ratings each item has, and their mean (0 for none).
pub struct ItemStats {
    pub counts: Vec<u32>,
    pub means: Vec<f32>,
}

impl ItemStats {
    pub fn of(parts: &[&Ratings], n_items: usize) -> ItemStats {
        let mut counts = vec![0u32; n_items];
        let mut sums = vec![0f64; n_items];
        for part in parts {
            for (&i, &r) in part.items.iter().zip(&part.values) {
                counts[i as usize] += 1;
                sums[i as usize] += f64::from(r);
            }
        }
        let means = sums
            .iter()
            .zip(&counts)
            .map(|(&s, &c)| {
                if c == 0 {
                    0.0
                } else {
                    (s / f64::from(c)) as f32
                }
            })
            .collect();
        ItemStats { counts, means }
    }
}

/// A new version id: the UTC time and 16 random bits, so ids sort by age and
/// two trainings in one second do not collide.
pub fn new_version(now: SystemTime) -> String {
    let nanos = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let salt = crate::rng::mix64(nanos ^ u64::from(std::process::id()).rotate_left(32));
    format!("{}-{:04x}", crate::clock::compact(now), salt & 0xffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rated_items_are_sorted_and_unique_per_user() {
        let mut r = Ratings::default();
        for (u, i) in [(1, 5), (0, 3), (1, 2), (1, 5), (0, 1)] {
            r.push(u, i, 4.0);
        }
        let (offs, items) = rated_csr(&[&r], 3);
        assert_eq!(offs, vec![0, 2, 4, 4]);
        assert_eq!(items, vec![1, 3, 2, 5]);
        // A retrain's train and holdout parts list as their union.
        let held = r.split_off_where(|u, i| (u, i) == (1, 5) || (u, i) == (0, 1));
        assert_eq!((r.len(), held.len()), (2, 3));
        assert_eq!(rated_csr(&[&r, &held], 3), (offs, items));
    }

    /// Train on a small set and write the model; once and again.
    #[test]
    fn the_same_training_writes_the_same_bytes() {
        use crate::train::dataset::{Format, Interner, Movie};
        let mut users = Interner::default();
        let mut movies = Interner::default();
        let mut ratings = Ratings::default();
        for (u, m, r) in [
            (10, 7, 5.0),
            (10, 3, 3.0),
            (20, 7, 4.0),
            (20, 11, 1.0),
            (30, 3, 4.0),
        ] {
            ratings.push(users.intern(u), movies.intern(m), r);
        }
        let movie = Movie {
            title: "Seven (1995)".into(),
            genres: "Drama".into(),
        };
        let mut d = Dataset {
            dir: "tiny".into(),
            format: Format::Dat,
            users,
            movies,
            ratings,
            catalogue: [(7, movie)].into_iter().collect(),
        };
        let meta = crate::model::tests::tiny_meta("v", 1.0);
        let mut write = || {
            let stop = std::sync::atomic::AtomicBool::new(false);
            let f = crate::train::fit(d.train_data(), &meta.params, &stop, &mut |_| {}).unwrap();
            let mut out = std::io::Cursor::new(Vec::new());
            Tables::build(&d, &d.ratings)
                .write(&mut out, &meta, &f, Scale::of(&d.ratings.values))
                .unwrap();
            out.into_inner()
        };
        let first = write();
        assert_eq!(first, write());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.recd");
        std::fs::write(&path, &first).unwrap();
        let m = crate::model::Model::open(&path).unwrap();
        assert_eq!(m.metadata(), &meta);
        assert_eq!(m.user_id(m.user_index("ml:20").unwrap()), "ml:20");
        assert_eq!(m.title(m.item_index(7).unwrap()), "Seven (1995)");
    }

    #[test]
    fn versions_sort_by_time() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let v = new_version(t);
        assert!(v.starts_with("20231114T221320Z-"), "{v}");
        assert_eq!(v.len(), "20231114T221320Z-0000".len());
        assert!(new_version(t + std::time::Duration::from_secs(1)) > v);
    }
}
