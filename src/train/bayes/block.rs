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
//! holding it, and a factor dimension of a block costs one pass over the
//! ratings plus two over the block's entries. A feature no row holds (a
//! movie whose only ratings were held out) is drawn from its prior.

use super::cases::{wide, Change, Real, Sums};
use super::draw::{from_precision, Stream};
use crate::train::csr::Csr;

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
    /// Scratch of [`Block::draw_factor`].
    rows: Vec<Row>,
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
        let mut holders_rows = Vec::with_capacity(implicit.cols().len());
        for r in 0..n_rows {
            holders_rows.extend(std::iter::repeat_n(r as u32, implicit.row(r).len()));
        }
        let holders = Csr::build(n_cols, implicit.cols(), &holders_rows);
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
            rows: Vec::new(),
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

    /// Every row's [`Block::own_term`].
    pub fn own_terms(&self) -> Vec<f64> {
        (0..self.n_rows()).map(|r| self.own_term(r)).collect()
    }

    /// Factor `f`'s sums of every row.
    pub fn q_of(&self, f: usize) -> &[f64] {
        let n = self.n_rows();
        &self.q[f * n..(f + 1) * n]
    }

    /// The factor sums, `rank` per row.
    pub fn row_major_q(&self) -> Vec<f64> {
        let n = self.n_rows();
        let mut out = vec![0.0; n * self.rank];
        for (f, q) in self.q.chunks_exact(n.max(1)).enumerate() {
            for (r, &q) in q.iter().enumerate() {
                out[r * self.rank + f] = q;
            }
        }
        out
    }

    /// Ratings per row.
    pub fn counts(&self) -> &[f64] {
        &self.count
    }

    /// Draw the hyperparameters of each group from the current weights
    /// (normal-gamma, in myFM's form: the precision's draw leaves out the
    /// mean's own prior term, negligible at these group sizes).
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

    /// Draw every linear weight of the block, given each row's Σ e over its
    /// ratings; `out` receives each row's change of its linear term.
    pub fn draw_linear(&mut self, sum_e: &[f64], alpha: f64, z: Stream, out: &mut [Change]) {
        let n = self.n_rows();
        let mut rows: Vec<(f64, f64)> = sum_e
            .iter()
            .zip(&self.count)
            .map(|(&e, &c)| (e, c))
            .collect();
        let before = self.lin.clone();
        let prior = self.prior_w[0];
        for (r, ((e, count), w)) in rows.iter_mut().zip(self.w_ind.iter_mut()).enumerate() {
            let old = *w;
            let new = from_precision(
                prior.lambda + alpha * *count,
                alpha * (*e + old * *count) + prior.lambda * prior.mu,
                z.normal(r as u64),
            );
            *w = new;
            *e -= (new - old) * *count;
            self.lin[r] += new - old;
        }
        let prior = self.prior_w[1];
        for (j, w) in self.w_imp.iter_mut().enumerate() {
            let holders = self.holders.row(j);
            let old = *w;
            let (mut quad, mut lin) = (0.0, 0.0);
            for &r in holders {
                let ((e, count), x) = (rows[r as usize], self.norm[r as usize]);
                quad += x * x * count;
                lin += x * e;
            }
            let new = from_precision(
                prior.lambda + alpha * quad,
                alpha * (lin + old * quad) + prior.lambda * prior.mu,
                z.normal((n + j) as u64),
            );
            let d = new - old;
            *w = new;
            for &r in holders {
                let (r, x) = (r as usize, self.norm[r as usize]);
                rows[r].0 -= d * x * rows[r].1;
                self.lin[r] += d * x;
            }
        }
        for ((o, new), old) in out.iter_mut().zip(&self.lin).zip(before) {
            *o = Change {
                old: 0.0,
                new: 0.0,
                c: (new - old) as Real,
            };
        }
    }

    /// Draw factor `f` of every feature of the block, given each row's
    /// [`Sums`] over its ratings; `out` receives each row's [`Change`].
    pub fn draw_factor(
        &mut self,
        f: usize,
        sums: &[Sums],
        alpha: f64,
        z: Stream,
        out: &mut [Change],
    ) {
        let (n, m) = (self.n_rows(), self.n_cols());
        let q = &mut self.q[f * n..(f + 1) * n];
        let qs = &mut self.qs[f * n..(f + 1) * n];
        let rows = &mut self.rows;
        rows.clear();
        rows.extend((0..n).map(|r| Row {
            q: q[r] as Real,
            qs: qs[r] as Real,
            x: self.norm[r] as Real,
            count: self.count[r] as Real,
            g: sums[r],
        }));
        // A feature of value `x` in row `r` has the rating-wise derivative
        // h = x (hb + o), where hb = q[r] - x v is the row's sum without it
        // and o the other block's sum: so Σ h² and Σ h e over the row's
        // ratings come from the row's sums alone.
        let prior = self.prior_v[2 * f];
        let v = &mut self.v_ind[f * n..(f + 1) * n];
        for (r, (row, v)) in rows.iter_mut().zip(v.iter_mut()).enumerate() {
            let old = *v;
            let (quad, lin) = row.terms(1.0, old as Real);
            let (quad, lin) = (wide(quad), wide(lin));
            *v = from_precision(
                prior.lambda + alpha * quad,
                alpha * (lin + old * quad) + prior.lambda * prior.mu,
                z.normal(r as u64),
            );
            row.update(1.0, old as Real, *v as Real);
        }
        let prior = self.prior_v[2 * f + 1];
        let v = &mut self.v_imp[f * m..(f + 1) * m];
        for (j, v) in v.iter_mut().enumerate() {
            let holders = self.holders.row(j);
            let old = *v;
            let old_r = old as Real;
            // Two sums in turn, so that each addition need not wait for
            // the one before.
            let mut acc = [(0.0f64, 0.0f64); 2];
            let mut pairs = holders.chunks_exact(2);
            for pair in &mut pairs {
                for (acc, &r) in acc.iter_mut().zip(pair) {
                    let row = &rows[r as usize];
                    let (a, b) = row.terms(row.x, old_r);
                    (acc.0, acc.1) = (acc.0 + wide(a), acc.1 + wide(b));
                }
            }
            for &r in pairs.remainder() {
                let row = &rows[r as usize];
                let (a, b) = row.terms(row.x, old_r);
                (acc[0].0, acc[0].1) = (acc[0].0 + wide(a), acc[0].1 + wide(b));
            }
            let (quad, lin) = (acc[0].0 + acc[1].0, acc[0].1 + acc[1].1);
            let new = from_precision(
                prior.lambda + alpha * quad,
                alpha * (lin + old * quad) + prior.lambda * prior.mu,
                z.normal((n + j) as u64),
            );
            *v = new;
            for &r in holders {
                let row = &mut rows[r as usize];
                row.update(row.x, old_r, new as Real);
            }
        }
        for (r, row) in rows.iter().enumerate() {
            let (q0, qs0) = (q[r] as Real, qs[r] as Real);
            out[r] = Change {
                old: q0,
                new: row.q,
                c: 0.5 * ((row.q * row.q - row.qs) - (q0 * q0 - qs0)),
            };
            (q[r], qs[r]) = (wide(row.q), wide(row.qs));
        }
    }
}

/// A row's state while one factor of its block is drawn: eight [`Real`]s,
/// one cache line in f64.
#[derive(Debug, Clone, Copy, Default)]
#[repr(align(64))]
pub struct Row {
    q: Real,
    qs: Real,
    /// The value of the row's implicit features.
    x: Real,
    count: Real,
    g: Sums,
}

impl Row {
    /// The row's contributions to Σ h² and Σ h e (without the `old·quad`
    /// part) of a feature of value `x`, factor `old`.
    #[inline]
    fn terms(&self, x: Real, old: Real) -> (Real, Real) {
        let hb = self.q - x * old;
        let g = &self.g;
        (
            x * x * (self.count * hb * hb + 2.0 * g.s * hb + g.s2),
            x * (g.e * hb + g.eq),
        )
    }

    /// A feature of value `x` moved from `old` to `new`: the row's sums
    /// follow.
    #[inline]
    fn update(&mut self, x: Real, old: Real, new: Real) {
        let hb = self.q - x * old;
        let d = (new - old) * x;
        let g = &mut self.g;
        g.e -= d * (hb * self.count + g.s);
        g.eq -= d * (hb * g.s + g.s2);
        self.q += d;
        self.qs += (new * new - old * old) * x * x;
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
