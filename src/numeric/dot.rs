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
