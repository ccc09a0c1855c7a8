//! Users the model has not seen: a user vector folded in from their ratings
//! against the fixed item factors and biases, and a popularity ranking for
//! users with no ratings at all.
//!
//! Fold-in is ridge regression. With the item side fixed, a user's bias and
//! factors minimise
//!
//! `Σ_i (r_ui − μ − b_i − b_u − q_i·p_u)² + λ (b_u² + ‖p_u‖²)`
//!
//! over the items they rated: the normal equations `(XᵀX + λI) w = Xᵀy`
//! with rows `x_i = [1, q_i]`, solved by Cholesky in f64, with
//! `λ = reg_all · n_u` (the config's `training.reg_all`). SGD regularises
//! each parameter once per rating, so for an `svd` model this is the
//! objective the trained-in users were fitted under. A `bayes_svdpp` model
//! adds the implicit part of the movies the user rated (see
//! [`crate::numeric::FoldInTerms`]): the score stays linear in the user's
//! own bias and vector, which the same ridge step solves for, with the same
//! `λ` (the model draws its own regularisation in training; fold-in does
//! not reproduce it).

use super::Model;
use crate::numeric::{Belief, FoldInTerms};

/// A folded-in user.
#[derive(Debug, Clone, PartialEq)]
pub struct Folded {
    pub bias: f32,
    /// `stride` floats, padding zero.
    pub factors: Vec<f32>,
    /// Item indices they rated, ascending.
    pub rated: Vec<u32>,
}

impl Model {
    /// Fold in a user from `(item index, rating)` pairs with `reg` per
    /// rating. Items out of range are ignored; with no usable rating the
    /// user gets zero bias and factors.
    pub fn fold_in(&self, ratings: &[(u32, f32)], reg: f64) -> Folded {
        let ratings = self.in_range(ratings);
        let mut rated: Vec<u32> = ratings.iter().map(|r| r.0).collect();
        rated.sort_unstable();
        rated.dedup();
        let t = self.fold_in_terms(&rated);
        let lambda = (reg * rated.len() as f64).max(1e-6);
        let (bias, factors) =
            self.solve(&t, &ratings, &Belief::ridge(self.n_factors(), lambda), 1.0);
        Folded {
            bias,
            factors,
            rated,
        }
    }

    /// The ratings of items in the model.
    pub(super) fn in_range(&self, ratings: &[(u32, f32)]) -> Vec<(u32, f32)> {
        ratings
            .iter()
            .copied()
            .filter(|&(item, _)| (item as usize) < self.n_items())
            .collect()
    }

    /// The user's bias and vector (`stride` floats) whose own part (w, v)
    /// is the posterior mean given `prior` and `ratings` (in range) with
    /// noise precision `alpha`, against the implicit terms `t`: the score
    /// of item i is `μ + c_i + k + ⟨z, b_i⟩ + w + ⟨v, z + b_i⟩`, so the
    /// normal equations are `(P + α XᵀX) θ = P θ̄ + α Xᵀy` with rows
    /// `x_i = [1, z + b_i]`, solved by Cholesky in f64, then
    /// [`Model::assemble`]d.
    pub(super) fn solve(
        &self,
        t: &FoldInTerms,
        ratings: &[(u32, f32)],
        prior: &Belief,
        alpha: f64,
    ) -> (f32, Vec<f32>) {
        let k = self.n_factors();
        let dim = k + 1;
        let mu = f64::from(self.global_mean());
        let mut a = vec![0f64; dim * dim];
        let mut b = vec![0f64; dim];
        let mut x = vec![0f64; dim];
        for &(item, r) in ratings {
            let q = &self.item_factors(item)[..k];
            let zq: f64 = t.z.iter().zip(q).map(|(z, &q)| z * f64::from(q)).sum();
            x[0] = 1.0;
            for ((xf, &q), z) in x[1..].iter_mut().zip(q).zip(&t.z) {
                *xf = f64::from(q) + z;
            }
            let y = f64::from(r) - mu - f64::from(self.item_bias(item)) - t.k - zq;
            for i in 0..dim {
                b[i] += alpha * x[i] * y;
                let xi = alpha * x[i];
                for (aij, &xj) in a[i * dim..i * dim + i + 1].iter_mut().zip(&x[..=i]) {
                    *aij += xi * xj;
                }
            }
        }
        for i in 0..dim {
            a[i * dim + i] += prior.precision[i];
            b[i] += prior.precision[i] * prior.mean[i];
        }
        let w = cholesky_solve(&mut a, &mut b, dim).unwrap_or_else(|| prior.mean.clone());
        self.assemble(t, &w)
    }

    /// The bias and vector (`stride` floats) of a user whose own part is
    /// `own` = (w, v), against the implicit terms `t`:
    /// `(w + k + ⟨v, z⟩, v + z)`.
    pub(super) fn assemble(&self, t: &FoldInTerms, own: &[f64]) -> (f32, Vec<f32>) {
        let (w, v) = (own[0], &own[1..]);
        let vz: f64 = v.iter().zip(&t.z).map(|(v, z)| v * z).sum();
        let mut factors = vec![0f32; self.stride()];
        for ((f, &v), z) in factors.iter_mut().zip(v).zip(&t.z) {
            *f = (v + z) as f32;
        }
        ((w + t.k + vz) as f32, factors)
    }

    /// The predicted rating of `item` for a folded-in user, clipped.
    pub fn predict_folded(&self, user: &Folded, item: u32) -> f32 {
        self.scale().clip(self.estimate_folded(user, item))
    }

    /// [`Model::predict_folded`] before clipping, for ranking.
    pub fn estimate_folded(&self, user: &Folded, item: u32) -> f32 {
        self.global_mean()
            + user.bias
            + self.item_bias(item)
            + crate::numeric::dot(&user.factors, self.item_factors(item))
    }

    /// Every item's damped mean rating, `(n·mean + m·μ) / (n + m)`: an item
    /// rated by few counts little more than the global mean, so a handful
    /// of fives does not outrank a classic.
    pub fn damped_means(&self, m: f32) -> Vec<f32> {
        let mu = self.global_mean();
        (0..self.n_items() as u32)
            .map(|i| {
                let n = self.item_count(i) as f32;
                (n * self.item_mean(i) + m * mu) / (n + m)
            })
            .collect()
    }
}

/// Solve `A w = b` for symmetric positive definite `A` (its lower triangle
/// filled, row-major `dim × dim`), in place. None if `A` is not positive
/// definite.
fn cholesky_solve(a: &mut [f64], b: &mut [f64], dim: usize) -> Option<Vec<f64>> {
    for j in 0..dim {
        let mut d = a[j * dim + j];
        for k in 0..j {
            d -= a[j * dim + k] * a[j * dim + k];
        }
        if d.is_nan() || d <= 0.0 {
            return None;
        }
        let d = d.sqrt();
        a[j * dim + j] = d;
        for i in j + 1..dim {
            let mut s = a[i * dim + j];
            for k in 0..j {
                s -= a[i * dim + k] * a[j * dim + k];
            }
            a[i * dim + j] = s / d;
        }
    }
    // L y = b, then Lᵀ w = y.
    for i in 0..dim {
        let mut s = b[i];
        for k in 0..i {
            s -= a[i * dim + k] * b[k];
        }
        b[i] = s / a[i * dim + i];
    }
    for i in (0..dim).rev() {
        let mut s = b[i];
        for k in i + 1..dim {
            s -= a[k * dim + i] * b[k];
        }
        b[i] = s / a[i * dim + i];
    }
    Some(b.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solves_a_small_system() {
        // [[4, 2], [2, 3]] w = [2, 1] → w = [0.5, 0].
        let mut a = vec![4.0, 0.0, 2.0, 3.0];
        let mut b = vec![2.0, 1.0];
        let w = cholesky_solve(&mut a, &mut b, 2).unwrap();
        assert!((w[0] - 0.5).abs() < 1e-12 && w[1].abs() < 1e-12, "{w:?}");
        let mut bad = vec![-1.0, 0.0, 0.0, 1.0];
        assert!(cholesky_solve(&mut bad, &mut [1.0, 1.0], 2).is_none());
    }

    #[test]
    fn a_folded_in_user_is_close_to_the_trained_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.recd");
        crate::model::tests::write_tiny_model(&path, "v", 1.0);
        let m = Model::open(&path).unwrap();
        // With no regularisation to speak of, folding a user in from
        // ratings the model predicts exactly gives back those predictions.
        let u = m.user_index("ml:10").unwrap();
        let ratings: Vec<(u32, f32)> = (0..m.n_items() as u32)
            .map(|i| (i, m.predict(Some(u), Some(i))))
            .collect();
        let f = m.fold_in(&ratings, 1e-9);
        for &(i, r) in &ratings {
            assert!((m.predict_folded(&f, i) - r).abs() < 0.05, "item {i}");
        }
        assert_eq!(f.rated.len(), m.n_items());
        assert_eq!(f.factors.len(), m.stride());
        let none = m.fold_in(&[], 0.04);
        assert_eq!(none.bias, 0.0);
        let means = m.damped_means(10.0);
        assert_eq!(means.len(), m.n_items());
    }
}
