//! The posterior summaries: sums over the kept samples of everything the
//! model file carries, turned into means and standard deviations at the end.

use super::block::Block;
use super::{Posterior, Probe, Sampled};
use crate::numeric::{stride_for, Factors, Implicit, ImplicitSums, Spread};

/// Sums and sums of squares of a vector of samples.
struct Moments {
    sum: Vec<f64>,
    sq: Vec<f64>,
}

impl Moments {
    fn new(n: usize) -> Moments {
        Moments {
            sum: vec![0.0; n],
            sq: vec![0.0; n],
        }
    }

    fn add(&mut self, v: &[f64]) {
        for ((s, q), &v) in self.sum.iter_mut().zip(&mut self.sq).zip(v) {
            *s += v;
            *q += v * v;
        }
    }

    fn mean(&self, k: f64) -> Vec<f64> {
        self.sum.iter().map(|s| s / k).collect()
    }

    fn std_dev(&self, k: f64) -> Vec<f64> {
        self.sum
            .iter()
            .zip(&self.sq)
            .map(|(s, q)| {
                let m = s / k;
                (q / k - m * m).max(0.0).sqrt()
            })
            .collect()
    }
}

/// Sums over the kept samples.
pub struct Accumulator {
    kept: usize,
    rank: usize,
    w0: f64,
    /// The noise precision.
    alpha: f64,
    c_user: Moments,
    c_item: Moments,
    /// Row-major, `rank` per row.
    a: Moments,
    b: Moments,
    /// The user block's own weights w_u and vectors v_u, its implicit
    /// vectors y_j and implicit weights w_j (the blocks' factor-major
    /// layout).
    w_own: Moments,
    v_own: Moments,
    y: Vec<f64>,
    w_imp: Vec<f64>,
    pred: Moments,
}

impl Accumulator {
    pub fn new(user: &Block, item: &Block, n_probe: usize) -> Accumulator {
        let (nu, ni, rank) = (user.n_rows(), item.n_rows(), user.rank);
        Accumulator {
            kept: 0,
            rank,
            w0: 0.0,
            alpha: 0.0,
            c_user: Moments::new(nu),
            c_item: Moments::new(ni),
            a: Moments::new(nu * rank),
            b: Moments::new(ni * rank),
            w_own: Moments::new(nu),
            v_own: Moments::new(user.v_ind.len()),
            y: vec![0.0; user.v_imp.len()],
            w_imp: vec![0.0; user.w_imp.len()],
            pred: Moments::new(n_probe),
        }
    }

    pub fn add(&mut self, w0: f64, alpha: f64, user: &Block, item: &Block, probe: Probe<'_>) {
        self.kept += 1;
        self.w0 += w0;
        self.alpha += alpha;
        let rank = self.rank;
        let (own_u, own_i) = (user.own_terms(), item.own_terms());
        let (a, b) = (user.row_major_q(), item.row_major_q());
        self.c_user.add(&own_u);
        self.c_item.add(&own_i);
        self.a.add(&a);
        self.b.add(&b);
        let add = |sums: &mut [f64], v: &[f64]| sums.iter_mut().zip(v).for_each(|(s, v)| *s += v);
        self.w_own.add(&user.w_ind);
        self.v_own.add(&user.v_ind);
        add(&mut self.y, &user.v_imp);
        add(&mut self.w_imp, &user.w_imp);
        let pred: Vec<f64> = probe
            .users
            .iter()
            .zip(probe.items)
            .map(|(&u, &i)| {
                let (u, i) = (u as usize, i as usize);
                let mut p = w0 + own_u.get(u).unwrap_or(&0.0) + own_i.get(i).unwrap_or(&0.0);
                if u < own_u.len() && i < own_i.len() {
                    let (a, b) = (&a[u * rank..(u + 1) * rank], &b[i * rank..(i + 1) * rank]);
                    p += a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
                }
                p
            })
            .collect();
        self.pred.add(&pred);
    }

    /// The means and spreads; `user` gives each user's implicit set.
    pub fn finish(self, user: &Block) -> Posterior {
        let k = self.kept.max(1) as f64;
        let rank = self.rank;
        let stride = stride_for(rank);
        let f32s = |v: Vec<f64>| -> Vec<f32> { v.into_iter().map(|x| x as f32).collect() };
        // `rank` values per row, row-major or factor-major, to padded rows.
        let padded = |v: &[f64], factor_major: bool| -> Vec<f32> {
            let n = v.len() / rank.max(1);
            let mut out = vec![0f32; n * stride];
            for (r, row) in out.chunks_exact_mut(stride).enumerate() {
                for (f, x) in row[..rank].iter_mut().enumerate() {
                    *x = v[if factor_major {
                        f * n + r
                    } else {
                        r * rank + f
                    }] as f32;
                }
            }
            out
        };
        let rows = |v: &[f64]| padded(v, false);
        let factor_major_rows = |v: &[f64]| padded(v, true);
        let means = |sums: &[f64]| -> Vec<f64> { sums.iter().map(|s| s / k).collect() };
        let item_factors = factor_major_rows(&means(&self.y));
        let item_weights = f32s(self.w_imp.iter().map(|w| w / k).collect());
        let user_sums = (0..user.n_rows())
            .map(|r| {
                let movies = user.implicit.row(r);
                let (mut w, mut y) = (0f64, 0f64);
                for &j in movies {
                    w += f64::from(item_weights[j as usize]);
                    let yj = &item_factors[j as usize * stride..][..rank];
                    y += yj.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>();
                }
                ImplicitSums {
                    count: movies.len() as u32,
                    weights: w as f32,
                    squares: y as f32,
                    reserved: 0,
                }
            })
            .collect();
        let predictions = self.pred.mean(k);
        let spread = self.pred.std_dev(k);
        Posterior {
            factors: Factors {
                n_factors: rank,
                stride,
                global_mean: (self.w0 / k) as f32,
                user_bias: f32s(self.c_user.mean(k)),
                item_bias: f32s(self.c_item.mean(k)),
                user_factors: rows(&self.a.mean(k)),
                item_factors: rows(&self.b.mean(k)),
                implicit: Some(Implicit {
                    item_factors,
                    item_weights,
                    user_factors: factor_major_rows(&self.v_own.mean(k)),
                    user_sums,
                }),
                spread: Some(Spread {
                    user_bias: f32s(self.c_user.std_dev(k)),
                    item_bias: f32s(self.c_item.std_dev(k)),
                    user_factors: rows(&self.a.std_dev(k)),
                    item_factors: rows(&self.b.std_dev(k)),
                    user_own_bias: f32s(self.w_own.std_dev(k)),
                    user_own_factors: factor_major_rows(&self.v_own.std_dev(k)),
                    noise_std_dev: (k / self.alpha.max(f64::MIN_POSITIVE)).sqrt() as f32,
                }),
            },
            sampled: Sampled {
                predictions,
                spread,
            },
            kept: self.kept,
        }
    }
}
