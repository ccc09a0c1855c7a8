//! Partial selection: the best `n` of a slice of scores in one pass, best
//! first, ties to the lower index, never a full sort.
//!
//! It knows nothing of models or factors: scores in, indices out.

/// Score the items in `exclude` minus infinity, which [`top_n`] passes
/// over; indices out of range are ignored.
#[inline]
pub(super) fn leave_out(scores: &mut [f32], exclude: &[u32]) {
    for &i in exclude {
        if let Some(v) = scores.get_mut(i as usize) {
            *v = f32::NEG_INFINITY;
        }
    }
}

/// Scores examined at once by the passes that skip most of them.
pub(super) const CHUNK: usize = 8;

/// Whether any of a chunk's values is above `floor` (NaN never is). No
/// early exit, so the comparisons compile to a few vector instructions.
#[inline]
pub(super) fn any_above(chunk: &[f32], floor: f32) -> bool {
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
pub(super) const SORTED_UP_TO: usize = 64;

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
