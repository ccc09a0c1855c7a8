//! The exact scoring pass: one item row's dot product with the query
//! vector, for every row of the item matrix, as fast as the CPU allows.
//!
//! It owns the arithmetic order, which [`dot_one`] repeats bit for bit for a
//! single row; it never allocates and never reads past a row.

#[cfg(target_arch = "x86_64")]
use crate::numeric::hsum;

/// `out[i] = q_i · p` for every item row of `q` (rows `stride` long, a
/// multiple of 8).
pub(super) fn dot_all(q: &[f32], stride: usize, p: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports AVX2 and FMA, checked just above.
        unsafe { dot_all_fma(q, stride, p, out) };
        return;
    }
    for (row, o) in q.chunks_exact(stride).zip(out.iter_mut()) {
        *o = crate::numeric::dot(row, p);
    }
}

/// Four rows at a time, so four independent FMA chains hide the latency of
/// each, and the user's vector is loaded once per four rows.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_all_fma(q: &[f32], stride: usize, p: &[f32], out: &mut [f32]) {
    use std::arch::x86_64::*;
    let lanes = stride / 8;
    let rows = out.len().min(q.len() / stride.max(1));
    let pp = p.as_ptr();
    let mut r = 0;
    // SAFETY (all loads): rows r..r+4 lie inside `q` (r + 4 <= rows) and
    // every row has `lanes * 8 == stride` floats; `p` has `stride` floats.
    while r + 4 <= rows {
        let base = q.as_ptr().add(r * stride);
        let (mut a0, mut a1, mut a2, mut a3) = (
            _mm256_setzero_ps(),
            _mm256_setzero_ps(),
            _mm256_setzero_ps(),
            _mm256_setzero_ps(),
        );
        for k in 0..lanes {
            let x = _mm256_loadu_ps(pp.add(k * 8));
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(base.add(k * 8)), x, a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(base.add(stride + k * 8)), x, a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(base.add(2 * stride + k * 8)), x, a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(base.add(3 * stride + k * 8)), x, a3);
        }
        out[r] = hsum(a0);
        out[r + 1] = hsum(a1);
        out[r + 2] = hsum(a2);
        out[r + 3] = hsum(a3);
        r += 4;
    }
    for (row, o) in q[r * stride..]
        .chunks_exact(stride)
        .zip(out[r..].iter_mut())
    {
        *o = dot_one_fma(row, p);
    }
}

/// One row of [`dot_all`], bit for bit the value it computes for that row.
#[inline]
pub(super) fn dot_one(row: &[f32], p: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports AVX2 and FMA, checked just above.
        return unsafe { dot_one_fma(row, p) };
    }
    crate::numeric::dot(row, p)
}

/// The 4-row loop's arithmetic for a single row: the same lanes, the same
/// order, the same horizontal sum.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_one_fma(row: &[f32], p: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let lanes = row.len().min(p.len()) / 8;
    let mut a = _mm256_setzero_ps();
    for k in 0..lanes {
        // SAFETY: both slices have at least `lanes * 8` floats.
        a = _mm256_fmadd_ps(
            _mm256_loadu_ps(row.as_ptr().add(k * 8)),
            _mm256_loadu_ps(p.as_ptr().add(k * 8)),
            a,
        );
    }
    hsum(a)
}
