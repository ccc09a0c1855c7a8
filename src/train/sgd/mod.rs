//! Biased matrix factorization fitted by stochastic gradient descent, the
//! algorithm of Surprise's `SVD`: r̂ = μ + b_u + b_i + p_u·q_i.
//!
//! It owns the optimisation only: dense indices in, factor arrays out. It
//! never touches files, and it runs wherever its caller puts it (a dedicated
//! thread in the daemon, never the async reactor).
//!
//! Parallelism is stratified (DSGD): users and items are each split into as
//! many strata as there are threads, and in each of the sub-epochs of an epoch
//! thread `t` owns user stratum `t` and item stratum `(t + s) mod T`. No two
//! threads ever touch the same row, so there are no locks and no data races,
//! and the result is a function of the seed and the thread count alone.
//!
//! This file is the orchestration: strata, blocks, threads, epochs.
//! The per-rating update lives in `kernel.rs`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

mod kernel;

use kernel::{Entry, Job, Kernel, Step};

use crate::numeric::{stride_for, Factors, Params};
use crate::rng::Rng;

/// What a caller hears after each epoch.
#[derive(Debug, Clone, Copy)]
pub struct EpochReport {
    pub epoch: usize,
    pub n_epochs: usize,
    /// RMSE of the errors seen during the pass (before each update).
    pub train_rmse: f64,
    pub elapsed: Duration,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("training was cancelled")]
pub struct Cancelled;

/// Training input: parallel arrays of dense indices.
#[derive(Debug, Clone, Copy)]
pub struct TrainData<'a> {
    pub n_users: usize,
    pub n_items: usize,
    pub users: &'a [u32],
    pub items: &'a [u32],
    pub values: &'a [f32],
}

/// Users or items split into strata, each a contiguous range of rows in the
/// training order.
struct Strata {
    /// Training row of each dense index.
    row_of: Vec<u32>,
    /// `bounds[s]..bounds[s + 1]` are the rows of stratum `s`.
    bounds: Vec<usize>,
    stratum_of: Vec<u32>,
}

impl Strata {
    /// Greedy balance: the busiest entities first, each to the stratum with
    /// the fewest ratings so far, so that sub-epochs end together.
    fn balance(counts: &[u32], n_strata: usize, rng: &mut Rng) -> Strata {
        let mut order: Vec<u32> = (0..counts.len() as u32).collect();
        rng.shuffle(&mut order);
        order.sort_by_key(|&e| std::cmp::Reverse(counts[e as usize]));
        let mut load = vec![0u64; n_strata];
        let mut stratum_of = vec![0u32; counts.len()];
        for &e in &order {
            let s = (0..n_strata).min_by_key(|&s| load[s]).unwrap_or(0);
            load[s] += u64::from(counts[e as usize]);
            stratum_of[e as usize] = s as u32;
        }
        let mut bounds = vec![0usize; n_strata + 1];
        for &s in &stratum_of {
            bounds[s as usize + 1] += 1;
        }
        for s in 0..n_strata {
            bounds[s + 1] += bounds[s];
        }
        let mut next = bounds.clone();
        let row_of = stratum_of
            .iter()
            .map(|&s| {
                let r = next[s as usize];
                next[s as usize] += 1;
                r as u32
            })
            .collect();
        Strata {
            row_of,
            bounds,
            stratum_of,
        }
    }

    fn local(&self, e: u32) -> (usize, u32) {
        let s = self.stratum_of[e as usize] as usize;
        (s, self.row_of[e as usize] - self.bounds[s] as u32)
    }
}

/// Fit the model. `on_epoch` is called after every epoch; `cancel` is polled
/// between sub-epochs.
pub fn train(
    data: TrainData<'_>,
    params: &Params,
    cancel: &AtomicBool,
    on_epoch: &mut dyn FnMut(&EpochReport),
) -> Result<Factors, Cancelled> {
    train_with(Kernel::detect(), data, params, cancel, on_epoch)
}

fn train_with(
    kernel: Kernel,
    data: TrainData<'_>,
    params: &Params,
    cancel: &AtomicBool,
    on_epoch: &mut dyn FnMut(&EpochReport),
) -> Result<Factors, Cancelled> {
    let start = Instant::now();
    let stride = stride_for(params.n_factors);
    let n_strata = params
        .effective_threads()
        .clamp(1, 64)
        .min(data.n_users.max(1))
        .min(data.n_items.max(1));
    let mut rng = Rng::new(params.seed);

    let global_mean = if data.values.is_empty() {
        0.0
    } else {
        (data.values.iter().map(|&v| f64::from(v)).sum::<f64>() / data.values.len() as f64) as f32
    };

    let mut user_counts = vec![0u32; data.n_users];
    let mut item_counts = vec![0u32; data.n_items];
    for (&u, &i) in data.users.iter().zip(data.items) {
        user_counts[u as usize] += 1;
        item_counts[i as usize] += 1;
    }
    let user_strata = Strata::balance(&user_counts, n_strata, &mut rng);
    let item_strata = Strata::balance(&item_counts, n_strata, &mut rng);
    let blocks = make_blocks(data, &user_strata, &item_strata, n_strata, &mut rng);

    // Initialise in dense-index order so that one thread and a seed give the
    // same start whatever the strata.
    let init = |n: usize, rng: &mut Rng| -> Vec<f32> {
        let mut v = vec![0f32; n * stride];
        for row in v.chunks_exact_mut(stride) {
            for x in &mut row[..params.n_factors] {
                *x = (rng.normal() * f64::from(params.init_std_dev)) as f32;
            }
        }
        v
    };
    let user_init = init(data.n_users, &mut rng);
    let item_init = init(data.n_items, &mut rng);
    let mut p = permute_rows(&user_init, &user_strata.row_of, stride);
    let mut q = permute_rows(&item_init, &item_strata.row_of, stride);
    let mut bu = vec![0f32; data.n_users];
    let mut bi = vec![0f32; data.n_items];

    let step = &Step {
        mu: global_mean,
        lr: params.lr_all,
        reg: params.reg_all,
    };
    for epoch in 0..params.n_epochs {
        let mut sq_err = 0f64;
        for sub in 0..n_strata {
            if cancel.load(Ordering::Relaxed) {
                return Err(Cancelled);
            }
            let mut p_parts = split_rows(&mut p, &user_strata.bounds, stride);
            let mut bu_parts = split_rows(&mut bu, &user_strata.bounds, 1);
            let mut q_parts: Vec<Option<&mut [f32]>> =
                split_rows(&mut q, &item_strata.bounds, stride)
                    .into_iter()
                    .map(Some)
                    .collect();
            let mut bi_parts: Vec<Option<&mut [f32]>> = split_rows(&mut bi, &item_strata.bounds, 1)
                .into_iter()
                .map(Some)
                .collect();
            let mut jobs = Vec::with_capacity(n_strata);
            for (t, (pt, but)) in p_parts.iter_mut().zip(bu_parts.iter_mut()).enumerate() {
                let s = (t + sub) % n_strata;
                let (Some(qs), Some(bis)) = (q_parts[s].take(), bi_parts[s].take()) else {
                    unreachable!("each item stratum is handed out once per sub-epoch");
                };
                jobs.push(Job {
                    entries: &blocks[t * n_strata + s],
                    p: pt,
                    bu: but,
                    q: qs,
                    bi: bis,
                });
            }
            sq_err += run_jobs(jobs, stride, step, kernel);
        }
        on_epoch(&EpochReport {
            epoch: epoch + 1,
            n_epochs: params.n_epochs,
            train_rmse: (sq_err / data.values.len().max(1) as f64).sqrt(),
            elapsed: start.elapsed(),
        });
    }

    Ok(Factors {
        n_factors: params.n_factors,
        stride,
        global_mean,
        user_bias: user_strata.row_of.iter().map(|&r| bu[r as usize]).collect(),
        item_bias: item_strata.row_of.iter().map(|&r| bi[r as usize]).collect(),
        user_factors: unpermute_rows(&p, &user_strata.row_of, stride),
        item_factors: unpermute_rows(&q, &item_strata.row_of, stride),
        implicit: None,
        spread: None,
    })
}

fn make_blocks(
    data: TrainData<'_>,
    users: &Strata,
    items: &Strata,
    n: usize,
    rng: &mut Rng,
) -> Vec<Vec<Entry>> {
    let mut blocks: Vec<Vec<Entry>> = vec![Vec::new(); n * n];
    if n == 1 {
        blocks[0].reserve_exact(data.values.len());
    }
    for ((&u, &i), &r) in data.users.iter().zip(data.items).zip(data.values) {
        let (su, lu) = users.local(u);
        let (si, li) = items.local(i);
        blocks[su * n + si].push(Entry { u: lu, i: li, r });
    }
    // Within a block, users come in a random order and each user's ratings
    // in a random order, but together: the user's row then stays in L1 while
    // item rows stream past, which on large sets (rows beyond the caches)
    // doubles the update rate at no cost in accuracy (docs/benchmarks.md).
    for (b, block) in blocks.iter_mut().enumerate() {
        let su = b / n;
        let rows = users.bounds[su + 1] - users.bounds[su];
        group_by_shuffled_user(block, rows, rng);
    }
    blocks
}

/// Counting-sort `block` by a random rank of its (local) users, then shuffle
/// each user's run.
fn group_by_shuffled_user(block: &mut Vec<Entry>, rows: usize, rng: &mut Rng) {
    let mut rank: Vec<u32> = (0..rows as u32).collect();
    rng.shuffle(&mut rank);
    let mut start = vec![0usize; rows + 1];
    for e in block.iter() {
        start[rank[e.u as usize] as usize + 1] += 1;
    }
    for r in 0..rows {
        start[r + 1] += start[r];
    }
    let mut sorted = vec![Entry { u: 0, i: 0, r: 0.0 }; block.len()];
    let mut next = start.clone();
    for e in block.iter() {
        let slot = &mut next[rank[e.u as usize] as usize];
        sorted[*slot] = *e;
        *slot += 1;
    }
    for w in start.windows(2) {
        rng.shuffle(&mut sorted[w[0]..w[1]]);
    }
    *block = sorted;
}

fn permute_rows(src: &[f32], row_of: &[u32], stride: usize) -> Vec<f32> {
    let mut out = vec![0f32; src.len()];
    for (e, &r) in row_of.iter().enumerate() {
        let r = r as usize;
        out[r * stride..(r + 1) * stride].copy_from_slice(&src[e * stride..(e + 1) * stride]);
    }
    out
}

fn unpermute_rows(src: &[f32], row_of: &[u32], stride: usize) -> Vec<f32> {
    let mut out = vec![0f32; src.len()];
    for (e, &r) in row_of.iter().enumerate() {
        let r = r as usize;
        out[e * stride..(e + 1) * stride].copy_from_slice(&src[r * stride..(r + 1) * stride]);
    }
    out
}

fn split_rows<'a>(mut data: &'a mut [f32], bounds: &[usize], stride: usize) -> Vec<&'a mut [f32]> {
    let mut parts = Vec::with_capacity(bounds.len() - 1);
    for w in bounds.windows(2) {
        let (head, tail) = data.split_at_mut((w[1] - w[0]) * stride);
        parts.push(head);
        data = tail;
    }
    parts
}

/// Run one sub-epoch's jobs, the first on this thread; returns the summed
/// squared error.
fn run_jobs(mut jobs: Vec<Job<'_>>, stride: usize, step: &Step, kernel: Kernel) -> f64 {
    if jobs.len() == 1 {
        let j = jobs.pop().expect("one job");
        return kernel.run(j, stride, step);
    }
    std::thread::scope(|scope| {
        let mut rest = jobs.split_off(1);
        let first = jobs.pop().expect("at least one job");
        let handles: Vec<_> = rest
            .drain(..)
            .map(|j| scope.spawn(move || kernel.run(j, stride, step)))
            .collect();
        let mut sum = kernel.run(first, stride, step);
        for h in handles {
            sum += h.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        }
        sum
    })
}

#[cfg(test)]
mod tests;
