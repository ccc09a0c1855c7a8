//! Scoring on a model: top-N recommendations and item-item similarity.
//!
//! Both score every item with one pass of dot products over the item factor
//! matrix (vectorised: an AVX2 build of the same loop where the CPU has it)
//! and keep the best N by partial selection, never a full sort.

use std::cell::RefCell;

use super::quant::QuantItems;
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
fn dot_one(row: &[f32], p: &[f32]) -> f32 {
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

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn hsum(v: std::arch::x86_64::__m256) -> f32 {
    use std::arch::x86_64::*;
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)))
}

/// Score the items in `exclude` minus infinity, which [`top_n`] passes
/// over; indices out of range are ignored.
fn leave_out(scores: &mut [f32], exclude: &[u32]) {
    for &i in exclude {
        if let Some(v) = scores.get_mut(i as usize) {
            *v = f32::NEG_INFINITY;
        }
    }
}

/// Scores examined at once by the passes that skip most of them.
const CHUNK: usize = 8;

/// Whether any of a chunk's values is above `floor` (NaN never is). No
/// early exit, so the comparisons compile to a few vector instructions.
fn any_above(chunk: &[f32], floor: f32) -> bool {
    match <&[f32; CHUNK]>::try_from(chunk) {
        Ok(c) => c.iter().fold(false, |any, &v| any | (v > floor)),
        Err(_) => chunk.iter().any(|&v| v > floor),
    }
}

/// The `n` best `(item, score)` pairs, best first; ties go to the lower
/// index. One pass: most items fall below the current n-th best, and most
/// chunks of items are passed over with one vector maximum.
pub(crate) fn top_n(scores: &[f32], n: usize) -> Vec<(u32, f32)> {
    if n == 0 {
        Vec::new()
    } else if n <= SORTED_UP_TO {
        let mut kept = Sorted(Vec::with_capacity(n + 1), n);
        scan(scores, &mut kept);
        kept.0
    } else {
        let mut kept = Heap(std::collections::BinaryHeap::with_capacity(n + 1), n);
        scan(scores, &mut kept);
        // Ascending by `Kept`'s order is best first.
        kept.0
            .into_sorted_vec()
            .into_iter()
            .map(|k| (k.1, k.0))
            .collect()
    }
}

/// Up to this many, the best are kept in a sorted array: fewer and cheaper
/// comparisons than a heap's, and moving a few entries costs little.
const SORTED_UP_TO: usize = 64;

/// The best entries seen so far, offered in ascending index order.
trait Keep {
    /// The score an entry must beat once full; minus infinity until then.
    fn worst(&self) -> f32;
    /// Offer a finite score.
    fn offer(&mut self, index: u32, score: f32);
}

fn scan<K: Keep>(scores: &[f32], kept: &mut K) {
    #[inline(always)]
    fn offer<K: Keep>(i: usize, s: f32, kept: &mut K) {
        if s.is_finite() && s > kept.worst() {
            kept.offer(i as u32, s);
        }
    }
    let chunks = scores.chunks_exact(CHUNK);
    let tail = chunks.remainder();
    for (c, chunk) in chunks.enumerate() {
        if !any_above(chunk, kept.worst()) {
            continue;
        }
        for (k, &s) in chunk.iter().enumerate() {
            offer(c * CHUNK + k, s, kept);
        }
    }
    let start = scores.len() - tail.len();
    for (k, &s) in tail.iter().enumerate() {
        offer(start + k, s, kept);
    }
}

/// Best first; at most `.1` entries.
struct Sorted(Vec<(u32, f32)>, usize);

impl Keep for Sorted {
    fn worst(&self) -> f32 {
        match self.0.last() {
            Some(&(_, s)) if self.0.len() == self.1 => s,
            _ => f32::NEG_INFINITY,
        }
    }

    fn offer(&mut self, index: u32, score: f32) {
        // In from the worst end, which is where most offers stay; after
        // every equal score, since those have lower indices.
        let v = &mut self.0;
        if v.len() < self.1 {
            v.push((index, score));
        }
        let mut at = v.len() - 1;
        while at > 0 && v[at - 1].1 < score {
            v[at] = v[at - 1];
            at -= 1;
        }
        v[at] = (index, score);
    }
}

/// Ordered so that the heap's top is the worst kept entry.
#[derive(PartialEq)]
struct Kept(f32, u32);

impl Eq for Kept {}

impl PartialOrd for Kept {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Kept {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.0.total_cmp(&self.0).then(self.1.cmp(&other.1))
    }
}

/// At most `.1` entries.
struct Heap(std::collections::BinaryHeap<Kept>, usize);

impl Keep for Heap {
    fn worst(&self) -> f32 {
        match self.0.peek() {
            Some(k) if self.0.len() == self.1 => k.0,
            _ => f32::NEG_INFINITY,
        }
    }

    fn offer(&mut self, index: u32, score: f32) {
        self.0.push(Kept(score, index));
        if self.0.len() > self.1 {
            self.0.pop();
        }
    }
}

/// Scratch reused by every request on a thread: one set of buffers per
/// thread instead of several allocations per request.
#[derive(Default)]
struct Scratch {
    lo: Vec<f32>,
    hi: Vec<f32>,
    acc: Vec<i32>,
    candidates: Vec<u32>,
    scores: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

fn with_scratch<T>(f: impl FnOnce(&mut Scratch) -> T) -> T {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => f(&mut scratch),
        // Re-entered on this thread (never expected): use fresh buffers.
        Err(_) => f(&mut Scratch::default()),
    })
}

/// The item factor matrix as scoring sees it.
#[derive(Clone, Copy)]
struct Items<'a> {
    /// `stride`-long rows.
    matrix: &'a [f32],
    stride: usize,
    /// Its 8-bit copy, if there is one.
    quant: Option<&'a QuantItems>,
}

/// The `n` best items for the query vector `p`, best first, where item `i`
/// (a `stride`-long row of `items`) scores `score(row_i · p, per_item[i])`.
/// `score` must not decrease as the dot product grows, and must map a NaN
/// dot product to NaN or minus infinity; items in `exclude` and items
/// scoring a non-finite value are left out. With `quant`, a first integer
/// pass picks the candidates and only they are scored exactly; the result is
/// the same, to the bit, either way.
fn best_n(
    items: Items<'_>,
    p: &[f32],
    n: usize,
    exclude: &[u32],
    per_item: &[f32],
    score: impl Fn(f32, f32) -> f32,
) -> Vec<(u32, f32)> {
    let Items {
        matrix,
        stride,
        quant,
    } = items;
    let n_items = (matrix.len() / stride.max(1)).min(per_item.len());
    let per_item = &per_item[..n_items];
    with_scratch(|s| {
        // Worth it only when most items can be passed over.
        if let Some(q) = quant.filter(|q| q.n_items() == n_items && n < n_items / 4) {
            if let Some(u) = q.user(p) {
                s.lo.resize(n_items, 0.0);
                s.hi.resize(n_items, 0.0);
                s.acc.resize(q.acc_len(), 0);
                q.score_bounds(&u, &mut s.acc, per_item, &score, &mut s.lo, &mut s.hi);
                if let Some(best) = rescore_candidates(s, &items, p, n, exclude, per_item, &score) {
                    return best;
                }
            }
        }
        s.scores.resize(n_items, 0.0);
        dot_all(matrix, stride, p, &mut s.scores);
        for (v, &x) in s.scores.iter_mut().zip(per_item) {
            *v = score(*v, x);
        }
        leave_out(&mut s.scores, exclude);
        top_n(&s.scores, n)
    })
}

/// From the lower and upper ends of every item's score (in `s.lo` and
/// `s.hi`): the n-th best lower end is a floor that the final n all reach,
/// so only items whose upper end reaches it are scored exactly. None if
/// fewer than `n` items have a finite lower end.
fn rescore_candidates(
    s: &mut Scratch,
    items: &Items<'_>,
    p: &[f32],
    n: usize,
    exclude: &[u32],
    per_item: &[f32],
    score: &impl Fn(f32, f32) -> f32,
) -> Option<Vec<(u32, f32)>> {
    leave_out(&mut s.lo, exclude);
    leave_out(&mut s.hi, exclude);
    let floor = top_n(&s.lo, n).get(n.checked_sub(1)?)?.1;
    // The items whose upper end reaches the floor: a chunk at a time, since
    // almost none do.
    s.candidates.clear();
    // Strictly above the floor's predecessor: at or above the floor.
    let below = floor.next_down();
    for (c, chunk) in s.hi.chunks(CHUNK).enumerate() {
        if any_above(chunk, below) {
            for (k, &hi) in chunk.iter().enumerate() {
                if hi >= floor {
                    s.candidates.push((c * CHUNK + k) as u32);
                }
            }
        }
    }
    s.scores.clear();
    for &i in &s.candidates {
        let i = i as usize;
        let row = items.matrix.get(i * items.stride..(i + 1) * items.stride)?;
        s.scores.push(score(dot_one(row, p), per_item[i]));
    }
    // Candidates ascend by index, so ties still go to the lower index.
    Some(
        top_n(&s.scores, n)
            .into_iter()
            .map(|(k, v)| (s.candidates[k as usize], v))
            .collect(),
    )
}

impl Model {
    /// The `n` items with the highest predicted rating for `user`, leaving
    /// out `exclude` (the items they rated). Scores are predicted ratings,
    /// clipped to the scale; ranking uses the unclipped estimate. `quant` is
    /// this model's [`QuantItems`], where the CPU runs them.
    pub fn recommend(
        &self,
        quant: Option<&QuantItems>,
        user: u32,
        n: usize,
        exclude: &[u32],
    ) -> Vec<(u32, f32)> {
        self.recommend_vector(
            quant,
            self.user_factors(user),
            self.user_bias(user),
            n,
            exclude,
        )
    }

    /// As [`Model::recommend`], for a user given by their factors (`stride`
    /// floats) and bias: a folded-in user.
    pub fn recommend_vector(
        &self,
        quant: Option<&QuantItems>,
        factors: &[f32],
        bias: f32,
        n: usize,
        exclude: &[u32],
    ) -> Vec<(u32, f32)> {
        let base = self.global_mean() + bias;
        let scale = self.scale();
        best_n(
            self.items(quant),
            factors,
            n,
            exclude,
            self.item_biases(),
            |dot, bias| dot + (base + bias),
        )
        .into_iter()
        .map(|(i, s)| (i, scale.clip(s)))
        .collect()
    }

    /// The `n` items whose factor vectors have the highest cosine similarity
    /// with `item`'s, the item itself left out. `norms` are the items' factor
    /// norms ([`Model::item_norms`]).
    pub fn similar(
        &self,
        quant: Option<&QuantItems>,
        item: u32,
        n: usize,
        norms: &[f32],
    ) -> Vec<(u32, f32)> {
        let own = norms.get(item as usize).copied().unwrap_or(0.0);
        best_n(
            self.items(quant),
            self.item_factors(item),
            n,
            &[item],
            norms,
            |dot, norm| {
                let d = own * norm;
                if d > 0.0 {
                    dot / d
                } else {
                    f32::NEG_INFINITY
                }
            },
        )
    }

    fn items<'a>(&'a self, quant: Option<&'a QuantItems>) -> Items<'a> {
        Items {
            matrix: self.item_factor_matrix(),
            stride: self.stride(),
            quant,
        }
    }

    /// The `n` items with the highest `scores` (one per item, such as
    /// [`Model::damped_means`]), leaving out `exclude`; scores clipped.
    pub fn best_by(&self, scores: &[f32], n: usize, exclude: &[u32]) -> Vec<(u32, f32)> {
        with_scratch(|s| {
            s.scores.clear();
            s.scores.extend_from_slice(scores);
            leave_out(&mut s.scores, exclude);
            let scale = self.scale();
            top_n(&s.scores, n)
                .into_iter()
                .map(|(i, v)| (i, scale.clip(v)))
                .collect()
        })
    }

    /// The Euclidean norm of every item's factor vector.
    pub fn item_norms(&self) -> Vec<f32> {
        self.item_factor_matrix()
            .chunks_exact(self.stride())
            .map(|row| crate::numeric::dot(row, row).sqrt())
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
            let n = rng.below(2 * SORTED_UP_TO as u64) as usize;
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
                let want = crate::numeric::dot(&q[r * stride..(r + 1) * stride], &p);
                assert!((o - want).abs() < 1e-3, "row {r}: {o} vs {want}");
            }
        }
    }

    #[test]
    fn the_integer_first_pass_changes_nothing() {
        let mut rng = crate::rng::Rng::new(11);
        for case in 0..60 {
            let stride = [8, 16, 104][case % 3];
            let n_items = 40 + rng.below(400) as usize;
            let mut items: Vec<f32> = (0..n_items * stride)
                .map(|_| (rng.normal() * 0.2) as f32)
                .collect();
            // Duplicate rows, so that exact ties are common.
            for i in (0..n_items).step_by(7).skip(1) {
                items.copy_within(0..stride, i * stride);
            }
            let biases: Vec<f32> = (0..n_items).map(|_| rng.below(3) as f32 * 0.1).collect();
            let q = QuantItems::new(&items, stride).unwrap();
            let p: Vec<f32> = (0..stride).map(|_| rng.normal() as f32).collect();
            let mut exclude: Vec<u32> = (0..n_items as u32).filter(|_| rng.below(5) == 0).collect();
            exclude.reverse(); // any order
            let score = |d: f32, b: f32| d + b;
            let plain = Items {
                matrix: &items,
                stride,
                quant: None,
            };
            let with_q = Items {
                quant: Some(&q),
                ..plain
            };
            for n in [0, 1, 3, 10, n_items / 5] {
                let exact = best_n(plain, &p, n, &exclude, &biases, score);
                let fast = best_n(with_q, &p, n, &exclude, &biases, score);
                assert_eq!(exact, fast, "case {case}, n {n}");
                if n > 0 {
                    // The first pass itself, not a fallback, gave it.
                    let mut s = Scratch::default();
                    let u = q.user(&p).unwrap();
                    (s.lo, s.hi, s.acc) =
                        (vec![0.0; n_items], vec![0.0; n_items], vec![0; q.acc_len()]);
                    q.score_bounds(&u, &mut s.acc, &biases, score, &mut s.lo, &mut s.hi);
                    let direct =
                        rescore_candidates(&mut s, &with_q, &p, n, &exclude, &biases, &score);
                    assert_eq!(direct.as_ref(), Some(&exact), "case {case}, n {n}");
                    assert!(
                        s.candidates.len() < n_items,
                        "case {case}: no item passed over"
                    );
                }
                assert_eq!(exact.len(), n);
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
            let got = m.recommend(None, user, 10, &rated);
            assert_eq!(got.len(), m.n_items() - rated.len());
            assert!(got.iter().all(|(i, _)| !rated.contains(i)));
            for (i, s) in &got {
                assert!((s - m.predict(Some(user), Some(*i))).abs() < 1e-5);
            }
            assert!(got.windows(2).all(|w| w[0].1 >= w[1].1));
        }
        let norms = m.item_norms();
        let sim = m.similar(None, 0, 2, &norms);
        assert_eq!(sim.len(), 2);
        assert!(sim
            .iter()
            .all(|(i, s)| *i != 0 && (-1.0..=1.0001).contains(s)));
    }
}
