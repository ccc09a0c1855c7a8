//! Scoring on a model: top-N recommendations and item-item similarity.
//!
//! Both score every item with one pass of dot products over the item factor
//! matrix (vectorised: an AVX2 build of the same loop where the CPU has it)
//! and keep the best N by partial selection, never a full sort.

use std::cell::RefCell;

mod dot_all;
mod top_n;

use dot_all::{dot_all, dot_one};
pub(crate) use top_n::top_n;
use top_n::{any_above, leave_out, CHUNK};

use super::quant::QuantItems;
use super::Model;

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
mod tests;
