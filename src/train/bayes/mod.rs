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

mod accumulate;
mod block;
mod cases;
mod draw;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use accumulate::Accumulator;
use block::{Block, HyperPrior};
use cases::{wide, Cases, Change, Real, Sums};
use draw::{from_precision, gamma, Stream};

use super::sgd::{Cancelled, EpochReport, TrainData};
use crate::numeric::{Factors, Params};
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
    /// Worker threads (at least one). With a seed, the same number of
    /// threads gives the same posterior.
    pub threads: usize,
}

impl Settings {
    /// The sampler's reading of the training parameters: `n_factors` is the
    /// rank, `n_epochs` the sweeps; the learning rate and the
    /// regularisation have no part in it (the hyperpriors take their place).
    pub fn from_params(p: &Params) -> Settings {
        Settings {
            rank: p.n_factors,
            sweeps: p.n_epochs,
            burn_in: p.effective_burn_in(),
            init_std_dev: f64::from(p.init_std_dev),
            seed: p.seed,
            threads: p.effective_threads(),
        }
    }
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
    /// The posterior means of w0, c, a and b as a dot-product model, with
    /// the implicit part and the spread.
    pub factors: Factors,
    pub sampled: Sampled,
    pub kept: usize,
}

/// What the kept samples said of each probe rating.
#[derive(Debug, Clone, Default)]
pub struct Sampled {
    /// The predictive mean (unclipped).
    pub predictions: Vec<f64>,
    /// The standard deviation of the prediction over the kept samples.
    pub spread: Vec<f64>,
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
    let mut s = Sampler::new(data, settings);
    let burn_in = settings.burn_in.min(settings.sweeps.saturating_sub(1));
    let mut acc = Accumulator::new(&s.user, &s.item, probe.users.len());
    for sweep in 0..settings.sweeps {
        let sse = s.sweep(sweep + 1, cancel)?;
        if sweep >= burn_in {
            acc.add(s.w0, s.alpha, &s.user, &s.item, probe);
        }
        on_sweep(&EpochReport {
            epoch: sweep + 1,
            n_epochs: settings.sweeps,
            train_rmse: (sse / s.cases.len().max(1) as f64).sqrt(),
            elapsed: start.elapsed(),
        });
    }
    Ok(acc.finish(&s.user))
}

/// The chain's state between sweeps.
struct Sampler {
    cases: Cases,
    user: Block,
    item: Block,
    w0: f64,
    /// The noise precision of the last sweep.
    alpha: f64,
    /// `y - ŷ` in the cases' user order, before the pending changes.
    e: Vec<Real>,
    /// The pending changes of the user and movie rows.
    pending: (Vec<Change>, Vec<Change>),
    rng: Rng,
    hyper: HyperPrior,
    seed: u64,
    threads: usize,
}

impl Sampler {
    fn new(data: TrainData<'_>, settings: &Settings) -> Sampler {
        let (nu, ni, rank) = (data.n_users, data.n_items, settings.rank);
        let init = settings.init_std_dev;
        let seed = settings.seed;
        let cases = Cases::new(nu, data.users, data.items, data.values, settings.threads);
        Sampler {
            e: vec![0.0; cases.len()],
            cases,
            user: Block::new(
                nu,
                ni,
                data.users,
                data.items,
                rank,
                init,
                Stream::new(seed, 0, 1),
            ),
            item: Block::new(
                ni,
                nu,
                data.items,
                data.users,
                rank,
                init,
                Stream::new(seed, 0, 2),
            ),
            w0: 0.0,
            alpha: 1.0,
            pending: (vec![Change::default(); nu], vec![Change::default(); ni]),
            rng: Rng::new(seed),
            hyper: HyperPrior::default(),
            seed,
            threads: settings.threads,
        }
    }

    /// One Gibbs sweep; returns the sum of squared residuals it began with.
    fn sweep(&mut self, sweep: usize, cancel: &AtomicBool) -> Result<f64, Cancelled> {
        let (nu, ni) = (self.user.n_rows(), self.item.n_rows());
        let (user, item) = (&mut self.user, &mut self.item);
        if self.threads > 1 {
            std::thread::scope(|scope| {
                scope.spawn(|| user.refresh());
                item.refresh();
            });
        } else {
            user.refresh();
            item.refresh();
        }
        let mut per_user = vec![(0.0, 0.0); nu];
        self.cases.residuals(
            self.w0,
            &user.own_terms(),
            &item.own_terms(),
            (&user.row_major_q(), &item.row_major_q(), user.rank),
            &mut self.e,
            &mut per_user,
        );
        let n = self.cases.len() as f64;
        let (sum_e, sse) = per_user
            .iter()
            .fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
        let hyper = self.hyper;
        let alpha = gamma(
            &mut self.rng,
            (hyper.alpha_0 + n) / 2.0,
            (hyper.beta_0 + sse) / 2.0,
        );
        let w0 = from_precision(
            W0_PRECISION + alpha * n,
            alpha * (sum_e + self.w0 * n),
            self.rng.normal(),
        );
        self.alpha = alpha;
        let dw0 = w0 - self.w0;
        self.w0 = w0;
        user.draw_priors(&mut self.rng, &hyper);
        item.draw_priors(&mut self.rng, &hyper);

        // The pending changes are those of the user rows, then of the
        // movie rows, since `e` was written.
        let (cu, ci) = (&mut self.pending.0, &mut self.pending.1);
        let sum_u: Vec<f64> = per_user
            .iter()
            .zip(user.counts())
            .map(|(s, c)| s.0 - c * dw0)
            .collect();
        user.draw_linear(&sum_u, alpha, Stream::new(self.seed, sweep, 3), cu);
        cu.iter_mut().for_each(|c| c.c += dw0 as Real);
        ci.fill(Change::default());
        let mut sums_i = vec![Sums::default(); ni];
        self.cases
            .gather_items((&cu[..], &ci[..]), &vec![0.0; nu], &mut self.e, &mut sums_i);
        cu.fill(Change::default());
        let sum_i: Vec<f64> = sums_i.iter().map(|g| wide(g.e)).collect();
        item.draw_linear(&sum_i, alpha, Stream::new(self.seed, sweep, 4), ci);

        let mut sums_u = vec![Sums::default(); nu];
        for f in 0..user.rank {
            if cancel.load(Ordering::Relaxed) {
                return Err(Cancelled);
            }
            let part = 16 + 2 * f as u64;
            self.cases
                .gather_users((&cu[..], &ci[..]), item.q_of(f), &mut self.e, &mut sums_u);
            user.draw_factor(f, &sums_u, alpha, Stream::new(self.seed, sweep, part), cu);
            for (c, &q) in ci.iter_mut().zip(item.q_of(f)) {
                *c = Change::none(q);
            }
            self.cases
                .gather_items((&cu[..], &ci[..]), user.q_of(f), &mut self.e, &mut sums_i);
            item.draw_factor(
                f,
                &sums_i,
                alpha,
                Stream::new(self.seed, sweep, part + 1),
                ci,
            );
            for (c, &q) in cu.iter_mut().zip(user.q_of(f)) {
                *c = Change::none(q);
            }
        }
        Ok(sse)
    }

    /// Write the pending changes into `e`.
    #[cfg(test)]
    fn settle(&mut self) {
        let mut sums = vec![Sums::default(); self.user.n_rows()];
        let zeros = vec![0.0; self.item.n_rows()];
        let pending = (&self.pending.0[..], &self.pending.1[..]);
        self.cases
            .gather_users(pending, &zeros, &mut self.e, &mut sums);
        self.pending.0.fill(Change::default());
        self.pending.1.fill(Change::default());
    }
}

#[cfg(test)]
mod tests;
