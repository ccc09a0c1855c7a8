//! One block of the factorization machine's features: the user block (each
//! user's indicator and the movies they rated) or the item block (each
//! movie's indicator and the users who rated it), with its parameters, its
//! per-row caches and the Gibbs updates of its features.
//!
//! A rating's prediction is `w0 + lin[u] + lin[i] + Σ_f (q_f[u] q_f[i] +
//! self_f[u] + self_f[i])`, where for a block's row `r`, `q_f[r]` is the sum
//! of its features' factors, `lin[r]` of their linear weights, and
//! `self_f[r] = (q_f[r]² - qs_f[r]) / 2` the interactions of its features
//! among themselves (`qs_f[r]` sums the squared terms). A feature's draw
//! needs sums over the ratings of the rows that hold it; these are gathered
//! once per row (Rendle 2013), so updating a feature costs the number of rows
//! holding it, and a factor dimension of a block costs two passes over the
//! ratings plus one over the block's entries.

use super::draw::{from_precision, Stream};

/// Sparse rows: `offsets[r]..offsets[r + 1]` index `cols`.
#[derive(Debug, Clone, Default)]
pub struct Csr {
    offsets: Vec<usize>,
    cols: Vec<u32>,
}

impl Csr {
    /// Rows `rows[k]` holding `cols[k]`, each row's columns sorted and without
    /// repeats.
    pub fn build(n_rows: usize, rows: &[u32], cols: &[u32]) -> Csr {
        let mut offsets = vec![0usize; n_rows + 1];
        for &r in rows {
            offsets[r as usize + 1] += 1;
        }
        for r in 0..n_rows {
            offsets[r + 1] += offsets[r];
        }
        let mut out = vec![0u32; rows.len()];
        let mut next = offsets.clone();
        for (&r, &c) in rows.iter().zip(cols) {
            out[next[r as usize]] = c;
            next[r as usize] += 1;
        }
        let mut w = 0;
        let mut compact = vec![0usize; n_rows + 1];
        for r in 0..n_rows {
            let (a, b) = (offsets[r], offsets[r + 1]);
            out[a..b].sort_unstable();
            let mut last = None;
            for k in a..b {
                if last != Some(out[k]) {
                    last = Some(out[k]);
                    out[w] = out[k];
                    w += 1;
                }
            }
            compact[r + 1] = w;
        }
        out.truncate(w);
        Csr {
            offsets: compact,
            cols: out,
        }
    }

    pub fn row(&self, r: usize) -> &[u32] {
        &self.cols[self.offsets[r]..self.offsets[r + 1]]
    }
}

/// The normal prior of a feature group's weights: mean and precision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prior {
    pub mu: f64,
    pub lambda: f64,
}

impl Default for Prior {
    fn default() -> Prior {
        Prior {
            mu: 0.0,
            lambda: 1e-5,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Block {
    pub rank: usize,
    /// The implicit features of each row.
    pub implicit: Csr,
    /// The rows holding each implicit feature (the transpose).
    holders: Csr,
    /// The value of each implicit feature of row `r`: `|implicit(r)|^-½`.
    pub norm: Vec<f64>,
    /// Ratings per row.
    count: Vec<f64>,
    pub w_ind: Vec<f64>,
    pub w_imp: Vec<f64>,
    /// Factor-major: factor `f` of feature `l` at `f * n + l`.
    pub v_ind: Vec<f64>,
    pub v_imp: Vec<f64>,
    pub prior_w: [Prior; 2],
    /// Per factor: `[f * 2 + group]`.
    pub prior_v: Vec<Prior>,
    pub lin: Vec<f64>,
    /// Factor-major, as `v_ind`.
    pub q: Vec<f64>,
    pub qs: Vec<f64>,
}

/// Per-row sums over a block's ratings, gathered before its updates.
#[derive(Default)]
struct Sums {
    /// Σ e.
    e: Vec<f64>,
    /// Σ e·q_other.
    eq: Vec<f64>,
    /// Σ q_other.
    s: Vec<f64>,
    /// Σ q_other².
    s2: Vec<f64>,
}

impl Block {
    /// A block with `n_rows` rows whose implicit features are the columns of
    /// the pairs (`rows[k]`, `cols[k]`), `n_cols` of them; factors start as
    /// draws of N(0, init_std²).
    pub fn new(
        n_rows: usize,
        n_cols: usize,
        rows: &[u32],
        cols: &[u32],
        rank: usize,
        init_std: f64,
        init: Stream,
    ) -> Block {
        let implicit = Csr::build(n_rows, rows, cols);
        let mut holders_rows = Vec::with_capacity(implicit.cols.len());
        for r in 0..n_rows {
            holders_rows.extend(std::iter::repeat_n(r as u32, implicit.row(r).len()));
        }
        let holders = Csr::build(n_cols, &implicit.cols, &holders_rows);
        let norm = (0..n_rows)
            .map(|r| match implicit.row(r).len() {
                0 => 0.0,
                n => 1.0 / (n as f64).sqrt(),
            })
            .collect();
        let mut count = vec![0f64; n_rows];
        for &r in rows {
            count[r as usize] += 1.0;
        }
        let draw = |n: usize, offset: u64| -> Vec<f64> {
            (0..n * rank)
                .map(|k| init_std * init.normal(offset + k as u64))
                .collect()
        };
        Block {
            rank,
            v_ind: draw(n_rows, 0),
            v_imp: draw(n_cols, (n_rows * rank) as u64),
            implicit,
            holders,
            norm,
            count,
            w_ind: vec![0.0; n_rows],
            w_imp: vec![0.0; n_cols],
            prior_w: [Prior::default(); 2],
            prior_v: vec![Prior::default(); 2 * rank],
            lin: vec![0.0; n_rows],
            q: vec![0.0; n_rows * rank],
            qs: vec![0.0; n_rows * rank],
        }
    }

    pub fn n_rows(&self) -> usize {
        self.norm.len()
    }

    pub fn n_cols(&self) -> usize {
        self.w_imp.len()
    }

    /// Recompute every row's caches from the parameters.
    pub fn refresh(&mut self) {
        let (n, m) = (self.n_rows(), self.n_cols());
        for r in 0..n {
            let x = self.norm[r];
            let cols = self.implicit.row(r);
            self.lin[r] =
                self.w_ind[r] + x * cols.iter().map(|&j| self.w_imp[j as usize]).sum::<f64>();
            for f in 0..self.rank {
                let v = &self.v_imp[f * m..(f + 1) * m];
                let (mut s, mut s2) = (0.0, 0.0);
                for &j in cols {
                    let y = v[j as usize];
                    s += y;
                    s2 += y * y;
                }
                let own = self.v_ind[f * n + r];
                self.q[f * n + r] = own + x * s;
                self.qs[f * n + r] = own * own + x * x * s2;
            }
        }
    }

    /// The row's terms that do not depend on the other block:
    /// `lin + Σ_f self_f`.
    pub fn own_term(&self, r: usize) -> f64 {
        let n = self.n_rows();
        let mut t = self.lin[r];
        for f in 0..self.rank {
            let (q, qs) = (self.q[f * n + r], self.qs[f * n + r]);
            t += 0.5 * (q * q - qs);
        }
        t
    }

    /// Row `r`'s factor `f` sum, `q_f[r]`.
    #[inline]
    pub fn q_at(&self, f: usize, r: usize) -> f64 {
        self.q[f * self.n_rows() + r]
    }

    /// Draw the hyperparameters of each group from the current weights
    /// (normal-gamma, as in Freudenthaler et al. 2011).
    pub fn draw_priors(&mut self, rng: &mut crate::rng::Rng, hyper: &HyperPrior) {
        let (n, m) = (self.n_rows(), self.n_cols());
        self.prior_w[0] = hyper.draw(rng, &self.w_ind, self.prior_w[0]);
        self.prior_w[1] = hyper.draw(rng, &self.w_imp, self.prior_w[1]);
        for f in 0..self.rank {
            self.prior_v[2 * f] =
                hyper.draw(rng, &self.v_ind[f * n..(f + 1) * n], self.prior_v[2 * f]);
            self.prior_v[2 * f + 1] = hyper.draw(
                rng,
                &self.v_imp[f * m..(f + 1) * m],
                self.prior_v[2 * f + 1],
            );
        }
    }

    /// Draw every linear weight of the block; `e` (rating minus prediction,
    /// per rating) and the caches follow.
    #[allow(clippy::needless_range_loop)] // rows index several arrays
    pub fn draw_linear(&mut self, rows_of: &[u32], e: &mut [f64], alpha: f64, z: Stream) {
        let n = self.n_rows();
        let mut sum_e = vec![0f64; n];
        for (&r, &e) in rows_of.iter().zip(e.iter()) {
            sum_e[r as usize] += e;
        }
        let before = self.lin.clone();
        let prior = self.prior_w[0];
        for r in 0..n {
            let old = self.w_ind[r];
            let quad = self.count[r];
            let lin = sum_e[r] + old * quad;
            let new = from_precision(
                prior.lambda + alpha * quad,
                alpha * lin + prior.lambda * prior.mu,
                z.normal(r as u64),
            );
            let d = new - old;
            self.w_ind[r] = new;
            sum_e[r] -= d * quad;
            self.lin[r] += d;
        }
        let prior = self.prior_w[1];
        for j in 0..self.n_cols() {
            let old = self.w_imp[j];
            let (mut quad, mut lin) = (0.0, 0.0);
            for &r in self.holders.row(j) {
                let (r, x) = (r as usize, self.norm[r as usize]);
                quad += x * x * self.count[r];
                lin += x * sum_e[r];
            }
            lin += old * quad;
            let new = from_precision(
                prior.lambda + alpha * quad,
                alpha * lin + prior.lambda * prior.mu,
                z.normal((n + j) as u64),
            );
            let d = new - old;
            self.w_imp[j] = new;
            for &r in self.holders.row(j) {
                let (r, x) = (r as usize, self.norm[r as usize]);
                sum_e[r] -= d * x * self.count[r];
                self.lin[r] += d * x;
            }
        }
        for (&r, e) in rows_of.iter().zip(e.iter_mut()) {
            let r = r as usize;
            *e -= self.lin[r] - before[r];
        }
    }

    /// Draw factor `f` of every feature of the block. `rows_of` gives each
    /// rating's row in this block, `other_rows` its row in the other block,
    /// whose factor-`f` sums are `other_q`.
    #[allow(clippy::needless_range_loop, clippy::too_many_arguments)]
    pub fn draw_factor(
        &mut self,
        f: usize,
        rows_of: &[u32],
        other_rows: &[u32],
        other_q: &[f64],
        e: &mut [f64],
        alpha: f64,
        z: Stream,
    ) {
        let (n, m) = (self.n_rows(), self.n_cols());
        let mut g = Sums {
            e: vec![0.0; n],
            eq: vec![0.0; n],
            s: vec![0.0; n],
            s2: vec![0.0; n],
        };
        for ((&r, &o), &e) in rows_of.iter().zip(other_rows).zip(e.iter()) {
            let (r, o) = (r as usize, other_q[o as usize]);
            g.e[r] += e;
            g.eq[r] += e * o;
            g.s[r] += o;
            g.s2[r] += o * o;
        }
        let q = &mut self.q[f * n..(f + 1) * n];
        let qs = &mut self.qs[f * n..(f + 1) * n];
        let before: Vec<(f64, f64)> = q.iter().zip(qs.iter()).map(|(&a, &b)| (a, b)).collect();
        let count = &self.count;
        // A feature of value `x` in row `r` has the rating-wise derivative
        // h = x (hb + o), where hb = q[r] - x v is the row's sum without it
        // and o the other block's sum: so Σ h² and Σ h e over the row's
        // ratings come from the row's sums alone.
        let prior = self.prior_v[2 * f];
        let v = &mut self.v_ind[f * n..(f + 1) * n];
        for r in 0..n {
            let old = v[r];
            let hb = q[r] - old;
            let quad = count[r] * hb * hb + 2.0 * g.s[r] * hb + g.s2[r];
            let lin = g.e[r] * hb + g.eq[r] + old * quad;
            let new = from_precision(
                prior.lambda + alpha * quad,
                alpha * lin + prior.lambda * prior.mu,
                z.normal(r as u64),
            );
            let d = new - old;
            v[r] = new;
            g.e[r] -= d * (hb * count[r] + g.s[r]);
            g.eq[r] -= d * (hb * g.s[r] + g.s2[r]);
            q[r] = hb + new;
            qs[r] += new * new - old * old;
        }
        let prior = self.prior_v[2 * f + 1];
        let v = &mut self.v_imp[f * m..(f + 1) * m];
        for j in 0..m {
            let holders = self.holders.row(j);
            if holders.is_empty() {
                continue;
            }
            let old = v[j];
            let (mut quad, mut lin) = (0.0, 0.0);
            for &r in holders {
                let (r, x) = (r as usize, self.norm[r as usize]);
                let hb = q[r] - x * old;
                quad += x * x * (count[r] * hb * hb + 2.0 * g.s[r] * hb + g.s2[r]);
                lin += x * (g.e[r] * hb + g.eq[r]);
            }
            lin += old * quad;
            let new = from_precision(
                prior.lambda + alpha * quad,
                alpha * lin + prior.lambda * prior.mu,
                z.normal((n + j) as u64),
            );
            let d = new - old;
            v[j] = new;
            let d2 = new * new - old * old;
            for &r in holders {
                let (r, x) = (r as usize, self.norm[r as usize]);
                let hb = q[r] - x * old;
                g.e[r] -= d * x * (hb * count[r] + g.s[r]);
                g.eq[r] -= d * x * (hb * g.s[r] + g.s2[r]);
                q[r] += d * x;
                qs[r] += d2 * x * x;
            }
        }
        let delta: Vec<(f64, f64)> = before
            .iter()
            .zip(q.iter().zip(qs.iter()))
            .map(|(&(q0, qs0), (&q1, &qs1))| (q1 - q0, 0.5 * ((q1 * q1 - qs1) - (q0 * q0 - qs0))))
            .collect();
        for ((&r, &o), e) in rows_of.iter().zip(other_rows).zip(e.iter_mut()) {
            let (dq, dself) = delta[r as usize];
            *e -= dq * other_q[o as usize] + dself;
        }
    }
}

/// The hyperprior of every group's (mean, precision): normal-gamma with
/// `alpha_0 = beta_0 = gamma_0 = 1`, `mu_0 = 0` (myFM's and libFM's).
#[derive(Debug, Clone, Copy)]
pub struct HyperPrior {
    pub alpha_0: f64,
    pub beta_0: f64,
    pub gamma_0: f64,
    pub mu_0: f64,
}

impl Default for HyperPrior {
    fn default() -> HyperPrior {
        HyperPrior {
            alpha_0: 1.0,
            beta_0: 1.0,
            gamma_0: 1.0,
            mu_0: 0.0,
        }
    }
}

impl HyperPrior {
    /// Draw a group's precision, then its mean, given its weights.
    fn draw(&self, rng: &mut crate::rng::Rng, weights: &[f64], prior: Prior) -> Prior {
        if weights.is_empty() {
            return prior;
        }
        let n = weights.len() as f64;
        let dev: f64 = weights.iter().map(|w| (w - prior.mu).powi(2)).sum();
        let lambda = super::draw::gamma(rng, (self.alpha_0 + n) / 2.0, (self.beta_0 + dev) / 2.0);
        let quad = lambda * (self.gamma_0 + n);
        let lin = lambda * (self.gamma_0 * self.mu_0 + weights.iter().sum::<f64>());
        let mu = from_precision(quad, lin, rng.normal());
        Prior { mu, lambda }
    }
}
