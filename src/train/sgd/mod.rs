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

mod blocks;
mod kernel;

use blocks::{Layout, Strata};
use kernel::{Job, Kernel, Step};

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

/// Training input: parallel arrays of dense indices. The SGD trainer
/// reorders them in place while it trains and leaves them in that order:
/// the same ratings, in another order.
#[derive(Debug)]
pub struct TrainData<'a> {
    pub n_users: usize,
    pub n_items: usize,
    pub users: &'a mut [u32],
    pub items: &'a mut [u32],
    pub values: &'a mut [f32],
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
    mut data: TrainData<'_>,
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
    for (&u, &i) in data.users.iter().zip(data.items.iter()) {
        user_counts[u as usize] += 1;
        item_counts[i as usize] += 1;
    }
    let user_strata = Strata::balance(&user_counts, n_strata, &mut rng);
    let item_strata = Strata::balance(&item_counts, n_strata, &mut rng);
    drop((user_counts, item_counts));

    // Initialise in dense-index order, each row where training keeps it, so
    // that one thread and a seed give the same start whatever the strata.
    let init = |n: usize, row_of: &[u32], rng: &mut Rng| -> Vec<f32> {
        let mut v = vec![0f32; n * stride];
        for &r in row_of {
            let r = r as usize;
            for x in &mut v[r * stride..r * stride + params.n_factors] {
                *x = (rng.normal() * f64::from(params.init_std_dev)) as f32;
            }
        }
        v
    };
    let mut p = init(data.n_users, &user_strata.row_of, &mut rng);
    let mut q = init(data.n_items, &item_strata.row_of, &mut rng);
    let mut bu = vec![0f32; data.n_users];
    let mut bi = vec![0f32; data.n_items];

    let layout = blocks::arrange(&mut data, &user_strata, &item_strata, rng.next_u64());
    let step = Step {
        mu: global_mean,
        lr: params.lr_all,
        reg: params.reg_all,
    };
    let rows = Rows {
        p: &mut p,
        bu: &mut bu,
        q: &mut q,
        bi: &mut bi,
        stride,
    };
    let trained = epochs(
        kernel,
        &data,
        &layout,
        (&user_strata, &item_strata),
        rows,
        &step,
        (params.n_epochs, start),
        cancel,
        on_epoch,
    );
    blocks::restore(&mut data, &item_strata);
    trained?;

    blocks::rows_to_dense(&mut p, &user_strata.row_of, stride);
    blocks::rows_to_dense(&mut q, &item_strata.row_of, stride);
    Ok(Factors {
        n_factors: params.n_factors,
        stride,
        global_mean,
        user_bias: user_strata.row_of.iter().map(|&r| bu[r as usize]).collect(),
        item_bias: item_strata.row_of.iter().map(|&r| bi[r as usize]).collect(),
        user_factors: p,
        item_factors: q,
        implicit: None,
        spread: None,
    })
}

/// The factor rows and biases being trained, in training-row order.
struct Rows<'a> {
    p: &'a mut [f32],
    bu: &'a mut [f32],
    q: &'a mut [f32],
    bi: &'a mut [f32],
    stride: usize,
}

/// The epochs, each of `n_strata` sub-epochs of disjoint blocks run side by
/// side.
#[allow(clippy::too_many_arguments)]
fn epochs(
    kernel: Kernel,
    data: &TrainData<'_>,
    layout: &Layout,
    (user_strata, item_strata): (&Strata, &Strata),
    rows: Rows<'_>,
    step: &Step,
    (n_epochs, start): (usize, Instant),
    cancel: &AtomicBool,
    on_epoch: &mut dyn FnMut(&EpochReport),
) -> Result<(), Cancelled> {
    let Rows {
        p,
        bu,
        q,
        bi,
        stride,
    } = rows;
    let n_strata = user_strata.bounds.len() - 1;
    for epoch in 0..n_epochs {
        let mut sq_err = 0f64;
        for sub in 0..n_strata {
            if cancel.load(Ordering::Relaxed) {
                return Err(Cancelled);
            }
            let mut p_parts = split_rows(&mut *p, &user_strata.bounds, stride);
            let mut bu_parts = split_rows(&mut *bu, &user_strata.bounds, 1);
            let mut q_parts: Vec<Option<&mut [f32]>> =
                split_rows(&mut *q, &item_strata.bounds, stride)
                    .into_iter()
                    .map(Some)
                    .collect();
            let mut bi_parts: Vec<Option<&mut [f32]>> =
                split_rows(&mut *bi, &item_strata.bounds, 1)
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
                    items: data.items,
                    values: data.values,
                    layout,
                    rows: user_strata.bounds[t]..user_strata.bounds[t + 1],
                    si: s,
                    item_base: item_strata.bounds[s] as u32,
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
            n_epochs,
            train_rmse: (sq_err / data.values.len().max(1) as f64).sqrt(),
            elapsed: start.elapsed(),
        });
    }
    Ok(())
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
