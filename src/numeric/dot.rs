//! The dot product of two padded factor rows, and the padding itself.
//!
//! Scoring and the portable trainer both call [`dot`]; it must stay a plain
//! loop over whole lanes (no remainder) so the compiler vectorises it.

/// Factor rows are padded to a multiple of this many lanes (one AVX register
/// of f32) so the kernel needs no remainder loop; the padding stays zero.
pub const LANES: usize = 8;

#[inline]
pub fn stride_for(n_factors: usize) -> usize {
    n_factors.div_ceil(LANES) * LANES
}

#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    for (x, y) in a.chunks_exact(LANES).zip(b.chunks_exact(LANES)) {
        for k in 0..LANES {
            acc[k] += x[k] * y[k];
        }
    }
    acc.iter().sum()
}

/// The sum of an AVX register's eight lanes, for the AVX2 kernels of
/// scoring and training.
///
/// # Safety
/// Outside a function compiled with AVX2 and FMA, call it only where the
/// CPU has both.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
pub fn hsum(v: std::arch::x86_64::__m256) -> f32 {
    use std::arch::x86_64::*;
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)))
}
