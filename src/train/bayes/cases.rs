//! The ratings in user order and the passes over them.
//!
//! The residual `e = y - ŷ` of every rating is stored in user order. A
//! block's update does not write `e` at once: it leaves a [`Change`] per
//! row, which the next pass applies as it reads. A pass gathering per-user
//! sums reads each user's ratings contiguously; one gathering per-movie sums
//! reads in the same order and adds into small per-movie arrays, which stay
//! in cache.
//!
//! Passes split the users into fixed chunks, one per thread, balanced by
//! ratings. A user's sums are taken in one order by one thread; a movie's
//! are added up chunk by chunk, so with a seed the posterior is the same
//! from run to run on the same number of threads.

use std::ops::Range;

use crate::train::csr::offsets;

/// The precision of the per-rating residuals and of the rows' working sums
/// while a factor is drawn; the parameters, the draws and the sums over a
/// feature's rows stay in f64. Chosen by measurement (docs/benchmarks.md):
/// with f32 here (and [`super::block::Row`] aligned to 32 bytes) split90's
/// RMSE was the same to five places and a fit was no faster.
pub type Real = f64;

/// A [`Real`] in f64 (the identity while `Real` is f64).
#[inline]
#[allow(clippy::useless_conversion)]
pub fn wide(x: Real) -> f64 {
    f64::from(x)
}

/// How the prediction of the ratings of a row changed since `e` was last
/// written: for a rating (u, i) the prediction grew by
/// `u.c + i.c + u.new * i.new - u.old * i.old`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Change {
    pub old: Real,
    pub new: Real,
    pub c: Real,
}

impl Change {
    /// No change of a row whose factor sum is `q`.
    pub fn none(q: f64) -> Change {
        Change {
            old: q as Real,
            new: q as Real,
            c: 0.0,
        }
    }
}

#[inline]
fn pending(u: &Change, i: &Change) -> Real {
    u.c + i.c + u.new * i.new - u.old * i.old
}

/// Sums over a row's ratings: Σ e, Σ e·o, Σ o, Σ o², where `o` is the other
/// block's factor sum of each rating.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sums {
    pub e: Real,
    pub eq: Real,
    pub s: Real,
    pub s2: Real,
}

impl Sums {
    #[inline]
    fn add(&mut self, e: Real, o: Real) {
        self.e += e;
        self.eq += e * o;
        self.s += o;
        self.s2 += o * o;
    }
}

/// The training ratings, by user and by movie.
pub struct Cases {
    /// User `u`'s ratings are `by_user[u]..by_user[u + 1]`.
    by_user: Vec<usize>,
    /// In user order: the movie and the value of each rating.
    items: Vec<u32>,
    values: Vec<f32>,
    user_chunks: Vec<Range<usize>>,
}

impl Cases {
    pub fn new(
        n_users: usize,
        users: &[u32],
        items: &[u32],
        values: &[f32],
        threads: usize,
    ) -> Cases {
        let by_user = offsets(n_users, users);
        let mut next = by_user.clone();
        let n = users.len();
        let (mut its, mut vals) = (vec![0u32; n], vec![0f32; n]);
        for ((&u, &i), &v) in users.iter().zip(items).zip(values) {
            let k = &mut next[u as usize];
            (its[*k], vals[*k]) = (i, v);
            *k += 1;
        }
        Cases {
            user_chunks: chunks(&by_user, threads),
            by_user,
            items: its,
            values: vals,
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// `e = y - ŷ` for every rating, `ŷ` given by `own_*` (each row's terms
    /// alone) and the row-major factor sums `qu`, `qi`; returns each user's
    /// Σ e and Σ e².
    pub fn residuals(
        &self,
        base: f64,
        own_u: &[f64],
        own_i: &[f64],
        (qu, qi, rank): (&[f64], &[f64], usize),
        e: &mut [Real],
        out: &mut [(f64, f64)],
    ) {
        self.by_users(e, out, &|u, e: &mut [Real], ks: Range<usize>| {
            let a = &qu[u * rank..(u + 1) * rank];
            let (mut s, mut s2) = (0.0, 0.0);
            for (e, k) in e.iter_mut().zip(ks) {
                let i = self.items[k] as usize;
                let b = &qi[i * rank..(i + 1) * rank];
                let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
                let r = f64::from(self.values[k]) - base - own_u[u] - own_i[i] - dot;
                *e = r as Real;
                s += r;
                s2 += r * r;
            }
            (s, s2)
        });
    }

    /// Apply the pending changes to `e` and gather each user's [`Sums`] with
    /// `o` the movie's `oq`.
    pub fn gather_users(
        &self,
        (cu, ci): (&[Change], &[Change]),
        oq: &[f64],
        e: &mut [Real],
        out: &mut [Sums],
    ) {
        self.by_users(e, out, &|u, e: &mut [Real], ks: Range<usize>| {
            let mut g = Sums::default();
            for (e, k) in e.iter_mut().zip(ks) {
                let i = self.items[k] as usize;
                *e -= pending(&cu[u], &ci[i]);
                g.add(*e, oq[i] as Real);
            }
            g
        });
    }

    /// Apply the pending changes to `e` and gather each movie's [`Sums`]
    /// with `o` the user's `oq`. Each chunk of users adds into its own sums,
    /// which are then added up in chunk order.
    pub fn gather_items(
        &self,
        (cu, ci): (&[Change], &[Change]),
        oq: &[f64],
        e: &mut [Real],
        out: &mut [Sums],
    ) {
        let work = |rows: Range<usize>, e: &mut [Real], acc: &mut [Sums]| {
            acc.fill(Sums::default());
            let start = self.by_user[rows.start];
            for u in rows {
                let (cu, o) = (&cu[u], oq[u] as Real);
                let ks = self.by_user[u]..self.by_user[u + 1];
                for (e, &i) in e[ks.start - start..ks.end - start]
                    .iter_mut()
                    .zip(&self.items[ks])
                {
                    let i = i as usize;
                    *e -= pending(cu, &ci[i]);
                    acc[i].add(*e, o);
                }
            }
        };
        let mut partial = vec![vec![Sums::default(); out.len()]; self.user_chunks.len() - 1];
        let accs = partial.iter_mut().map(|p| &mut p[..]);
        self.on_chunks(e, accs.chain(std::iter::once(&mut *out)), &work);
        for acc in &partial {
            for (o, a) in out.iter_mut().zip(acc) {
                o.e += a.e;
                o.eq += a.eq;
                o.s += a.s;
                o.s2 += a.s2;
            }
        }
    }

    /// Run `row(u, e of u's ratings, their indices)` for every user, the
    /// chunks on their threads, each result into `out[u]`.
    fn by_users<T, F>(&self, e: &mut [Real], out: &mut [T], row: &F)
    where
        T: Send,
        F: Fn(usize, &mut [Real], Range<usize>) -> T + Sync,
    {
        let work = |rows: Range<usize>, e: &mut [Real], out: &mut [T]| {
            let start = self.by_user[rows.start];
            for (u, o) in rows.zip(out) {
                let ks = self.by_user[u]..self.by_user[u + 1];
                *o = row(u, &mut e[ks.start - start..ks.end - start], ks);
            }
        };
        let mut rest = out;
        let parts = self.user_chunks.iter().map(move |rows| {
            let (mine, tail) = std::mem::take(&mut rest).split_at_mut(rows.len());
            rest = tail;
            mine
        });
        self.on_chunks(e, parts, &work);
    }

    /// Run `work(users, e of their ratings, part)` for each chunk of users
    /// with the next of `parts`: the last chunk here, the others on threads
    /// of their own.
    fn on_chunks<P, F>(&self, e: &mut [Real], parts: impl Iterator<Item = P>, work: &F)
    where
        P: Send,
        F: Fn(Range<usize>, &mut [Real], P) + Sync,
    {
        std::thread::scope(|scope| {
            let mut rest = e;
            let last = self.user_chunks.len() - 1;
            for (c, (rows, part)) in self.user_chunks.iter().zip(parts).enumerate() {
                let n = self.by_user[rows.end] - self.by_user[rows.start];
                let (mine, tail) = std::mem::take(&mut rest).split_at_mut(n);
                rest = tail;
                if c == last {
                    work(rows.clone(), mine, part);
                } else {
                    scope.spawn(move || work(rows.clone(), mine, part));
                }
            }
        });
    }
}

/// `threads` contiguous ranges of rows with about equal entries each.
fn chunks(offsets: &[usize], threads: usize) -> Vec<Range<usize>> {
    let n_rows = offsets.len() - 1;
    let total = offsets[n_rows];
    let threads = threads.max(1);
    let mut out = Vec::with_capacity(threads);
    let mut start = 0;
    for t in 1..=threads {
        let goal = total * t / threads;
        let end = if t == threads {
            n_rows
        } else {
            start
                + offsets[start..]
                    .partition_point(|&o| o < goal)
                    .min(n_rows - start)
        };
        out.push(start..end);
        start = end;
    }
    out
}
