//! What a `bayes_svdpp` model file carries beyond the dot product: the
//! implicit part, through which a trained user's movies rated since training
//! move their vector at once, and the parameters' spread, from which a
//! prediction's standard deviation is estimated. Files without these
//! sections (every `svd` model) answer `None`.

use super::foldin::Folded;
use super::format::Kind;
use super::Model;
use crate::numeric::{Belief, FoldInTerms, ImplicitSums, Spread, UserPart};

impl Model {
    /// Whether the file holds the implicit part.
    pub fn has_implicit(&self) -> bool {
        self.file.has(Kind::ImplicitFactors)
    }

    /// Whether the file holds the parameters' spread.
    pub fn has_spread(&self) -> bool {
        self.file.has(Kind::UserBiasSpread)
    }

    /// Movie `item`'s implicit factor vector y_j (`n_factors` floats) and
    /// weight w_j.
    fn implicit_movie(&self, item: u32) -> (&[f32], f32) {
        (
            &self.row(Kind::ImplicitFactors, item)[..self.n_factors()],
            self.file.f32s(Kind::ImplicitWeights)[item as usize],
        )
    }

    fn user_part(&self, user: u32) -> UserPart<'_> {
        let sums: &[ImplicitSums] = bytemuck::cast_slice(self.file.bytes(Kind::UserImplicitSums));
        UserPart {
            factors: self.user_factors(user),
            bias: self.user_bias(user),
            own: self.row(Kind::UserOwnFactors, user),
            sums: sums[user as usize],
        }
    }

    /// Trained user `user` updated by their ratings `since` training (item
    /// index, rating): the movies among them joins their implicit part (one
    /// vector addition each; a movie already theirs stays as it was), then
    /// their own bias and vector take the ratings in as a Bayesian update,
    /// the prior being the trained posterior's mean and spread and the
    /// noise the model's (see [`Model::solve`]; skipped for a file without
    /// the spread). `None` when no rating is of a movie in the model, and
    /// for a model without an implicit part.
    pub fn updated_user(&self, user: u32, since: &[(u32, f32)]) -> Option<Folded> {
        let since = self.in_range(since);
        if !self.has_implicit() || user as usize >= self.n_users() || since.is_empty() {
            return None;
        }
        let known = self.rated_items(user);
        let mut added: Vec<u32> = since
            .iter()
            .map(|r| r.0)
            .filter(|i| known.binary_search(i).is_err())
            .collect();
        added.sort_unstable();
        added.dedup();
        let dim = self.n_factors();
        let (terms, own) = self
            .user_part(user)
            .with_movies(added.iter().map(|&i| self.implicit_movie(i)), dim);
        let noise = self.metadata().noise_std_dev.filter(|s| *s > 0.0);
        let (bias, factors) = match noise {
            Some(noise) if self.has_spread() => {
                let sd = |x: f32| f64::from(x).max(1e-3);
                let mut precision =
                    vec![1.0 / sd(self.file.f32s(Kind::UserOwnBiasSpread)[user as usize]).powi(2)];
                precision.extend(
                    self.row(Kind::UserOwnFactorSpread, user)[..dim]
                        .iter()
                        .map(|&x| 1.0 / sd(x).powi(2)),
                );
                let prior = Belief {
                    mean: own,
                    precision,
                };
                self.solve(&terms, &since, &prior, 1.0 / (noise * noise))
            }
            _ => self.assemble(&terms, &own),
        };
        let mut rated = known.to_vec();
        rated.extend_from_slice(&added);
        rated.sort_unstable();
        Some(Folded {
            bias,
            factors,
            rated,
        })
    }

    /// The implicit terms of a user the model has not seen who rated the
    /// movies `rated` (ascending, in range, no repeats); zero for a model
    /// without an implicit part.
    pub(super) fn fold_in_terms(&self, rated: &[u32]) -> FoldInTerms {
        let dim = self.n_factors();
        if !self.has_implicit() {
            return FoldInTerms::of(std::iter::empty(), dim);
        }
        FoldInTerms::of(rated.iter().map(|&i| self.implicit_movie(i)), dim)
    }

    /// The posterior standard deviation of the predicted rating of `item`
    /// for trained user `user`, from the spread of their parts (see
    /// [`Spread::rating_std_dev`]); with their vector as `updated` (the
    /// spread stays the trained one). `None` for a model without the spread.
    pub fn predict_std_dev(&self, user: u32, item: u32, updated: Option<&Folded>) -> Option<f32> {
        if !self.has_spread() || user as usize >= self.n_users() || item as usize >= self.n_items()
        {
            return None;
        }
        let sd = |k: Kind, i: u32| self.file.f32s(k)[i as usize];
        Some(Spread::rating_std_dev(
            (
                sd(Kind::UserBiasSpread, user),
                updated.map_or(self.user_factors(user), |f| &f.factors),
                self.row(Kind::UserFactorSpread, user),
            ),
            (
                sd(Kind::ItemBiasSpread, item),
                self.item_factors(item),
                self.row(Kind::ItemFactorSpread, item),
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::{bayes_model_with_ratings, model_with_ratings};

    /// a_u and c_u − w_u of own vector `v` and implicit set `set`, by the
    /// definitions.
    fn definition(m: &Model, v: &[f32], set: &[u32]) -> (Vec<f64>, f64) {
        let k = m.n_factors();
        let s = 1.0 / (set.len() as f64).sqrt();
        let mut a: Vec<f64> = v[..k].iter().map(|&x| f64::from(x)).collect();
        let (mut w, mut y) = (0.0, 0.0);
        for &j in set {
            let (yj, wj) = m.implicit_movie(j);
            w += f64::from(wj);
            for (a, &x) in a.iter_mut().zip(&yj[..k]) {
                *a += s * f64::from(x);
                y += f64::from(x).powi(2);
            }
        }
        let vv: f64 = v.iter().map(|&x| f64::from(x).powi(2)).sum();
        let aa: f64 = a.iter().map(|x| x * x).sum();
        (a, s * w + 0.5 * (aa - vv - s * s * y))
    }

    fn users() -> Vec<Vec<u32>> {
        vec![(0..40).collect(), vec![1, 5, 9], (10..30).collect()]
    }

    #[test]
    fn a_trained_user_takes_the_movies_rated_since_into_their_vector() {
        let m = bayes_model_with_ratings(40, &users());
        assert!(m.has_implicit() && m.has_spread());
        let u = 1;
        assert_eq!(m.rated_items(u), &[1, 5, 9]);
        assert!(m.updated_user(u, &[]).is_none());
        assert!(m.updated_user(u, &[(400, 5.0)]).is_none());
        // The implicit part alone: what the update is before the ratings'
        // values are taken in (a model without the spread).
        let since = [(20, 5.0), (5, 1.0), (33, 5.0), (20, 5.0), (400, 3.0)];
        let dim = m.n_factors();
        let (terms, own) = m
            .user_part(u)
            .with_movies([20u32, 33].iter().map(|&i| m.implicit_movie(i)), dim);
        let v: Vec<f32> = own[1..].iter().map(|&x| x as f32).collect();
        let (_, c_before) = definition(&m, m.row(Kind::UserOwnFactors, u), &[1, 5, 9]);
        let w_u = f64::from(m.user_bias(u)) - c_before;
        assert!((own[0] - w_u).abs() < 1e-5);
        let (a, c) = definition(&m, &v, &[1, 5, 9, 20, 33]);
        for (t, (&v, a)) in terms.z.iter().zip(v.iter().zip(&a)) {
            assert!((f64::from(v) + t - a).abs() < 1e-5);
        }
        let vz: f64 = v.iter().zip(&terms.z).map(|(&v, z)| f64::from(v) * z).sum();
        assert!((w_u + terms.k + vz - (w_u + c)).abs() < 1e-5);
        // With the values: the estimates come nearer the ratings than the
        // implicit part alone puts them, and the vector moves.
        let f = m.updated_user(u, &since).unwrap();
        assert_eq!(f.rated, vec![1, 5, 9, 20, 33]);
        let implicit_only = m.assemble(&terms, &own);
        let implicit_only = Folded {
            bias: implicit_only.0,
            factors: implicit_only.1,
            rated: vec![],
        };
        let misfit = |f: &Folded| -> f32 {
            since[..4]
                .iter()
                .map(|&(i, r)| (m.estimate_folded(f, i) - r).powi(2))
                .sum()
        };
        assert!(misfit(&f) < misfit(&implicit_only));
        assert!((m.predict_folded(&f, 3) - m.predict(Some(u), Some(3))).abs() > 1e-4);
        // A model without the implicit part has nothing to add.
        let svd = model_with_ratings(40, &users());
        assert!(!svd.has_implicit() && svd.updated_user(u, &since).is_none());
    }

    #[test]
    fn an_unseen_user_is_folded_in_with_the_implicit_part_of_their_movies() {
        let m = bayes_model_with_ratings(40, &users());
        let k = m.n_factors();
        // A user of own bias w and vector v who rated movies 0..30: ratings
        // the model's formula gives exactly.
        let rated: Vec<u32> = (0..30).collect();
        let v: Vec<f32> = (0..k).map(|f| 0.1 * f as f32 - 0.2).collect();
        let w = 0.3;
        let (a, c) = definition(&m, &v, &rated);
        let bias = w + c;
        let ratings: Vec<(u32, f32)> = rated
            .iter()
            .map(|&i| {
                let b = m.item_factors(i);
                let dot: f64 = a.iter().zip(b).map(|(a, &b)| a * f64::from(b)).sum();
                let r = f64::from(m.global_mean()) + bias + f64::from(m.item_bias(i)) + dot;
                (i, r as f32)
            })
            .collect();
        let f = m.fold_in(&ratings, 1e-9);
        assert!((f64::from(f.bias) - bias).abs() < 1e-3, "{} {bias}", f.bias);
        for (got, want) in f.factors.iter().zip(&a) {
            assert!(
                (f64::from(*got) - want).abs() < 1e-3,
                "{:?} {a:?}",
                f.factors
            );
        }
    }

    #[test]
    fn predictions_of_a_bayesian_model_carry_a_standard_deviation() {
        let m = bayes_model_with_ratings(40, &users());
        let (u, i) = (2, 7);
        let sd = m.predict_std_dev(u, i, None).unwrap();
        let want = Spread::rating_std_dev(
            (
                m.file.f32s(Kind::UserBiasSpread)[u as usize],
                m.user_factors(u),
                m.row(Kind::UserFactorSpread, u),
            ),
            (
                m.file.f32s(Kind::ItemBiasSpread)[i as usize],
                m.item_factors(i),
                m.row(Kind::ItemFactorSpread, i),
            ),
        );
        assert!(sd > 0.0 && sd == want);
        assert!(m.predict_std_dev(u, 40, None).is_none());
        assert!(model_with_ratings(40, &users())
            .predict_std_dev(u, i, None)
            .is_none());
    }

    #[test]
    fn files_with_the_bayesian_sections_are_version_2_and_hold_them_whole() {
        use crate::model::tests::{fix_checksum, open_err, write_tiny_bayes, write_tiny_model};
        let dir = tempfile::tempdir().unwrap();
        let (svd, bayes) = (dir.path().join("svd.recd"), dir.path().join("b.recd"));
        write_tiny_model(&svd, "v", 1.0);
        write_tiny_bayes(&bayes);
        let version = |p: &std::path::Path| std::fs::read(p).unwrap()[8];
        assert_eq!((version(&svd), version(&bayes)), (1, 2));
        // One section of a group without the others is refused.
        let mut bytes = std::fs::read(&bayes).unwrap();
        let count = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
        let entry = (0..count)
            .map(|n| 64 + 24 * n)
            .find(|&e| bytes[e..e + 4] == (Kind::ImplicitWeights as u32).to_le_bytes())
            .unwrap();
        bytes[entry..entry + 4].copy_from_slice(&999u32.to_le_bytes());
        fix_checksum(&mut bytes);
        let e = open_err(&bytes).to_string();
        assert!(
            e.contains("section ImplicitWeights is missing beside ImplicitFactors"),
            "{e}"
        );
    }
}
