//! The quality gate's comparison: the current model and the candidate scored
//! on the same held-out ratings.
//!
//! The metrics a model file records were measured on its own holdout, which
//! is not the candidate's once the data has changed, so the gate never reads
//! them. Both models are scored here on the candidate's held-out ratings
//! whose user and movie the current model knows; the current model predicts
//! through [`Model::predict`], the path serving takes, so its figure is the
//! one its users get. It reads the current model in place and never changes
//! it.

use crate::model::Model;
use crate::numeric::{Factors, Metrics, Scale};
use crate::train::dataset::Ratings;

/// What the candidate's dense indices are called in a model file.
pub(super) struct Names<'a> {
    /// The model's user id of each user index (`ml:ID` for dataset users,
    /// the application's id for database users).
    pub(super) users: &'a [String],
    /// The movie id of each item index.
    pub(super) movies: &'a [u32],
}

/// Both models' RMSE on the same held-out ratings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Comparison {
    /// How many held-out ratings both models were scored on.
    pub(super) ratings: u64,
    pub(super) new_rmse: f64,
    pub(super) current_rmse: f64,
}

impl Comparison {
    /// Whether the candidate is worse than the current model by more than
    /// `tolerance`.
    pub(super) fn refuses(&self, tolerance: f64) -> bool {
        self.new_rmse > self.current_rmse + tolerance
    }
}

/// Score `current` and the candidate (`candidate`, clipped to `scale`) on
/// the ratings of `test` whose user and movie `current` knows. `test` is in
/// the candidate's indices, named by `names`. None when `current` can
/// predict none of them.
pub(super) fn compare(
    current: &Model,
    candidate: &Factors,
    scale: Scale,
    test: &Ratings,
    names: &Names<'_>,
) -> Option<Comparison> {
    // One lookup per user and movie, not per rating: a user has many
    // held-out ratings, and each lookup is a binary search over strings.
    let users: Vec<Option<u32>> = names
        .users
        .iter()
        .map(|id| current.user_index(id))
        .collect();
    let movies: Vec<Option<u32>> = names
        .movies
        .iter()
        .map(|&id| current.item_index(id))
        .collect();
    let (mut n, mut se_new, mut se_current) = (0u64, 0f64, 0f64);
    for ((&u, &i), &r) in test.users.iter().zip(&test.items).zip(&test.values) {
        let known = (
            users.get(u as usize).copied().flatten(),
            movies.get(i as usize).copied().flatten(),
        );
        let (Some(cu), Some(ci)) = known else {
            continue;
        };
        let new = scale.clip(candidate.estimate(Some(u), Some(i)));
        let old = current.predict(Some(cu), Some(ci));
        se_new += f64::from(r - new).powi(2);
        se_current += f64::from(r - old).powi(2);
        n += 1;
    }
    // Its rows were read once; the export to come needs the memory more.
    current.release_pages();
    (n > 0).then(|| Comparison {
        ratings: n,
        new_rmse: (se_new / n as f64).sqrt(),
        current_rmse: (se_current / n as f64).sqrt(),
    })
}

/// The Evaluate stage's line: the candidate's holdout metrics and what the
/// quality gate compared, or why it compared nothing.
pub(super) fn detail(
    metrics: Option<Metrics>,
    held_out: usize,
    has_current: bool,
    comparison: Option<Comparison>,
    tolerance: f64,
) -> String {
    let Some(m) = metrics else {
        return "skipped: no holdout, so no quality gate".into();
    };
    let scored = format!(
        "RMSE {:.4}, MAE {:.4} on {} held-out ratings",
        m.rmse,
        m.mae,
        grouped(held_out as u64)
    );
    let gate = match comparison {
        Some(c) => format!(
            "current model {:.4}, this one {:.4}, on the {} it can predict{}",
            c.current_rmse,
            c.new_rmse,
            grouped(c.ratings),
            if c.refuses(tolerance) {
                " (worse by more than the quality gate allows)"
            } else {
                ""
            }
        ),
        None if has_current => {
            "the current model can predict none of them (none has both its user and movie known to it): quality gate passed".into()
        }
        None => "no current model: quality gate passed".into(),
    };
    format!("{scored}; {gate}")
}

/// `n` with its thousands separated by commas: 60,000.
pub(super) fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (k, c) in digits.chars().enumerate() {
        if k > 0 && (digits.len() - k).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::numeric::{stride_for, Params};
    use crate::train::dataset::Dataset;
    use crate::train::eval;
    use crate::train::export::{dataset_user, Tables};
    use crate::train::sgd::{self, TrainData};

    const SCALE: Scale = Scale { min: 1.0, max: 5.0 };

    /// Factors with one factor per row, from (bias, factor) per user and
    /// per item.
    fn factors(mean: f32, users: &[(f32, f32)], items: &[(f32, f32)]) -> Factors {
        let stride = stride_for(1);
        let rows = |v: &[(f32, f32)]| {
            v.iter()
                .flat_map(|&(_, f)| std::iter::once(f).chain(std::iter::repeat_n(0.0, stride - 1)))
                .collect()
        };
        Factors {
            n_factors: 1,
            stride,
            global_mean: mean,
            user_bias: users.iter().map(|u| u.0).collect(),
            item_bias: items.iter().map(|i| i.0).collect(),
            user_factors: rows(users),
            item_factors: rows(items),
            implicit: None,
            spread: None,
        }
    }

    /// Write `factors` as a model naming its users and movies as given,
    /// and open it.
    fn model(dir: &std::path::Path, f: &Factors, users: &[&str], movies: &[u32]) -> Model {
        let path = dir.join("current.recd");
        let mut rated = Ratings::default();
        rated.push(0, 0, 3.0);
        let tables = Tables::build_from(
            users.iter().map(|&u| u.to_owned()).collect(),
            movies.to_vec(),
            &HashMap::new(),
            crate::train::export::ItemStats::of(&[&rated], movies.len()),
            &[&rated],
        );
        let meta = crate::model::tests::tiny_meta("current", 0.5);
        let mut out = std::fs::File::create(&path).unwrap();
        tables.write(&mut out, &meta, f, SCALE).unwrap();
        Model::open(&path).unwrap()
    }

    #[test]
    fn both_models_are_scored_on_the_ratings_the_current_one_can_predict() {
        let dir = tempfile::tempdir().unwrap();
        // The current model: users ml:1 and ml:2, movies 10 and 20.
        let current = model(
            dir.path(),
            &factors(3.0, &[(0.5, 1.0), (-0.5, 2.0)], &[(0.2, 1.5), (-1.0, 0.5)]),
            &["ml:1", "ml:2"],
            &[10, 20],
        );
        // The candidate has an extra database user and movie 30, and its own
        // index order: users [db-7, ml:2, ml:1], movies [20, 30, 10].
        let users: Vec<String> = vec!["db-7".into(), "ml:2".into(), "ml:1".into()];
        let movies = [20, 30, 10];
        let candidate = factors(
            3.5,
            &[(0.1, 1.0), (0.0, -1.0), (0.3, 0.5)],
            &[(0.4, 1.0), (0.0, 0.0), (-0.2, 2.0)],
        );
        let mut test = Ratings::default();
        for (u, i, r) in [
            (2, 2, 5.0), // ml:1, movie 10: current 3 + 0.5 + 0.2 + 1.5 = 5.2, clipped to 5
            (1, 2, 4.0), // ml:2, movie 10: current 3 - 0.5 + 0.2 + 3 = 5.7, clipped to 5
            (1, 0, 2.0), // ml:2, movie 20: current 3 - 0.5 - 1 + 1 = 2.5
            (2, 0, 3.0), // ml:1, movie 20: current 3 + 0.5 - 1 + 0.5 = 3.0
            (0, 2, 1.0), // db-7: unknown to the current model
            (2, 1, 1.0), // movie 30: unknown to the current model
        ] {
            test.push(u, i, r);
        }
        let names = Names {
            users: &users,
            movies: &movies,
        };
        let c = compare(&current, &candidate, SCALE, &test, &names).unwrap();
        assert_eq!(c.ratings, 4);

        let current_sq = [(5.0f64 - 5.0), (4.0 - 5.0), (2.0 - 2.5), (3.0 - 3.0)];
        let current_rmse = (current_sq.iter().map(|e| e * e).sum::<f64>() / 4.0).sqrt();
        // Candidate: 3.5 + user bias + item bias + user factor * item factor.
        let cand = |ub: f64, uf: f64, ib: f64, itf: f64| (3.5 + ub + ib + uf * itf).clamp(1.0, 5.0);
        let candidate_sq = [
            5.0 - cand(0.3, 0.5, -0.2, 2.0),
            4.0 - cand(0.0, -1.0, -0.2, 2.0),
            2.0 - cand(0.0, -1.0, 0.4, 1.0),
            3.0 - cand(0.3, 0.5, 0.4, 1.0),
        ];
        let new_rmse = (candidate_sq.iter().map(|e| e * e).sum::<f64>() / 4.0).sqrt();
        assert!(
            (c.current_rmse - current_rmse).abs() < 1e-6,
            "{c:?} vs {current_rmse}"
        );
        assert!((c.new_rmse - new_rmse).abs() < 1e-6, "{c:?} vs {new_rmse}");
    }

    #[test]
    fn a_current_model_that_knows_none_of_the_holdout_gives_no_comparison() {
        let dir = tempfile::tempdir().unwrap();
        let f = factors(3.0, &[(0.0, 1.0)], &[(0.0, 1.0)]);
        let current = model(dir.path(), &f, &["ml:1"], &[10]);
        let users: Vec<String> = vec!["ml:1".into(), "ml:2".into()];
        let movies = [10, 20];
        let names = Names {
            users: &users,
            movies: &movies,
        };
        let candidate = factors(3.0, &[(0.0, 1.0), (0.0, 1.0)], &[(0.0, 1.0), (0.0, 1.0)]);
        let mut test = Ratings::default();
        test.push(1, 0, 4.0); // ml:2 unknown
        test.push(0, 1, 4.0); // movie 20 unknown
        assert_eq!(compare(&current, &candidate, SCALE, &test, &names), None);
        assert_eq!(
            compare(&current, &candidate, SCALE, &Ratings::default(), &names),
            None
        );
    }

    /// On a synthetic dataset, a model compared with itself gives its own
    /// holdout RMSE twice, over every held-out rating.
    #[test]
    fn a_model_compared_with_itself_scores_its_own_holdout_rmse() {
        let dir = tempfile::tempdir().unwrap();
        let shape = crate::train::synth::Shape {
            users: 60,
            items: 40,
            ratings: 1500,
            seed: 3,
        };
        crate::train::synth::generate(&shape, &dir.path().join("data"), 1).unwrap();
        let dataset = Dataset::load(&dir.path().join("data")).unwrap();
        let user_ids: Vec<String> = dataset
            .users
            .ids()
            .iter()
            .map(|&id| dataset_user(id))
            .collect();
        let movies = dataset.movies.ids();
        let keys = dataset.users.ids();
        let (mut train, test) = eval::split(
            dataset.ratings.clone(),
            |u| u64::from(keys[u as usize]),
            |i| movies[i as usize],
            0.2,
            1,
        );
        let params = Params {
            n_factors: 4,
            n_epochs: 5,
            threads: 1,
            ..Params::default()
        };
        let data = TrainData {
            n_users: user_ids.len(),
            n_items: movies.len(),
            users: &mut train.users,
            items: &mut train.items,
            values: &mut train.values,
        };
        let never = std::sync::atomic::AtomicBool::new(false);
        let f = sgd::train(data, &params, &never, &mut |_| {}).unwrap();
        let scale = Scale::of(&dataset.ratings.values);
        let tables = Tables::build(&dataset, &dataset.ratings);
        let path = dir.path().join("m.recd");
        let meta = crate::model::tests::tiny_meta("m", 0.5);
        tables
            .write(&mut std::fs::File::create(&path).unwrap(), &meta, &f, scale)
            .unwrap();
        let current = Model::open(&path).unwrap();

        let names = Names {
            users: &user_ids,
            movies,
        };
        let c = compare(&current, &f, scale, &test, &names).unwrap();
        let direct = eval::score(&f, scale, &test).rmse;
        assert_eq!(c.ratings, test.len() as u64);
        assert!((c.new_rmse - direct).abs() < 1e-9, "{c:?} vs {direct}");
        assert!((c.current_rmse - direct).abs() < 1e-5, "{c:?} vs {direct}");
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(59_812), "59,812");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }
}
