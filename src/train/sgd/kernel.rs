//! The inner loop of SGD: one block of ratings against the user and item
//! rows it owns, updated in place. A portable loop, and an AVX2 + FMA one
//! chosen at run time where the CPU has both.
//!
//! It owns the update rule's arithmetic and nothing else: no threads, no
//! order of blocks, no allocation.

use std::ops::Range;

use super::blocks::Layout;
use crate::numeric::{dot, LANES};

pub(super) struct Step {
    pub(super) mu: f32,
    pub(super) lr: f32,
    pub(super) reg: f32,
}

/// One block: the ratings of user rows `rows` of item stratum `si`, which
/// [`Layout`] finds in `items` and `values` (every rating's item row and
/// value), and the factor rows it owns: `p` and `bu` from row `rows.start`,
/// `q` and `bi` from row `item_base`.
pub(super) struct Job<'a> {
    pub(super) items: &'a [u32],
    pub(super) values: &'a [f32],
    pub(super) layout: &'a Layout,
    pub(super) rows: Range<usize>,
    pub(super) si: usize,
    pub(super) item_base: u32,
    pub(super) p: &'a mut [f32],
    pub(super) bu: &'a mut [f32],
    pub(super) q: &'a mut [f32],
    pub(super) bi: &'a mut [f32],
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Kernel {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2Fma,
}

impl Kernel {
    pub(super) fn detect() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return Kernel::Avx2Fma;
        }
        Kernel::Portable
    }

    pub(super) fn run(self, job: Job<'_>, stride: usize, step: &Step) -> f64 {
        match self {
            Kernel::Portable => sgd_portable(job, stride, step),
            // SAFETY: Avx2Fma is chosen only when the CPU reports both features.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2Fma => unsafe { sgd_avx2(job, stride, step) },
        }
    }
}

fn sgd_portable(job: Job<'_>, stride: usize, step: &Step) -> f64 {
    let Job {
        items,
        values,
        layout,
        rows,
        si,
        item_base,
        p,
        bu,
        q,
        bi,
    } = job;
    let mut sq = 0f64;
    for (u, row) in rows.enumerate() {
        let seg = layout.segment(row, si);
        let pu = &mut p[u * stride..(u + 1) * stride];
        for (&i, &r) in items[seg.clone()].iter().zip(&values[seg]) {
            let i = (i - item_base) as usize;
            let qi = &mut q[i * stride..(i + 1) * stride];
            let err = r - (step.mu + bu[u] + bi[i] + dot(pu, qi));
            sq += f64::from(err * err);
            bu[u] += step.lr * (err - step.reg * bu[u]);
            bi[i] += step.lr * (err - step.reg * bi[i]);
            let (a, b) = (step.lr * err, 1.0 - step.lr * step.reg);
            for (x, y) in pu.iter_mut().zip(qi.iter_mut()) {
                let (px, qy) = (*x, *y);
                *x = b * px + a * qy;
                *y = b * qy + a * px;
            }
        }
    }
    sq
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn sgd_avx2(job: Job<'_>, stride: usize, step: &Step) -> f64 {
    use std::arch::x86_64::*;
    let Job {
        items,
        values,
        layout,
        rows,
        si,
        item_base,
        p,
        bu,
        q,
        bi,
    } = job;
    let lanes = stride / LANES;
    let mut sq = 0f64;
    let end = rows.end;
    for (u, row) in rows.enumerate() {
        let seg = layout.segment(row, si);
        // The next user's ratings are elsewhere: start fetching them now.
        if row + 1 < end {
            let next = layout.segment(row + 1, si).start;
            if next < items.len() {
                prefetch(items.as_ptr().add(next).cast());
                prefetch(values.as_ptr().add(next).cast());
            }
        }
        let pu = &mut p[u * stride..(u + 1) * stride];
        let (seg_items, seg_values) = (&items[seg.clone()], &values[seg]);
        for (k, (&i, &r)) in seg_items.iter().zip(seg_values).enumerate() {
            // And the next item's row, while this one is updated.
            if let Some(&next) = seg_items.get(k + 1) {
                let row = q.as_ptr().add((next - item_base) as usize * stride);
                for line in (0..stride).step_by(16) {
                    prefetch(row.add(line).cast());
                }
            }
            let i = (i - item_base) as usize;
            let qi = &mut q[i * stride..(i + 1) * stride];
            let (pp, qp) = (pu.as_mut_ptr(), qi.as_mut_ptr());
            // SAFETY (all loads and stores below): pu and qi are `stride` floats
            // long and `lanes * LANES == stride`, so every access is in bounds.
            // Two accumulators halve the FMA dependency chain of the dot product.
            let (mut acc0, mut acc1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
            let mut k = 0;
            while k + 1 < lanes {
                acc0 = _mm256_fmadd_ps(
                    _mm256_loadu_ps(pp.add(k * LANES)),
                    _mm256_loadu_ps(qp.add(k * LANES)),
                    acc0,
                );
                acc1 = _mm256_fmadd_ps(
                    _mm256_loadu_ps(pp.add((k + 1) * LANES)),
                    _mm256_loadu_ps(qp.add((k + 1) * LANES)),
                    acc1,
                );
                k += 2;
            }
            if k < lanes {
                acc0 = _mm256_fmadd_ps(
                    _mm256_loadu_ps(pp.add(k * LANES)),
                    _mm256_loadu_ps(qp.add(k * LANES)),
                    acc0,
                );
            }
            let dot = hsum(_mm256_add_ps(acc0, acc1));
            let err = r - (step.mu + bu[u] + bi[i] + dot);
            sq += f64::from(err * err);
            bu[u] += step.lr * (err - step.reg * bu[u]);
            bi[i] += step.lr * (err - step.reg * bi[i]);
            let a = _mm256_set1_ps(step.lr * err);
            let b = _mm256_set1_ps(1.0 - step.lr * step.reg);
            for k in 0..lanes {
                let x = _mm256_loadu_ps(pp.add(k * LANES));
                let y = _mm256_loadu_ps(qp.add(k * LANES));
                _mm256_storeu_ps(
                    pp.add(k * LANES),
                    _mm256_fmadd_ps(b, x, _mm256_mul_ps(a, y)),
                );
                _mm256_storeu_ps(
                    qp.add(k * LANES),
                    _mm256_fmadd_ps(b, y, _mm256_mul_ps(a, x)),
                );
            }
        }
    }
    sq
}

/// Ask for the cache line at `at` ahead of its use.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn prefetch(at: *const i8) {
    use std::arch::x86_64::*;
    // SAFETY: a prefetch is a hint; it never faults, whatever the address.
    unsafe { _mm_prefetch(at, _MM_HINT_T0) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn hsum(v: std::arch::x86_64::__m256) -> f32 {
    use std::arch::x86_64::*;
    let lo = _mm256_castps256_ps128(v);
    let hi = _mm256_extractf128_ps(v, 1);
    let s = _mm_add_ps(lo, hi);
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    _mm_cvtss_f32(s)
}
