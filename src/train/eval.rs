//! Holdout evaluation: the seeded split and the RMSE/MAE of a fitted model.
//!
//! The split is a pure function of (user, movie, seed), not of the order or
//! size of the data, so a rating stays on the same side of it across runs as
//! the database grows, and two models trained with the same seed are scored
//! on comparable holdouts.

use super::dataset::Ratings;
use crate::numeric::{Factors, Metrics, Scale, Spread};
use crate::rng::mix64;

/// Whether the rating of `movie` by `user` belongs to the holdout.
pub fn in_holdout(user_key: u64, movie: u32, fraction: f64, seed: u64) -> bool {
    if fraction <= 0.0 {
        return false;
    }
    let h = mix64(mix64(user_key ^ seed.rotate_left(17)) ^ u64::from(movie));
    ((h >> 11) as f64 / (1u64 << 53) as f64) < fraction
}

/// Split `ratings` into train and holdout parts, in place: the holdout is
/// moved out, the rest stays where it was, in its order.
pub fn split(
    mut ratings: Ratings,
    user_key: impl Fn(u32) -> u64,
    movie_id: impl Fn(u32) -> u32,
    fraction: f64,
    seed: u64,
) -> (Ratings, Ratings) {
    let test = ratings.split_off_where(|u, i| in_holdout(user_key(u), movie_id(i), fraction, seed));
    (ratings, test)
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

/// How the standard deviation `predict` reports (the model file's diagonal
/// summary, [`Spread::rating_std_dev`]) compares with the sampler's own
/// spread of the same predictions.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct StdDevCheck {
    /// The mean over the test ratings of the sampler's spread.
    pub sampled_mean: f64,
    /// The mean of the standard deviation `predict` reports.
    pub reported_mean: f64,
    /// Their Pearson correlation over the test ratings.
    pub correlation: f64,
    /// The share of test ratings within 1.96 standard deviations of the
    /// prediction, counting the rating noise too: about 0.95 for a
    /// calibrated model.
    pub coverage_95: f64,
}

/// [`StdDevCheck`] over the test ratings whose user and movie the model
/// has; `None` for a model without the spread.
pub fn std_dev_check(model: &Factors, test: &Ratings, sampled: &[f64]) -> Option<StdDevCheck> {
    let spread = model.spread.as_ref()?;
    let noise = f64::from(spread.noise_std_dev);
    let s = model.stride;
    fn row(v: &[f32], r: u32, s: usize) -> &[f32] {
        &v[r as usize * s..(r as usize + 1) * s]
    }
    let (mut pairs, mut inside) = (Vec::new(), 0usize);
    for (k, &sampled) in sampled.iter().enumerate().take(test.len()) {
        let (u, i) = (test.users[k], test.items[k]);
        if u == u32::MAX || i == u32::MAX {
            continue;
        }
        let reported = f64::from(Spread::rating_std_dev(
            (
                spread.user_bias[u as usize],
                row(&model.user_factors, u, s),
                row(&spread.user_factors, u, s),
            ),
            (
                spread.item_bias[i as usize],
                row(&model.item_factors, i, s),
                row(&spread.item_factors, i, s),
            ),
        ));
        let err = f64::from(test.values[k] - model.estimate(Some(u), Some(i)));
        if err.abs() <= 1.96 * (reported * reported + noise * noise).sqrt() {
            inside += 1;
        }
        pairs.push((sampled, reported));
    }
    let n = pairs.len().max(1) as f64;
    let mean = |f: fn(&(f64, f64)) -> f64| pairs.iter().map(f).sum::<f64>() / n;
    let (ma, mb) = (mean(|p| p.0), mean(|p| p.1));
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for &(a, b) in &pairs {
        ab += (a - ma) * (b - mb);
        aa += (a - ma) * (a - ma);
        bb += (b - mb) * (b - mb);
    }
    Some(StdDevCheck {
        sampled_mean: ma,
        reported_mean: mb,
        correlation: ab / (aa * bb).sqrt().max(f64::MIN_POSITIVE),
        coverage_95: inside as f64 / n,
    })
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
