//! Scoring on a model: top-N recommendations and item-item similarity.
//!
//! Both score every item with one pass of dot products over the item factor
//! matrix (vectorised: an AVX2 build of the same loop where the CPU has it)
//! and keep the best N by partial selection, never a full sort.

use super::Model;

/// `out[i] = q_i · p` for every item row of `q` (rows `stride` long, a
/// multiple of 8).
fn dot_all(q: &[f32], stride: usize, p: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports AVX2 and FMA, checked just above.
        unsafe { dot_all_fma(q, stride, p, out) };
        return;
    }
    for (row, o) in q.chunks_exact(stride).zip(out.iter_mut()) {
        *o = crate::train::sgd::dot(row, p);
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
        *o = crate::train::sgd::dot(row, p);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn hsum(v: std::arch::x86_64::__m256) -> f32 {
    use std::arch::x86_64::*;
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)))
}

/// The `n` best `(item, score)` pairs, best first; ties go to the lower
/// index. One pass: most items fall below the current n-th best and cost a
/// single comparison.
fn top_n(scores: &[f32], n: usize) -> Vec<(u32, f32)> {
    use std::cmp::Ordering;
    // Ordered so that the heap's top is the worst kept entry.
    #[derive(PartialEq)]
    struct Kept(f32, u32);
    impl Eq for Kept {}
    impl PartialOrd for Kept {
        fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
            Some(self.cmp(other))
        }
    }
    impl Ord for Kept {
        fn cmp(&self, other: &Self) -> Ordering {
            other.0.total_cmp(&self.0).then(self.1.cmp(&other.1))
        }
    }
    if n == 0 {
        return Vec::new();
    }
    let mut heap = std::collections::BinaryHeap::with_capacity(n + 1);
    let mut worst = f32::NEG_INFINITY;
    for (i, &s) in scores.iter().enumerate() {
        if !s.is_finite() || (heap.len() == n && s <= worst) {
            continue;
        }
        heap.push(Kept(s, i as u32));
        if heap.len() > n {
            heap.pop();
        }
        if heap.len() == n {
            worst = heap.peek().map_or(f32::NEG_INFINITY, |k| k.0);
        }
    }
    // Ascending by `Kept`'s order is best first.
    heap.into_sorted_vec()
        .into_iter()
        .map(|k| (k.1, k.0))
        .collect()
}

thread_local! {
    /// A score per item, reused by every request on this thread: one
    /// allocation per thread instead of one per request.
    static SCORES: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Run `f` on a scratch buffer of `n` floats.
fn with_scores<T>(n: usize, f: impl FnOnce(&mut [f32]) -> T) -> T {
    SCORES.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            buf.resize(n, 0.0);
            f(&mut buf[..n])
        }
        // Re-entered on this thread (never expected): use a fresh buffer.
        Err(_) => f(&mut vec![0.0; n]),
    })
}

impl Model {
    /// The `n` items with the highest predicted rating for `user`, leaving
    /// out `exclude` (the items they rated, ascending). Scores are predicted
    /// ratings, clipped to the scale; ranking uses the unclipped estimate.
    pub fn recommend(&self, user: u32, n: usize, exclude: &[u32]) -> Vec<(u32, f32)> {
        with_scores(self.n_items(), |scores| {
            self.recommend_into(scores, user, n, exclude)
        })
    }

    fn recommend_into(
        &self,
        scores: &mut [f32],
        user: u32,
        n: usize,
        exclude: &[u32],
    ) -> Vec<(u32, f32)> {
        dot_all(
            self.item_factor_matrix(),
            self.stride(),
            self.user_factors(user),
            scores,
        );
        let base = self.global_mean() + self.user_bias(user);
        for (s, &b) in scores.iter_mut().zip(self.item_biases()) {
            *s += base + b;
        }
        for &i in exclude {
            if let Some(s) = scores.get_mut(i as usize) {
                *s = f32::NEG_INFINITY;
            }
        }
        let scale = self.scale();
        top_n(scores, n)
            .into_iter()
            .map(|(i, s)| (i, scale.clip(s)))
            .collect()
    }

    /// The `n` items whose factor vectors have the highest cosine similarity
    /// with `item`'s, the item itself left out. `norms` are the items' factor
    /// norms ([`Model::item_norms`]).
    pub fn similar(&self, item: u32, n: usize, norms: &[f32]) -> Vec<(u32, f32)> {
        with_scores(self.n_items(), |scores| {
            self.similar_into(scores, item, n, norms)
        })
    }

    fn similar_into(
        &self,
        scores: &mut [f32],
        item: u32,
        n: usize,
        norms: &[f32],
    ) -> Vec<(u32, f32)> {
        dot_all(
            self.item_factor_matrix(),
            self.stride(),
            self.item_factors(item),
            scores,
        );
        let own = norms.get(item as usize).copied().unwrap_or(0.0);
        for (s, &norm) in scores.iter_mut().zip(norms) {
            let d = own * norm;
            *s = if d > 0.0 { *s / d } else { f32::NEG_INFINITY };
        }
        if let Some(s) = scores.get_mut(item as usize) {
            *s = f32::NEG_INFINITY;
        }
        top_n(scores, n)
    }

    /// The Euclidean norm of every item's factor vector.
    pub fn item_norms(&self) -> Vec<f32> {
        self.item_factor_matrix()
            .chunks_exact(self.stride())
            .map(|row| crate::train::sgd::dot(row, row).sqrt())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_n_selects_best_first_with_stable_ties() {
        let s = [0.5, 3.0, f32::NEG_INFINITY, 3.0, 1.0, 2.0];
        assert_eq!(top_n(&s, 3), vec![(1, 3.0), (3, 3.0), (5, 2.0)]);
        assert_eq!(top_n(&s, 10).len(), 5);
        assert!(top_n(&s, 0).is_empty());
        assert!(top_n(&[], 5).is_empty());
    }

    #[test]
    fn top_n_agrees_with_a_full_sort() {
        let mut rng = crate::rng::Rng::new(5);
        for case in 0..200 {
            let len = rng.below(300) as usize;
            // Few distinct values, so ties are common.
            let scores: Vec<f32> = (0..len)
                .map(|_| {
                    if rng.below(10) == 0 {
                        f32::NEG_INFINITY
                    } else {
                        rng.below(20) as f32 / 4.0
                    }
                })
                .collect();
            let n = rng.below(40) as usize;
            let mut all: Vec<(u32, f32)> = scores
                .iter()
                .enumerate()
                .filter(|(_, s)| s.is_finite())
                .map(|(i, &s)| (i as u32, s))
                .collect();
            all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            all.truncate(n);
            assert_eq!(top_n(&scores, n), all, "case {case}");
        }
    }

    #[test]
    fn the_vector_kernel_matches_the_plain_dot_product() {
        let mut rng = crate::rng::Rng::new(9);
        for rows in [0usize, 1, 3, 4, 5, 9, 130] {
            let stride = 104;
            let q: Vec<f32> = (0..rows * stride).map(|_| rng.normal() as f32).collect();
            let p: Vec<f32> = (0..stride).map(|_| rng.normal() as f32).collect();
            let mut out = vec![0f32; rows];
            dot_all(&q, stride, &p, &mut out);
            for (r, o) in out.iter().enumerate() {
                let want = crate::train::sgd::dot(&q[r * stride..(r + 1) * stride], &p);
                assert!((o - want).abs() < 1e-3, "row {r}: {o} vs {want}");
            }
        }
    }

    #[test]
    fn recommend_matches_brute_force_and_excludes_rated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.recd");
        crate::model::tests::write_tiny_model(&path, "v", 1.0);
        let m = Model::open(&path).unwrap();
        for user in 0..m.n_users() as u32 {
            let rated = m.rated_items(user).to_vec();
            let got = m.recommend(user, 10, &rated);
            assert_eq!(got.len(), m.n_items() - rated.len());
            assert!(got.iter().all(|(i, _)| !rated.contains(i)));
            for (i, s) in &got {
                assert!((s - m.predict(Some(user), Some(*i))).abs() < 1e-5);
            }
            assert!(got.windows(2).all(|w| w[0].1 >= w[1].1));
        }
        let norms = m.item_norms();
        let sim = m.similar(0, 2, &norms);
        assert_eq!(sim.len(), 2);
        assert!(sim
            .iter()
            .all(|(i, s)| *i != 0 && (-1.0..=1.0001).contains(s)));
    }
}
