//! The inner loop of SGD: one block of ratings against the user and item
//! rows it owns, updated in place. A portable loop, and an AVX2 + FMA one
//! chosen at run time where the CPU has both, which visits the ratings in
//! the same order but applies each update one rating late (the two agree
//! to within rounding and that lag).
//!
//! It owns the update rule's arithmetic and nothing else: no threads, no
//! order of blocks, no allocation.

use std::ops::Range;

use super::blocks::Layout;
#[cfg(target_arch = "x86_64")]
use crate::numeric::hsum;
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

/// A block's factor rows as pointers, for the kernels, which hold two
/// users' rows at once and index them by row numbers checked against
/// `n_p` (user rows) and `n_q` (item rows).
struct Rows {
    p: *mut f32,
    bu: *mut f32,
    q: *mut f32,
    bi: *mut f32,
    n_p: usize,
    n_q: usize,
}

impl Rows {
    fn of(job: &mut Job<'_>) -> Rows {
        Rows {
            p: job.p.as_mut_ptr(),
            bu: job.bu.as_mut_ptr(),
            q: job.q.as_mut_ptr(),
            bi: job.bi.as_mut_ptr(),
            n_p: job.bu.len(),
            n_q: job.bi.len(),
        }
    }
}

/// The order a block's ratings are updated in: users two at a time, their
/// ratings interleaved. A user's updates each wait on the last (they share
/// the user's row), so one user alone leaves the CPU idle between them;
/// two users' updates are independent and overlap. `visit(slot, u, k)`
/// updates local user row `u`, the pair's user `slot` (0 or 1), with rating
/// `k`; `done(slot, u)` is called when that user's ratings in the block are
/// visited; `ahead(k)` is told where the next pair's ratings start, to
/// fetch them early.
#[inline(always)]
fn walk(
    job: &Job<'_>,
    mut ahead: impl FnMut(usize),
    mut visit: impl FnMut(usize, usize, usize),
    mut done: impl FnMut(usize, usize),
) {
    let base = job.rows.start;
    let mut row = job.rows.start;
    while row < job.rows.end {
        let a = job.layout.segment(row, job.si);
        let b = if row + 1 < job.rows.end {
            job.layout.segment(row + 1, job.si)
        } else {
            a.end..a.end
        };
        for next in (row + 2..job.rows.end).take(2) {
            ahead(job.layout.segment(next, job.si).start);
        }
        let (ua, ub) = (row - base, row + 1 - base);
        for j in 0..a.len().max(b.len()) {
            if j < a.len() {
                visit(0, ua, a.start + j);
            }
            if j < b.len() {
                visit(1, ub, b.start + j);
            }
        }
        done(0, ua);
        done(1, ub);
        row += 2;
    }
}

fn sgd_portable(mut job: Job<'_>, stride: usize, step: &Step) -> f64 {
    let mut sq = 0f64;
    let (items, values, item_base) = (job.items, job.values, job.item_base);
    let Rows {
        p,
        bu,
        q,
        bi,
        n_p,
        n_q,
    } = Rows::of(&mut job);
    walk(
        &job,
        |_| {},
        |_, u, k| {
            let i = (items[k] - item_base) as usize;
            assert!(u < n_p && i < n_q, "a rating outside its block");
            // SAFETY: u and i are rows of this block (checked above), each
            // `stride` floats long in p and q; p and q never overlap.
            let (pu, qi, bu, bi) = unsafe {
                (
                    std::slice::from_raw_parts_mut(p.add(u * stride), stride),
                    std::slice::from_raw_parts_mut(q.add(i * stride), stride),
                    &mut *bu.add(u),
                    &mut *bi.add(i),
                )
            };
            let err = values[k] - (step.mu + *bu + *bi + dot(pu, qi));
            sq += f64::from(err * err);
            *bu += step.lr * (err - step.reg * *bu);
            *bi += step.lr * (err - step.reg * *bi);
            let (a, b) = (step.lr * err, 1.0 - step.lr * step.reg);
            for (x, y) in pu.iter_mut().zip(qi.iter_mut()) {
                let (px, qy) = (*x, *y);
                *x = b * px + a * qy;
                *y = b * qy + a * px;
            }
        },
        |_, _| {},
    );
    sq
}

/// How many of a user's ratings ahead an item's row is fetched: three
/// (six updates, the pair's) was the fastest of 1 to 6 on the ML-25M and
/// Netflix shapes, whose item rows do not fit in L2 (docs/benchmarks.md).
#[cfg(target_arch = "x86_64")]
const PREFETCH_AHEAD: usize = 3;

/// A user's last update, held back until the user's next rating: the item
/// row it was for and the step along it (`lr * err`).
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Held {
    item: usize,
    a: f32,
}

/// The AVX2 kernel applies each update one rating late, so that the next
/// rating's error does not wait for it. With `p` the user's row before the
/// held update `(q', a)` and `q` the next item's row, the row after it is
/// `b p + a q'`, so the next prediction's dot product is `b (p . q) + a (q'
/// . q)`: both dot products are taken while the held update is applied, in
/// one pass over the rows, and the chain from one error to the next is a few
/// scalar operations (the row's update feeds the error two ratings on). The
/// item row of a held update is read when it is applied, so another
/// user's update of it in between is kept.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn sgd_avx2(mut job: Job<'_>, stride: usize, step: &Step) -> f64 {
    use std::arch::x86_64::*;
    let lanes = stride / LANES;
    let mut sq = 0f64;
    let (items, values, item_base) = (job.items, job.values, job.item_base);
    let Rows {
        p,
        bu,
        q,
        bi,
        n_p,
        n_q,
    } = Rows::of(&mut job);
    let shrink = 1.0 - step.lr * step.reg;
    let b = _mm256_set1_ps(shrink);
    let held: [std::cell::Cell<Option<Held>>; 2] = Default::default();
    // The next pair's ratings are elsewhere: start fetching them early.
    let ahead = |k: usize| {
        if k < items.len() {
            prefetch(items.as_ptr().wrapping_add(k).cast());
            prefetch(values.as_ptr().wrapping_add(k).cast());
        }
    };
    // Apply `h` to user row `u` and item row `h.item`, and return the dot
    // products of the rows before it with item row `next`, if any.
    // SAFETY (callers): u, h.item and next are rows of this block; rows
    // are `stride` floats long and `lanes * LANES == stride`, so every
    // access is in bounds.
    let apply = |u: usize, h: Held, next: Option<usize>| -> (f32, f32) {
        let (pp, qo) = (p.add(u * stride), q.add(h.item * stride));
        let a = _mm256_set1_ps(h.a);
        let (mut d1, mut d2) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let (mut e1, mut e2) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let qn = next.map(|i| q.add(i * stride));
        for l in 0..lanes {
            let x = _mm256_loadu_ps(pp.add(l * LANES));
            let y = _mm256_loadu_ps(qo.add(l * LANES));
            if let Some(qn) = qn {
                // Two accumulators each halve the dot products' chains.
                let z = _mm256_loadu_ps(qn.add(l * LANES));
                if l % 2 == 0 {
                    d1 = _mm256_fmadd_ps(x, z, d1);
                    d2 = _mm256_fmadd_ps(y, z, d2);
                } else {
                    e1 = _mm256_fmadd_ps(x, z, e1);
                    e2 = _mm256_fmadd_ps(y, z, e2);
                }
            }
            _mm256_storeu_ps(
                pp.add(l * LANES),
                _mm256_fmadd_ps(b, x, _mm256_mul_ps(a, y)),
            );
            _mm256_storeu_ps(
                qo.add(l * LANES),
                _mm256_fmadd_ps(b, y, _mm256_mul_ps(a, x)),
            );
        }
        (hsum(_mm256_add_ps(d1, e1)), hsum(_mm256_add_ps(d2, e2)))
    };
    walk(
        &job,
        ahead,
        |slot, u, k| {
            let i = (items[k] - item_base) as usize;
            assert!(u < n_p && i < n_q, "a rating outside its block");
            // And the row of an item this user rates a few ratings on, so
            // that it is in L1 when its turn comes.
            if let Some(&next) = items.get(k + PREFETCH_AHEAD) {
                let next = next.wrapping_sub(item_base) as usize;
                if next < n_q {
                    let row = q.wrapping_add(next * stride);
                    for line in (0..stride).step_by(16) {
                        prefetch(row.wrapping_add(line).cast());
                    }
                }
            }
            let dot = match held[slot].get() {
                Some(h) if h.item != i => {
                    let (d1, d2) = apply(u, h, Some(i));
                    shrink * d1 + h.a * d2
                }
                // The same movie again (a ratings file may repeat a pair):
                // its row changes with the held update, so apply it first.
                Some(h) => {
                    apply(u, h, None);
                    dot_avx2(p.add(u * stride), q.add(i * stride), lanes)
                }
                None => dot_avx2(p.add(u * stride), q.add(i * stride), lanes),
            };
            let (bu, bi) = (&mut *bu.add(u), &mut *bi.add(i));
            let err = values[k] - (step.mu + *bu + *bi + dot);
            sq += f64::from(err * err);
            *bu += step.lr * (err - step.reg * *bu);
            *bi += step.lr * (err - step.reg * *bi);
            held[slot].set(Some(Held {
                item: i,
                a: step.lr * err,
            }));
        },
        |slot, u| {
            if let Some(h) = held[slot].take() {
                apply(u, h, None);
            }
        },
    );
    sq
}

/// The dot product of two rows of `lanes` vectors.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(x: *const f32, y: *const f32, lanes: usize) -> f32 {
    use std::arch::x86_64::*;
    // Two accumulators halve the FMA dependency chain.
    let (mut acc0, mut acc1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    let mut l = 0;
    while l + 1 < lanes {
        acc0 = _mm256_fmadd_ps(
            _mm256_loadu_ps(x.add(l * LANES)),
            _mm256_loadu_ps(y.add(l * LANES)),
            acc0,
        );
        acc1 = _mm256_fmadd_ps(
            _mm256_loadu_ps(x.add((l + 1) * LANES)),
            _mm256_loadu_ps(y.add((l + 1) * LANES)),
            acc1,
        );
        l += 2;
    }
    if l < lanes {
        acc0 = _mm256_fmadd_ps(
            _mm256_loadu_ps(x.add(l * LANES)),
            _mm256_loadu_ps(y.add(l * LANES)),
            acc0,
        );
    }
    hsum(_mm256_add_ps(acc0, acc1))
}

/// Ask for the cache line at `at` ahead of its use.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn prefetch(at: *const i8) {
    use std::arch::x86_64::*;
    // SAFETY: a prefetch is a hint; it never faults, whatever the address.
    unsafe { _mm_prefetch(at, _MM_HINT_T0) }
}
