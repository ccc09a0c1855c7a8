//! Bayesian SVD++ with implicit information on both sides ("SVD++ flipped",
//! Rendle, Zhang & Koren 2019): a factorization machine fitted by Gibbs
//! sampling (Freudenthaler, Schmidt-Thieme & Rendle 2011), organised in the
//! relational blocks of Rendle 2013 so that a sweep costs a few passes over
//! the ratings per factor dimension.
//!
//! The features of a rating (u, i) form two blocks: the user block holds u's
//! indicator and the movies u rated, N(u), each of value |N(u)|^-½; the item
//! block holds i's indicator and the users who rated i, R(i), each of value
//! |R(i)|^-½. Every feature has a linear weight and a factor vector, and
//! every pair of features interacts, so the score separates exactly:
//!
//! ```text
//! ŷ(u, i) = w0 + c_u + c_i + ⟨a_u, b_i⟩
//! ```
//!
//! with a_u (b_i) the sum of the user (item) block's factor vectors weighted
//! by their values, and c_u (c_i) its linear terms plus the interactions of
//! its features among themselves. The posterior means of w0, c, a and b,
//! averaged over the samples kept after the burn-in, are exported as a
//! dot-product model ([`Factors`]) that the model file and every scoring
//! path already serve.
//!
//! It owns the sampling only: dense indices in, a posterior out; like the
//! SGD trainer it never touches files.

mod block;
mod draw;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use block::{Block, HyperPrior};
use draw::{from_precision, gamma, Stream};

use super::sgd::{Cancelled, EpochReport, TrainData};
use crate::numeric::{stride_for, Factors};
use crate::rng::Rng;

/// What the sampler is asked to do.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Length of every factor vector.
    pub rank: usize,
    /// Gibbs sweeps in all, burn-in included.
    pub sweeps: usize,
    /// Sweeps whose samples are not kept (at most `sweeps - 1`).
    pub burn_in: usize,
    /// Standard deviation of the normal the factors start from.
    pub init_std_dev: f64,
    pub seed: u64,
}

/// Ratings whose predictive mean is accumulated over the kept samples
/// (dense indices; `u32::MAX` for a user or movie the training set lacks).
#[derive(Debug, Clone, Copy, Default)]
pub struct Probe<'a> {
    pub users: &'a [u32],
    pub items: &'a [u32],
}

/// The sampler's result.
#[derive(Debug, Clone)]
pub struct Posterior {
    /// The posterior means of w0, c, a and b as a dot-product model.
    pub factors: Factors,
    /// The predictive mean of each probe rating (unclipped).
    pub predictions: Vec<f64>,
    /// The standard deviation of each probe rating's prediction over the kept
    /// samples.
    pub spread: Vec<f64>,
    pub kept: usize,
}

/// The prior precision of w0 (myFM's `reg_0`).
const W0_PRECISION: f64 = 1.0;

/// Sample the posterior. `on_sweep` hears after every sweep; `cancel` is
/// polled between factor dimensions.
pub fn fit(
    data: TrainData<'_>,
    probe: Probe<'_>,
    settings: &Settings,
    cancel: &AtomicBool,
    on_sweep: &mut dyn FnMut(&EpochReport),
) -> Result<Posterior, Cancelled> {
    let start = Instant::now();
    let rank = settings.rank;
    let (nu, ni) = (data.n_users, data.n_items);
    let seed = settings.seed;
    let mut user = Block::new(
        nu,
        ni,
        data.users,
        data.items,
        rank,
        settings.init_std_dev,
        Stream::new(seed, 0, 1),
    );
    let mut item = Block::new(
        ni,
        nu,
        data.items,
        data.users,
        rank,
        settings.init_std_dev,
        Stream::new(seed, 0, 2),
    );
    let hyper = HyperPrior::default();
    let mut rng = Rng::new(seed);
    let n = data.values.len();
    let mut e = vec![0f64; n];
    let mut w0 = 0f64;
    let burn_in = settings.burn_in.min(settings.sweeps.saturating_sub(1));
    let mut acc = Accumulator::new(nu, ni, rank, probe.users.len());

    for sweep in 0..settings.sweeps {
        let sweep_no = sweep + 1;
        user.refresh();
        item.refresh();
        residuals(&data, w0, &user, &item, &mut e);
        let sse: f64 = e.iter().map(|e| e * e).sum();
        let alpha = gamma(
            &mut rng,
            (hyper.alpha_0 + n as f64) / 2.0,
            (hyper.beta_0 + sse) / 2.0,
        );
        let sum_e: f64 = e.iter().sum();
        let new_w0 = from_precision(
            W0_PRECISION + alpha * n as f64,
            alpha * (sum_e + w0 * n as f64),
            rng.normal(),
        );
        e.iter_mut().for_each(|e| *e -= new_w0 - w0);
        w0 = new_w0;

        user.draw_priors(&mut rng, &hyper);
        item.draw_priors(&mut rng, &hyper);
        user.draw_linear(data.users, &mut e, alpha, Stream::new(seed, sweep_no, 3));
        item.draw_linear(data.items, &mut e, alpha, Stream::new(seed, sweep_no, 4));
        for f in 0..rank {
            if cancel.load(Ordering::Relaxed) {
                return Err(Cancelled);
            }
            let part = 16 + 2 * f as u64;
            let z = Stream::new(seed, sweep_no, part);
            user.draw_factor(f, data.users, data.items, q_of(&item, f), &mut e, alpha, z);
            let z = Stream::new(seed, sweep_no, part + 1);
            item.draw_factor(f, data.items, data.users, q_of(&user, f), &mut e, alpha, z);
        }
        if sweep >= burn_in {
            acc.add(w0, &user, &item, probe);
        }
        on_sweep(&EpochReport {
            epoch: sweep_no,
            n_epochs: settings.sweeps,
            train_rmse: (sse / n.max(1) as f64).sqrt(),
            elapsed: start.elapsed(),
        });
    }
    Ok(acc.finish(rank))
}

/// Factor `f`'s row sums of a block.
fn q_of(b: &Block, f: usize) -> &[f64] {
    let n = b.n_rows();
    &b.q[f * n..(f + 1) * n]
}

/// `e = y - ŷ` for every rating, from the blocks' caches.
fn residuals(data: &TrainData<'_>, w0: f64, user: &Block, item: &Block, e: &mut [f64]) {
    let own_u: Vec<f64> = (0..user.n_rows()).map(|r| user.own_term(r)).collect();
    let own_i: Vec<f64> = (0..item.n_rows()).map(|r| item.own_term(r)).collect();
    for (c, e) in e.iter_mut().enumerate() {
        let (u, i) = (data.users[c] as usize, data.items[c] as usize);
        *e = f64::from(data.values[c]) - w0 - own_u[u] - own_i[i];
    }
    for f in 0..user.rank {
        let (qu, qi) = (q_of(user, f), q_of(item, f));
        for (c, e) in e.iter_mut().enumerate() {
            *e -= qu[data.users[c] as usize] * qi[data.items[c] as usize];
        }
    }
}

/// Sums over the kept samples.
struct Accumulator {
    kept: usize,
    w0: f64,
    c_user: Vec<f64>,
    c_item: Vec<f64>,
    /// Row-major, `rank` per row.
    a: Vec<f64>,
    b: Vec<f64>,
    pred: Vec<f64>,
    pred_sq: Vec<f64>,
}

impl Accumulator {
    fn new(nu: usize, ni: usize, rank: usize, n_probe: usize) -> Accumulator {
        Accumulator {
            kept: 0,
            w0: 0.0,
            c_user: vec![0.0; nu],
            c_item: vec![0.0; ni],
            a: vec![0.0; nu * rank],
            b: vec![0.0; ni * rank],
            pred: vec![0.0; n_probe],
            pred_sq: vec![0.0; n_probe],
        }
    }

    fn add(&mut self, w0: f64, user: &Block, item: &Block, probe: Probe<'_>) {
        self.kept += 1;
        self.w0 += w0;
        let rank = user.rank;
        let side = |b: &Block, c: &mut [f64], a: &mut [f64]| {
            let mut own = vec![0.0; b.n_rows()];
            for r in 0..b.n_rows() {
                own[r] = b.own_term(r);
                c[r] += own[r];
                for f in 0..rank {
                    a[r * rank + f] += b.q_at(f, r);
                }
            }
            own
        };
        let own_u = side(user, &mut self.c_user, &mut self.a);
        let own_i = side(item, &mut self.c_item, &mut self.b);
        for (k, (&u, &i)) in probe.users.iter().zip(probe.items).enumerate() {
            let mut p = w0;
            let known_u = (u as usize) < own_u.len();
            let known_i = (i as usize) < own_i.len();
            if known_u {
                p += own_u[u as usize];
            }
            if known_i {
                p += own_i[i as usize];
            }
            if known_u && known_i {
                p += (0..rank)
                    .map(|f| user.q_at(f, u as usize) * item.q_at(f, i as usize))
                    .sum::<f64>();
            }
            self.pred[k] += p;
            self.pred_sq[k] += p * p;
        }
    }

    fn finish(self, rank: usize) -> Posterior {
        let k = self.kept.max(1) as f64;
        let stride = stride_for(rank);
        let rows = |sums: &[f64]| -> Vec<f32> {
            let n = sums.len() / rank.max(1);
            let mut out = vec![0f32; n * stride];
            for r in 0..n {
                for f in 0..rank {
                    out[r * stride + f] = (sums[r * rank + f] / k) as f32;
                }
            }
            out
        };
        let mean = |v: &[f64]| v.iter().map(|x| (x / k) as f32).collect::<Vec<f32>>();
        let predictions: Vec<f64> = self.pred.iter().map(|p| p / k).collect();
        let spread = self
            .pred_sq
            .iter()
            .zip(&predictions)
            .map(|(sq, m)| (sq / k - m * m).max(0.0).sqrt())
            .collect();
        Posterior {
            factors: Factors {
                n_factors: rank,
                stride,
                global_mean: (self.w0 / k) as f32,
                user_bias: mean(&self.c_user),
                item_bias: mean(&self.c_item),
                user_factors: rows(&self.a),
                item_factors: rows(&self.b),
            },
            predictions,
            spread,
            kept: self.kept,
        }
    }
}

#[cfg(test)]
mod tests;
