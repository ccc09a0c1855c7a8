//! What a Bayesian SVD++ model carries beyond a dot-product model: the
//! implicit part its user vectors are made of (so that a movie rated after
//! training can move them) and the spread of its parameters over the kept
//! samples (so that a prediction can say how sure it is).
//!
//! The user side of the score is (see `train::bayes`)
//!
//! ```text
//! a_u = v_u + s·S          S = Σ_{j∈N(u)} y_j       s = |N(u)|^-½
//! c_u = w_u + s·W + ½(‖a_u‖² − ‖v_u‖² − s²·Y)
//!                          W = Σ_{j∈N(u)} w_j       Y = Σ_{j∈N(u)} ‖y_j‖²
//! ```
//!
//! [`FoldInTerms`] are what a user's own bias and vector are solved against
//! when the model has not seen them; [`UserPart::with_movies`] gives the same
//! terms for a trained user with movies added to N(u), and the own bias and
//! vector their exported parts imply.

/// The implicit part of a fitted Bayesian SVD++ model (posterior means).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Implicit {
    /// y_j of every movie, `stride` floats each (padding zero).
    pub item_factors: Vec<f32>,
    /// w_j of every movie.
    pub item_weights: Vec<f32>,
    /// v_u of every user, `stride` floats each (padding zero).
    pub user_factors: Vec<f32>,
    /// |N(u)|, W and Y of every user, from the posterior means.
    pub user_sums: Vec<ImplicitSums>,
}

/// A user's sums over the movies of their implicit set N(u).
#[derive(Debug, Clone, Copy, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct ImplicitSums {
    /// |N(u)|.
    pub count: u32,
    /// W: the sum of their linear weights w_j.
    pub weights: f32,
    /// Y: the sum of their factor vectors' squared norms ‖y_j‖².
    pub squares: f32,
    pub reserved: u32,
}

/// The standard deviation over the kept samples of every exported
/// parameter: a diagonal summary of the posterior (see
/// [`Spread::rating_std_dev`] for what it leaves out).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Spread {
    pub user_bias: Vec<f32>,
    pub item_bias: Vec<f32>,
    /// `stride` floats per user (padding zero).
    pub user_factors: Vec<f32>,
    pub item_factors: Vec<f32>,
    /// The same for each user's own weight w_u and vector v_u (`stride`
    /// floats per user): the prior of an update by ratings since training.
    pub user_own_bias: Vec<f32>,
    pub user_own_factors: Vec<f32>,
    /// The rating noise's standard deviation, `ᾱ^-½` for the posterior
    /// mean ᾱ of its precision.
    pub noise_std_dev: f32,
}

impl Spread {
    /// The standard deviation of a predicted rating from the spreads of its
    /// parts, taken as independent:
    /// `var(c_u) + var(c_i) + Σ_f (b_f²·var(a_f) + a_f²·var(b_f) + var(a_f)·var(b_f))`.
    /// It leaves out the covariances
    /// (between a user's bias and vector, and between factors), and the
    /// spread of the global mean.
    pub fn rating_std_dev(user: (f32, &[f32], &[f32]), item: (f32, &[f32], &[f32])) -> f32 {
        let (su, a, sa) = user;
        let (si, b, sb) = item;
        let mut var = su * su + si * si;
        for (((&a, &sa), &b), &sb) in a.iter().zip(sa).zip(b).zip(sb) {
            let (va, vb) = (sa * sa, sb * sb);
            var += b * b * va + a * a * vb + va * vb;
        }
        var.max(0.0).sqrt()
    }
}

/// A user's side of the score and what it is made of.
#[derive(Debug, Clone, Copy)]
pub struct UserPart<'a> {
    /// a_u (`stride` floats).
    pub factors: &'a [f32],
    /// c_u.
    pub bias: f32,
    /// v_u (`stride` floats).
    pub own: &'a [f32],
    pub sums: ImplicitSums,
}

/// What a user the model has not seen is folded in against: with z their
/// implicit vector `s·Σ y_j` and `k` the bias terms it brings, the score is
/// `μ + c_i + k + ⟨z, b_i⟩ + w + ⟨v, z + b_i⟩`, linear in the unknowns w, v.
#[derive(Debug, Clone, PartialEq)]
pub struct FoldInTerms {
    pub z: Vec<f64>,
    pub k: f64,
}

impl FoldInTerms {
    /// The terms of the implicit set `movies` (indices, no repeats), from
    /// each movie's y_j (`stride` floats) and w_j.
    pub fn of<'a>(movies: impl ExactSizeIterator<Item = (&'a [f32], f32)>, dim: usize) -> Self {
        let n = movies.len();
        let mut z = vec![0f64; dim];
        let (mut w, mut y) = (0f64, 0f64);
        for (yj, wj) in movies {
            w += f64::from(wj);
            for (z, &v) in z.iter_mut().zip(yj) {
                let v = f64::from(v);
                *z += v;
                y += v * v;
            }
        }
        if n == 0 {
            return FoldInTerms { z, k: 0.0 };
        }
        let s = 1.0 / (n as f64).sqrt();
        z.iter_mut().for_each(|v| *v *= s);
        let zz: f64 = z.iter().map(|v| v * v).sum();
        FoldInTerms {
            k: s * w + 0.5 * zz - 0.5 * s * s * y,
            z,
        }
    }
}

/// A Gaussian belief about a user's own bias and vector (w, v): its mean
/// and diagonal precision, bias first, then the vector's `dim` entries.
#[derive(Debug, Clone, PartialEq)]
pub struct Belief {
    pub mean: Vec<f64>,
    pub precision: Vec<f64>,
}

impl Belief {
    /// Ridge regression's: mean zero, precision `lambda` everywhere.
    pub fn ridge(dim: usize, lambda: f64) -> Belief {
        Belief {
            mean: vec![0.0; dim + 1],
            precision: vec![lambda; dim + 1],
        }
    }
}

impl UserPart<'_> {
    /// The implicit terms of N(u) with the `added` movies (each's y_j and
    /// w_j) joined, and the user's own bias and vector (w_u, v_u) as the
    /// exported parts imply them: so that with nothing added,
    /// `v_u + z` and `w_u + k + ⟨v_u, z⟩` give back a_u and c_u exactly.
    pub fn with_movies<'a>(
        &self,
        added: impl ExactSizeIterator<Item = (&'a [f32], f32)>,
        dim: usize,
    ) -> (FoldInTerms, Vec<f64>) {
        let n = self.sums.count as usize;
        let s = if n == 0 { 0.0 } else { 1.0 / (n as f64).sqrt() };
        let (a, v) = (&self.factors[..dim], &self.own[..dim]);
        // S from a_u = v_u + s·S.
        let mut sum: Vec<f64> = a
            .iter()
            .zip(v)
            .map(|(&a, &v)| {
                if n == 0 {
                    0.0
                } else {
                    (f64::from(a) - f64::from(v)) / s
                }
            })
            .collect();
        let (w0, y0) = (f64::from(self.sums.weights), f64::from(self.sums.squares));
        let norm = |x: &[f32]| x.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>();
        let c_implicit = s * w0 + 0.5 * (norm(a) - norm(v) - s * s * y0);
        let mut own = vec![f64::from(self.bias) - c_implicit];
        own.extend(v.iter().map(|&x| f64::from(x)));
        let n2 = n + added.len();
        let (mut w, mut y) = (w0, y0);
        for (yj, wj) in added {
            w += f64::from(wj);
            for (s, &x) in sum.iter_mut().zip(yj) {
                let x = f64::from(x);
                *s += x;
                y += x * x;
            }
        }
        if n2 == 0 {
            return (FoldInTerms { z: sum, k: 0.0 }, own);
        }
        let s2 = 1.0 / (n2 as f64).sqrt();
        let z: Vec<f64> = sum.iter().map(|t| s2 * t).collect();
        let zz: f64 = z.iter().map(|x| x * x).sum();
        let k = s2 * w + 0.5 * zz - 0.5 * s2 * s2 * y;
        (FoldInTerms { z, k }, own)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// c_u and a_u straight from the definitions.
    fn direct(v: &[f32], w_u: f32, ys: &[(&[f32], f32)]) -> (Vec<f64>, f64) {
        let s = 1.0 / (ys.len() as f64).sqrt();
        let mut a: Vec<f64> = v.iter().map(|&x| f64::from(x)).collect();
        let (mut w, mut y) = (0.0, 0.0);
        for (yj, wj) in ys {
            w += f64::from(*wj);
            for (a, &x) in a.iter_mut().zip(*yj) {
                *a += s * f64::from(x);
                y += f64::from(x) * f64::from(x);
            }
        }
        let vv: f64 = v.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
        let aa: f64 = a.iter().map(|x| x * x).sum();
        (a, f64::from(w_u) + s * w + 0.5 * (aa - vv - s * s * y))
    }

    /// The parts of own (w, v) and the terms: `(v + z, w + k + ⟨v, z⟩)`.
    fn parts(t: &FoldInTerms, own: &[f64]) -> (Vec<f64>, f64) {
        let v = &own[1..];
        let vz: f64 = v.iter().zip(&t.z).map(|(v, z)| v * z).sum();
        (
            v.iter().zip(&t.z).map(|(v, z)| v + z).collect(),
            own[0] + t.k + vz,
        )
    }

    #[test]
    fn adding_movies_gives_the_parts_of_the_larger_set() {
        let v = [0.3f32, -0.2];
        let y1 = [0.1f32, 0.4];
        let y2 = [-0.5f32, 0.2];
        let y3 = [0.7f32, 0.05];
        let before = [(&y1[..], 0.2f32), (&y2[..], -0.1)];
        let (a, c) = direct(&v, 0.05, &before);
        let a32: Vec<f32> = a.iter().map(|&x| x as f32).collect();
        let part = UserPart {
            factors: &a32,
            bias: c as f32,
            own: &v,
            sums: ImplicitSums {
                count: 2,
                weights: 0.1,
                squares: y1.iter().chain(&y2).map(|x| x * x).sum(),
                reserved: 0,
            },
        };
        let (t, own) = part.with_movies(std::iter::empty(), 2);
        assert!((own[0] - 0.05).abs() < 1e-6, "{own:?}");
        let (same, same_c) = parts(&t, &own);
        for (got, want) in same.iter().zip(&a) {
            assert!((got - want).abs() < 1e-6);
        }
        assert!((same_c - c).abs() < 1e-6);
        let (t, own) = part.with_movies([(&y3[..], 0.3f32)].into_iter(), 2);
        let (a2, c2) = parts(&t, &own);
        let (want_a, want_c) = direct(&v, 0.05, &[before[0], before[1], (&y3[..], 0.3)]);
        for (got, want) in a2.iter().zip(&want_a) {
            assert!((got - want).abs() < 1e-6, "{a2:?} {want_a:?}");
        }
        assert!((c2 - want_c).abs() < 1e-6, "{c2} {want_c}");
    }

    #[test]
    fn fold_in_terms_match_the_definition() {
        let y1 = [0.1f32, 0.4];
        let y2 = [-0.5f32, 0.2];
        let t = FoldInTerms::of([(&y1[..], 0.2f32), (&y2[..], -0.1)].into_iter(), 2);
        // With v = 0 and w = 0: a = z and c = k.
        let (a, c) = direct(&[0.0, 0.0], 0.0, &[(&y1[..], 0.2), (&y2[..], -0.1)]);
        assert!((t.k - c).abs() < 1e-12 && (t.z[0] - a[0]).abs() < 1e-12);
        assert_eq!(FoldInTerms::of(std::iter::empty(), 2).k, 0.0);
    }

    #[test]
    fn independent_parts_add_their_variances() {
        let sd = Spread::rating_std_dev((0.3, &[1.0], &[0.0]), (0.4, &[2.0], &[0.0]));
        assert!((sd - 0.5).abs() < 1e-6);
        let sd = Spread::rating_std_dev((0.0, &[1.0], &[0.1]), (0.0, &[2.0], &[0.2]));
        let want = (4.0 * 0.01 + 1.0 * 0.04 + 0.01 * 0.04f32).sqrt();
        assert!((sd - want).abs() < 1e-6);
    }
}
