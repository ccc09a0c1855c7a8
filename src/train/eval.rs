//! Holdout evaluation: the seeded split and the RMSE/MAE of a fitted model.
//!
//! The split is a pure function of (user, movie, seed), not of the order or
//! size of the data, so a rating stays on the same side of it across runs as
//! the database grows, and two models trained with the same seed are scored
//! on comparable holdouts.

use super::dataset::Ratings;
use crate::numeric::{Factors, Metrics, Scale};
use crate::rng::mix64;

/// Whether the rating of `movie` by `user` belongs to the holdout.
pub fn in_holdout(user_key: u64, movie: u32, fraction: f64, seed: u64) -> bool {
    if fraction <= 0.0 {
        return false;
    }
    let h = mix64(mix64(user_key ^ seed.rotate_left(17)) ^ u64::from(movie));
    ((h >> 11) as f64 / (1u64 << 53) as f64) < fraction
}

/// Split `ratings` into train and holdout parts.
pub fn split(
    ratings: &Ratings,
    user_key: impl Fn(u32) -> u64,
    movie_id: impl Fn(u32) -> u32,
    fraction: f64,
    seed: u64,
) -> (Ratings, Ratings) {
    let mut train = Ratings::default();
    let mut test = Ratings::default();
    for ((&u, &i), &r) in ratings
        .users
        .iter()
        .zip(&ratings.items)
        .zip(&ratings.values)
    {
        let side = if in_holdout(user_key(u), movie_id(i), fraction, seed) {
            &mut test
        } else {
            &mut train
        };
        side.push(u, i, r);
    }
    (train, test)
}

/// RMSE and MAE of clipped predictions. `users`/`items` of the test set are
/// indices into the model, or `u32::MAX` for ones the model has not seen.
pub fn score(model: &Factors, scale: Scale, test: &Ratings) -> Metrics {
    let known = |x: u32| (x != u32::MAX).then_some(x);
    let predictions = test
        .users
        .iter()
        .zip(&test.items)
        .map(|(&u, &i)| model.estimate(known(u), known(i)));
    score_predictions(predictions, scale, test)
}

/// RMSE and MAE of `predictions` of the ratings of `test`, in its order,
/// clipped to `scale`.
pub fn score_predictions(
    predictions: impl Iterator<Item = f32>,
    scale: Scale,
    test: &Ratings,
) -> Metrics {
    let (mut se, mut ae) = (0f64, 0f64);
    for (p, &r) in predictions.zip(&test.values) {
        let err = f64::from(r - scale.clip(p));
        se += err * err;
        ae += err.abs();
    }
    let n = test.len().max(1) as f64;
    Metrics {
        rmse: (se / n).sqrt(),
        mae: ae / n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holdout_fraction_and_stability() {
        let mut n = 0;
        for u in 0..200u64 {
            for m in 0..500u32 {
                n += usize::from(in_holdout(u, m, 0.1, 9));
            }
        }
        assert!((9_000..11_000).contains(&n), "{n}");
        assert_eq!(in_holdout(5, 7, 0.1, 9), in_holdout(5, 7, 0.1, 9));
        assert!(!in_holdout(5, 7, 0.0, 9));
        let differs = (0..1000u32).any(|m| in_holdout(1, m, 0.5, 1) != in_holdout(1, m, 0.5, 2));
        assert!(differs);
    }
}
