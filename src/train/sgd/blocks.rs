//! Strata and blocks, arranged in the caller's own arrays: the ratings are
//! grouped in place by user, their items renamed to training rows, then
//! given back their dense indices when training ends. No rating is copied,
//! so training costs no memory per rating beyond the caller's arrays.
//!
//! It owns the order of the ratings during training and nothing else.

use super::TrainData;
use crate::rng::{mix64, Rng};

/// Users or items split into strata, each a contiguous range of training
/// rows. Within a stratum the rows are in a random order, so a block sorted
/// by row visits its users in a random order.
pub(super) struct Strata {
    /// Training row of each dense index.
    pub(super) row_of: Vec<u32>,
    /// `bounds[s]..bounds[s + 1]` are the rows of stratum `s`.
    pub(super) bounds: Vec<usize>,
}

impl Strata {
    /// Greedy balance: the busiest entities first, each to the stratum with
    /// the fewest ratings so far, so that sub-epochs end together.
    pub(super) fn balance(counts: &[u32], n_strata: usize, rng: &mut Rng) -> Strata {
        debug_assert!(n_strata <= usize::from(u8::MAX) + 1);
        let mut order: Vec<u32> = (0..counts.len() as u32).collect();
        rng.shuffle(&mut order);
        order.sort_by_key(|&e| std::cmp::Reverse(counts[e as usize]));
        let mut load = vec![0u64; n_strata];
        let mut stratum_of = vec![0u8; counts.len()];
        for &e in &order {
            let s = (0..n_strata).min_by_key(|&s| load[s]).unwrap_or(0);
            load[s] += u64::from(counts[e as usize]);
            stratum_of[e as usize] = s as u8;
        }
        let mut bounds = vec![0usize; n_strata + 1];
        for &s in &stratum_of {
            bounds[usize::from(s) + 1] += 1;
        }
        for s in 0..n_strata {
            bounds[s + 1] += bounds[s];
        }
        rng.shuffle(&mut order);
        let mut next = bounds.clone();
        let mut row_of = vec![0u32; counts.len()];
        for &e in &order {
            let s = stratum_of[e as usize];
            let r = next[usize::from(s)];
            next[usize::from(s)] += 1;
            row_of[e as usize] = r as u32;
        }
        Strata { row_of, bounds }
    }
}

/// Where each block's ratings are, once [`arrange`] has grouped them: user
/// row `r`'s ratings of item stratum `si` are `items[at(r, si)..at(r, si + 1)]`.
/// Block `(su, si)` is those of every row of user stratum `su`, visited in
/// row order (a random order of the users).
pub(super) struct Layout {
    bounds: Vec<usize>,
    n: usize,
}

impl Layout {
    pub(super) fn segment(&self, row: usize, si: usize) -> std::ops::Range<usize> {
        let at = row * (self.n + 1) + si;
        self.bounds[at]..self.bounds[at + 1]
    }
}

/// Group the ratings in place by user (users in the order they first
/// appear, so ratings that come grouped, as MovieLens files do, barely
/// move), rename items to their training rows, and order each user's
/// ratings by item row, which puts them in item strata, then shuffle each
/// stratum's part. A block then reads a user's ratings together: the user's
/// row stays in L1 while item rows stream past, which on large sets doubles
/// the update rate at no cost in accuracy (docs/benchmarks.md). What each
/// segment holds, and its order, is a function of the ratings (not of the
/// order they came in), the strata and the seed.
pub(super) fn arrange(
    data: &mut TrainData<'_>,
    users: &Strata,
    items: &Strata,
    seed: u64,
) -> Layout {
    for i in data.items.iter_mut() {
        *i = items.row_of[*i as usize];
    }
    const UNSEEN: u32 = u32::MAX;
    let mut rank = vec![UNSEEN; data.n_users];
    let mut by_rank = Vec::new();
    for &u in data.users.iter() {
        if rank[u as usize] == UNSEEN {
            rank[u as usize] = by_rank.len() as u32;
            by_rank.push(u);
        }
    }
    let runs = bucket_sort(data.users, data.items, data.values, by_rank.len(), |u| {
        rank[u as usize] as usize
    });
    drop(rank);

    // Each user's run sorted and shuffled, the runs split among threads.
    let n = users.bounds.len() - 1;
    let total = data.values.len();
    let mut cuts = vec![0usize];
    for t in 1..n {
        let want = total * t / n;
        cuts.push(runs.partition_point(|&s| s < want).min(by_rank.len()));
    }
    cuts.push(by_rank.len());
    let (mut is, mut vs) = (&mut *data.items, &mut *data.values);
    let mut chunks = Vec::with_capacity(n);
    for w in cuts.windows(2) {
        let len = runs[w[1]] - runs[w[0]];
        let (i, i_rest) = is.split_at_mut(len);
        let (v, v_rest) = vs.split_at_mut(len);
        (is, vs) = (i_rest, v_rest);
        chunks.push((w[0]..w[1], i, v));
    }
    let item_bounds = &items.bounds;
    let order = |(range, i, v): (std::ops::Range<usize>, &mut [u32], &mut [f32])| {
        let base = runs[range.start];
        let mut scratch = Vec::new();
        for j in range {
            let (a, b) = (runs[j] - base, runs[j + 1] - base);
            let (i, v) = (&mut i[a..b], &mut v[a..b]);
            canonical(i, v, &mut scratch);
            let mut rng = Rng::new(mix64(seed ^ u64::from(by_rank[j])));
            let mut from = 0;
            for &end in &item_bounds[1..] {
                let to = i.partition_point(|&row| (row as usize) < end);
                shuffle_together(&mut i[from..to], &mut v[from..to], &mut rng);
                from = to;
            }
        }
    };
    std::thread::scope(|scope| {
        let mut chunks = chunks.into_iter();
        let first = chunks.next();
        for chunk in chunks {
            scope.spawn(move || order(chunk));
        }
        if let Some(chunk) = first {
            order(chunk);
        }
    });

    // Every user row's segments; a user without ratings has empty ones.
    let mut bounds = vec![0usize; data.n_users * (n + 1)];
    for (j, &u) in by_rank.iter().enumerate() {
        let row = users.row_of[u as usize] as usize;
        let run = &data.items[runs[j]..runs[j + 1]];
        let at = row * (n + 1);
        bounds[at] = runs[j];
        for si in 1..=n {
            let end = item_bounds[si];
            bounds[at + si] = runs[j] + run.partition_point(|&r| (r as usize) < end);
        }
    }
    Layout { bounds, n }
}

/// Give the items back their dense indices.
pub(super) fn restore(data: &mut TrainData<'_>, items: &Strata) {
    let mut index_of = vec![0u32; items.row_of.len()];
    for (e, &r) in items.row_of.iter().enumerate() {
        index_of[r as usize] = e as u32;
    }
    for i in data.items.iter_mut() {
        *i = index_of[*i as usize];
    }
}

/// Sort the parallel arrays in place by `key(user)` into `n_buckets`
/// buckets (an American flag sort: each swap puts one rating in its
/// bucket, and a rating already in its bucket is passed over);
/// bucket `b` ends up at `starts[b]..starts[b + 1]`.
fn bucket_sort(
    users: &mut [u32],
    items: &mut [u32],
    values: &mut [f32],
    n_buckets: usize,
    key: impl Fn(u32) -> usize,
) -> Vec<usize> {
    let mut starts = vec![0usize; n_buckets + 1];
    for &u in users.iter() {
        starts[key(u) + 1] += 1;
    }
    for b in 0..n_buckets {
        starts[b + 1] += starts[b];
    }
    let mut next = starts.clone();
    for b in 0..n_buckets {
        while next[b] < starts[b + 1] {
            let k = next[b];
            let home = key(users[k]);
            if home == b {
                next[b] += 1;
            } else {
                let j = next[home];
                next[home] += 1;
                users.swap(k, j);
                items.swap(k, j);
                values.swap(k, j);
            }
        }
    }
    starts
}

/// A user's ratings sorted by item (and value), so that what follows
/// depends on the ratings alone, not on the order they came in: the same
/// ratings in any order train the same model.
fn canonical(items: &mut [u32], values: &mut [f32], run: &mut Vec<u64>) {
    run.clear();
    run.extend(
        items
            .iter()
            .zip(values.iter())
            .map(|(&i, &v)| u64::from(i) << 32 | u64::from(v.to_bits())),
    );
    run.sort_unstable();
    for ((i, v), &x) in items.iter_mut().zip(values.iter_mut()).zip(run.iter()) {
        *i = (x >> 32) as u32;
        *v = f32::from_bits(x as u32);
    }
}

/// Fisher–Yates over two arrays at once.
fn shuffle_together(a: &mut [u32], b: &mut [f32], rng: &mut Rng) {
    for k in (1..a.len()).rev() {
        let j = rng.below(k as u64 + 1) as usize;
        a.swap(k, j);
        b.swap(k, j);
    }
}

/// Rows kept in training order put back in dense-index order, in place:
/// row `row_of[e]` becomes row `e`.
pub(super) fn rows_to_dense(v: &mut [f32], row_of: &[u32], stride: usize) {
    let n = row_of.len();
    let mut done = vec![false; n];
    let mut held = vec![0f32; stride];
    for start in 0..n {
        if done[start] {
            continue;
        }
        held.copy_from_slice(&v[start * stride..(start + 1) * stride]);
        let mut e = start;
        loop {
            done[e] = true;
            let src = row_of[e] as usize;
            if src == start {
                v[e * stride..(e + 1) * stride].copy_from_slice(&held);
                break;
            }
            v.copy_within(src * stride..(src + 1) * stride, e * stride);
            e = src;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_sort_groups_every_rating_by_key_and_keeps_the_set() {
        let mut rng = Rng::new(5);
        let n = 1000;
        let mut users: Vec<u32> = (0..n).map(|_| rng.below(37) as u32).collect();
        let mut items: Vec<u32> = (0..n).map(|_| rng.below(11) as u32).collect();
        let mut values: Vec<f32> = (0..n).map(|k| k as f32).collect();
        let mut before: Vec<_> = (0..n as usize)
            .map(|k| (users[k], items[k], values[k] as u32))
            .collect();
        let starts = bucket_sort(&mut users, &mut items, &mut values, 37, |u| u as usize);
        for b in 0..37 {
            assert!(users[starts[b]..starts[b + 1]]
                .iter()
                .all(|&u| u == b as u32));
        }
        let mut after: Vec<_> = (0..n as usize)
            .map(|k| (users[k], items[k], values[k] as u32))
            .collect();
        before.sort_unstable();
        after.sort_unstable();
        assert_eq!(before, after);
    }

    #[test]
    fn rows_go_back_to_dense_order() {
        let row_of = [2u32, 0, 3, 1, 4];
        // Row r holds entity index_of[r]'s values: [e, e * 10].
        let mut index_of = [0u32; 5];
        for (e, &r) in row_of.iter().enumerate() {
            index_of[r as usize] = e as u32;
        }
        let mut v: Vec<f32> = index_of
            .iter()
            .flat_map(|&e| [e as f32, e as f32 * 10.0])
            .collect();
        rows_to_dense(&mut v, &row_of, 2);
        assert_eq!(v, [0., 0., 1., 10., 2., 20., 3., 30., 4., 40.]);
    }
}
