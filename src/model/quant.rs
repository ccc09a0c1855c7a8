//! An 8-bit copy of the item factors, for a first scoring pass that only
//! picks candidates.
//!
//! The f32 item matrix of a MovieLens-sized model (1.5 MB at 100 factors)
//! does not fit in a core's L2 cache, so scoring every item streams it from
//! L3 on every request. Its 8-bit copy is a quarter of the size and is scored
//! with integer dot products (AVX-512 VNNI). Each approximate dot product
//! comes with a bound on its distance from the exact one, so the caller can
//! rescore exactly the few items whose bounds reach the best n and return
//! the same ranking, to the bit, as the exact pass.
//!
//! Items are quantised per row: `q_i ≈ s_i · a_i` with integer `a_i` in
//! [-127, 127]. The user vector is quantised per request, `p ≈ t · r`, and
//! stored offset by 128 as unsigned bytes (VNNI multiplies unsigned by signed
//! bytes), so `Σ a·(r + 128) − 128·Σ a = a·r`. By Cauchy–Schwarz,
//!
//! `|q_i·p − s_i·t·(a_i·r)| ≤ ‖q_i − s_i a_i‖·‖p‖ + ‖s_i a_i‖·‖p − t r‖`,
//!
//! both norms of the item side being computed once per model.

/// Factors per group: VNNI sums four byte products into each 32-bit lane.
const GROUP: usize = 4;
/// Items per block: a 256-bit vector holds eight 32-bit sums.
const BLOCK: usize = 8;

/// The quantised item matrix. Items are stored in blocks of eight; within a
/// block, group `g` holds four factors of each of the eight items (32 bytes),
/// so one VNNI instruction advances eight dot products by four factors.
pub struct QuantItems {
    n_items: usize,
    /// Groups of four factors per row: the row stride over four.
    groups: usize,
    codes: Vec<i8>,
    /// `s_i`, per item.
    scale: Vec<f32>,
    /// `Σ_k a_ik`, per item.
    code_sum: Vec<i32>,
    /// `‖q_i − s_i a_i‖`, rounded up, per item.
    err_norm: Vec<f32>,
    /// `‖s_i a_i‖`, rounded up, per item.
    code_norm: Vec<f32>,
}

/// Whether this CPU runs the integer pass. Where it does not, the exact pass
/// alone is faster than a portable integer one.
pub fn supported() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A per-request quantised user vector.
pub struct QuantUser {
    /// Four offset bytes per group, as one little-endian word.
    words: Vec<u32>,
    /// `t`.
    scale: f32,
    /// `‖p‖`, rounded up.
    norm: f32,
    /// `‖p − t r‖`, rounded up.
    err_norm: f32,
}

/// `x` rounded to an integer in [-127, 127], as a float. (A cast, not
/// `f32::round`, which is a library call on the baseline x86-64 target.)
/// The bounds hold for any rounding: they use the codes actually chosen.
fn nearest(x: f32) -> f32 {
    ((x + 0.5f32.copysign(x)) as i32).clamp(-127, 127) as f32
}

/// Round a non-negative f64 up to an f32 that is not below it.
fn up(x: f64) -> f32 {
    let f = x as f32;
    if (f as f64) < x {
        f.next_up()
    } else {
        f
    }
}

impl QuantItems {
    /// Quantise the `stride`-long rows of `items`. None if a factor is not
    /// finite, or the rows cannot be grouped.
    pub fn new(items: &[f32], stride: usize) -> Option<QuantItems> {
        if stride == 0 || !stride.is_multiple_of(GROUP) || !items.len().is_multiple_of(stride) {
            return None;
        }
        let n_items = items.len() / stride;
        let groups = stride / GROUP;
        let blocks = n_items.div_ceil(BLOCK);
        let mut q = QuantItems {
            n_items,
            groups,
            codes: vec![0; blocks * groups * GROUP * BLOCK],
            scale: vec![0.0; n_items],
            code_sum: vec![0; n_items],
            err_norm: vec![0.0; n_items],
            code_norm: vec![0.0; n_items],
        };
        for (i, row) in items.chunks_exact(stride).enumerate() {
            if !row.iter().all(|v| v.is_finite()) {
                return None;
            }
            let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
            let s = max / 127.0;
            let (mut sum, mut err, mut norm) = (0i32, 0f64, 0f64);
            let block = &mut q.codes[(i / BLOCK) * groups * GROUP * BLOCK..];
            for (k, &v) in row.iter().enumerate() {
                let a = if s > 0.0 { nearest(v / s) } else { 0.0 };
                block[(k / GROUP) * GROUP * BLOCK + (i % BLOCK) * GROUP + k % GROUP] = a as i8;
                sum += a as i32;
                let approx = s as f64 * a as f64;
                err += (v as f64 - approx).powi(2);
                norm += approx * approx;
            }
            q.scale[i] = s;
            q.code_sum[i] = sum;
            q.err_norm[i] = up(err.sqrt());
            q.code_norm[i] = up(norm.sqrt());
        }
        Some(q)
    }

    pub fn n_items(&self) -> usize {
        self.n_items
    }

    /// Quantise a query vector of the rows' length. None if it is zero,
    /// not finite or of another length.
    pub fn user(&self, p: &[f32]) -> Option<QuantUser> {
        if p.len() != self.groups * GROUP {
            return None;
        }
        let max = p.iter().fold(0f32, |m, v| m.max(v.abs()));
        if !(p.iter().all(|v| v.is_finite()) && max > 0.0) {
            return None;
        }
        let t = max / 127.0;
        let (mut norm, mut err) = (0f64, 0f64);
        let mut words = Vec::with_capacity(self.groups);
        for chunk in p.chunks_exact(GROUP) {
            let mut word = 0u32;
            for (k, &v) in chunk.iter().enumerate() {
                let r = nearest(v / t);
                word |= ((r as i32 + 128) as u32) << (8 * k);
                norm += (v as f64).powi(2);
                err += (v as f64 - t as f64 * r as f64).powi(2);
            }
            words.push(word);
        }
        Some(QuantUser {
            words,
            scale: t,
            norm: up(norm.sqrt()),
            err_norm: up(err.sqrt()),
        })
    }

    /// For every item `i`: where its score `score(row_i · p, per_item[i])`
    /// can lie, `lo[i] <= score <= hi[i]`, from the approximate dot product
    /// with `u` and its bound. `score` must not decrease as the dot product
    /// grows. `acc` is scratch of at least [`QuantItems::acc_len`] words.
    /// One pass, written so that it compiles to vector code.
    pub fn score_bounds(
        &self,
        u: &QuantUser,
        acc: &mut [i32],
        per_item: &[f32],
        score: impl Fn(f32, f32) -> f32,
        lo: &mut [f32],
        hi: &mut [f32],
    ) {
        self.accumulate(&u.words, &mut acc[..self.acc_len()]);
        let n = self.n_items;
        let (acc, per_item, lo, hi) = (&acc[..n], &per_item[..n], &mut lo[..n], &mut hi[..n]);
        let (sums, scales) = (&self.code_sum[..n], &self.scale[..n]);
        let (errs, norms) = (&self.err_norm[..n], &self.code_norm[..n]);
        let (ts, pn, pe) = (u.scale, u.norm, u.err_norm);
        for i in 0..n {
            // Exact in i32: at most 255 · 127 · stride.
            let d = scales[i] * ts * (acc[i] - 128 * sums[i]) as f32;
            let (e, c) = (errs[i], norms[i]);
            // Slack for the f32 roundings here and in the exact dot product
            // (relative 2⁻²⁴ per operation over the row's length).
            let b = (e * pn + c * pe) * 1.001 + 1e-4 * (c + e) * pn + 1e-6;
            lo[i] = score(d - b, per_item[i]);
            hi[i] = score(d + b, per_item[i]);
        }
    }

    /// Scratch words [`QuantItems::score_bounds`] needs.
    pub fn acc_len(&self) -> usize {
        self.n_items.div_ceil(BLOCK) * BLOCK
    }

    fn accumulate(&self, words: &[u32], acc: &mut [i32]) {
        #[cfg(target_arch = "x86_64")]
        if supported() {
            // SAFETY: the CPU has AVX-512 VNNI and VL, checked just above.
            unsafe { accumulate_vnni(&self.codes, self.groups, words, acc) };
            return;
        }
        accumulate_portable(&self.codes, self.groups, words, acc);
    }
}

/// The integer sums `Σ_k code_ik · byte_k` for every item, plainly.
fn accumulate_portable(codes: &[i8], groups: usize, words: &[u32], acc: &mut [i32]) {
    let block_len = groups * GROUP * BLOCK;
    for (b, out) in acc.chunks_exact_mut(BLOCK).enumerate() {
        let block = &codes[b * block_len..(b + 1) * block_len];
        out.fill(0);
        for (g, &w) in words.iter().enumerate() {
            for (j, o) in out.iter_mut().enumerate() {
                for k in 0..GROUP {
                    let byte = (w >> (8 * k)) as u8 as i32;
                    *o += byte * block[g * GROUP * BLOCK + j * GROUP + k] as i32;
                }
            }
        }
    }
}

/// The same sums with VNNI: four blocks at a time, so four independent
/// accumulation chains hide the instruction's latency.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx512f,avx512vl,avx512vnni")]
unsafe fn accumulate_vnni(codes: &[i8], groups: usize, words: &[u32], acc: &mut [i32]) {
    use std::arch::x86_64::*;
    let block_len = groups * GROUP * BLOCK;
    let blocks = acc.len() / BLOCK;
    assert!(codes.len() >= blocks * block_len && words.len() >= groups);
    let base = codes.as_ptr();
    let out = acc.as_mut_ptr();
    let mut b = 0;
    // SAFETY (all loads and stores): blocks b..b+4 lie inside `codes` and
    // `acc` (asserted above), each block is `groups` 32-byte vectors, and
    // `words` has `groups` entries.
    while b + 4 <= blocks {
        let p = base.add(b * block_len);
        let (mut a0, mut a1, mut a2, mut a3) = (
            _mm256_setzero_si256(),
            _mm256_setzero_si256(),
            _mm256_setzero_si256(),
            _mm256_setzero_si256(),
        );
        for g in 0..groups {
            let u = _mm256_set1_epi32(*words.get_unchecked(g) as i32);
            let at = g * GROUP * BLOCK;
            a0 = _mm256_dpbusd_epi32(a0, u, _mm256_loadu_si256(p.add(at) as *const __m256i));
            a1 = _mm256_dpbusd_epi32(
                a1,
                u,
                _mm256_loadu_si256(p.add(block_len + at) as *const __m256i),
            );
            a2 = _mm256_dpbusd_epi32(
                a2,
                u,
                _mm256_loadu_si256(p.add(2 * block_len + at) as *const __m256i),
            );
            a3 = _mm256_dpbusd_epi32(
                a3,
                u,
                _mm256_loadu_si256(p.add(3 * block_len + at) as *const __m256i),
            );
        }
        _mm256_storeu_si256(out.add(b * BLOCK) as *mut __m256i, a0);
        _mm256_storeu_si256(out.add((b + 1) * BLOCK) as *mut __m256i, a1);
        _mm256_storeu_si256(out.add((b + 2) * BLOCK) as *mut __m256i, a2);
        _mm256_storeu_si256(out.add((b + 3) * BLOCK) as *mut __m256i, a3);
        b += 4;
    }
    while b < blocks {
        let p = base.add(b * block_len);
        let mut a = _mm256_setzero_si256();
        for g in 0..groups {
            let u = _mm256_set1_epi32(*words.get_unchecked(g) as i32);
            a = _mm256_dpbusd_epi32(
                a,
                u,
                _mm256_loadu_si256(p.add(g * GROUP * BLOCK) as *const __m256i),
            );
        }
        _mm256_storeu_si256(out.add(b * BLOCK) as *mut __m256i, a);
        b += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(rng: &mut crate::rng::Rng, len: usize, spread: f64) -> Vec<f32> {
        (0..len).map(|_| (rng.normal() * spread) as f32).collect()
    }

    #[test]
    fn bounds_hold_for_every_item() {
        let mut rng = crate::rng::Rng::new(3);
        for (n_items, stride) in [(1, 8), (7, 8), (37, 104), (300, 40)] {
            let mut items = random(&mut rng, n_items * stride, 0.3);
            items[0] = 0.0; // a zero row
            for v in &mut items[..stride] {
                *v = 0.0;
            }
            let q = QuantItems::new(&items, stride).unwrap();
            let mut acc = vec![0; q.acc_len()];
            let (mut lo, mut hi) = (vec![0.0; n_items], vec![0.0; n_items]);
            let per_item = vec![0.0; n_items];
            for _ in 0..20 {
                let p = random(&mut rng, stride, 0.5);
                let u = q.user(&p).unwrap();
                q.score_bounds(&u, &mut acc, &per_item, |d, _| d, &mut lo, &mut hi);
                for (i, row) in items.chunks_exact(stride).enumerate() {
                    let exact = crate::numeric::dot(row, &p);
                    assert!(
                        lo[i] <= exact && exact <= hi[i],
                        "item {i}: exact {exact}, bounds {} {}",
                        lo[i],
                        hi[i]
                    );
                    // A few percent of the largest the product could be,
                    // not a blanket.
                    let norms =
                        crate::numeric::dot(row, row).sqrt() * crate::numeric::dot(&p, &p).sqrt();
                    assert!(
                        hi[i] - lo[i] <= 0.06 * norms + 2e-5,
                        "bounds {} {}",
                        lo[i],
                        hi[i]
                    );
                }
            }
        }
    }

    #[test]
    fn the_vector_kernel_matches_the_portable_one() {
        if !supported() {
            println!("SKIPPED: this CPU has no AVX-512 VNNI");
            return;
        }
        let mut rng = crate::rng::Rng::new(4);
        for (n_items, stride) in [(1, 8), (8, 8), (33, 104), (64, 16), (71, 200)] {
            let items = random(&mut rng, n_items * stride, 1.0);
            let q = QuantItems::new(&items, stride).unwrap();
            let u = q.user(&random(&mut rng, stride, 1.0)).unwrap();
            let (mut a, mut b) = (vec![0; q.acc_len()], vec![0; q.acc_len()]);
            accumulate_portable(&q.codes, q.groups, &u.words, &mut a);
            // SAFETY: supported() checked above.
            unsafe { accumulate_vnni(&q.codes, q.groups, &u.words, &mut b) };
            assert_eq!(a, b, "{n_items} x {stride}");
        }
    }

    #[test]
    fn refuses_what_it_cannot_bound() {
        assert!(QuantItems::new(&[1.0, f32::NAN, 0.0, 0.0], 4).is_none());
        assert!(QuantItems::new(&[1.0; 6], 3).is_none());
        let q = QuantItems::new(&[1.0; 8], 4).unwrap();
        assert!(q.user(&[0.0; 4]).is_none());
        assert!(q.user(&[f32::INFINITY, 0.0, 0.0, 0.0]).is_none());
        assert!(q.user(&[1.0, f32::NAN, 0.0, 0.0]).is_none());
        assert!(q.user(&[1.0; 8]).is_none());
        assert!(q.user(&[1.0, 0.0, 0.0, 0.0]).is_some());
    }
}
