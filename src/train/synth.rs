//! Synthetic MovieLens-format datasets for scale tests.
//!
//! Shapes real ratings have: item popularity falls off like a shifted Zipf
//! law, user activity is log-normal with a floor (MovieLens keeps users with
//! 20 or more ratings), and the ratings come from a low-rank model (biases
//! plus 8 latent factors) with Gaussian noise, rounded to whole stars. Every
//! user's ratings come from a generator seeded by (seed, user), so the output
//! is the same for a seed whatever the thread count.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::rng::{mix64, Rng};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub users: u32,
    pub items: u32,
    pub ratings: u64,
    pub seed: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("{what}")]
    Shape { what: String },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

const LATENT: usize = 8;
const MIN_PER_USER: u64 = 20;
const GENRES: [&str; 8] = [
    "Action",
    "Comedy",
    "Drama",
    "Horror",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "Animation",
];

/// The hidden model the ratings are drawn from.
struct Truth {
    item_bias: Vec<f32>,
    item_factors: Vec<[f32; LATENT]>,
    alias: Alias,
}

impl Shape {
    fn validate(&self) -> Result<(), SynthError> {
        let bad = |what: String| Err(SynthError::Shape { what });
        if self.users == 0 || self.items == 0 || self.ratings == 0 {
            return bad("--users, --items and --ratings must all be positive".into());
        }
        let most = u64::from(self.users) * (u64::from(self.items) * 4 / 5).max(1);
        if self.ratings > most {
            return bad(format!(
                "{} ratings do not fit {} users x {} items (at most 80% of the matrix: {most})",
                self.ratings, self.users, self.items
            ));
        }
        Ok(())
    }

    /// Ratings per user: log-normal activity with a floor, summing to
    /// exactly `ratings` and capped at 80% of the catalogue.
    fn activity(&self) -> Vec<u32> {
        let mut rng = Rng::new(self.seed ^ 0xA11CE);
        let n = self.users as usize;
        let cap = (u64::from(self.items) * 4 / 5).max(1);
        let floor = MIN_PER_USER
            .min(self.ratings / u64::from(self.users))
            .min(cap);
        let weights: Vec<f64> = (0..n).map(|_| (1.1 * rng.normal()).exp()).collect();
        let total_w: f64 = weights.iter().sum();
        let spare = self.ratings - floor * u64::from(self.users);
        let mut counts: Vec<u64> = weights
            .iter()
            .map(|w| (floor + (spare as f64 * w / total_w) as u64).min(cap))
            .collect();
        // Hand out what rounding and the cap left over, one at a time.
        let mut left = self.ratings - counts.iter().sum::<u64>();
        let mut u = 0;
        while left > 0 {
            if counts[u] < cap {
                counts[u] += 1;
                left -= 1;
            }
            u = (u + 1) % n;
        }
        counts.into_iter().map(|c| c as u32).collect()
    }

    fn truth(&self) -> Truth {
        let mut rng = Rng::new(self.seed ^ 0x17E35);
        let m = self.items as usize;
        // Popularity rank is a random permutation of the ids.
        let mut rank: Vec<u32> = (0..self.items).collect();
        rng.shuffle(&mut rank);
        let weights: Vec<f64> = rank.iter().map(|&r| 1.0 / (f64::from(r) + 20.0)).collect();
        let scale = 1.0 / (LATENT as f64).sqrt();
        let item_factors = (0..m)
            .map(|_| std::array::from_fn(|_| (rng.normal() * scale) as f32))
            .collect();
        // Popular items are rated a little higher, as in MovieLens.
        let item_bias = rank
            .iter()
            .map(|&r| (0.4 * rng.normal() + 0.25 - 0.5 * f64::from(r) / m as f64) as f32)
            .collect();
        Truth {
            item_bias,
            item_factors,
            alias: Alias::new(&weights),
        }
    }
}

/// Write `ratings.dat`, `movies.dat` and `users.dat` into `out`.
pub fn generate(shape: &Shape, out: &Path, threads: usize) -> Result<(), SynthError> {
    shape.validate()?;
    let io_err = |path: &Path| {
        let path = path.to_owned();
        move |source| SynthError::Io { path, source }
    };
    std::fs::create_dir_all(out).map_err(io_err(out))?;
    let truth = shape.truth();
    let counts = shape.activity();

    let movies = out.join("movies.dat");
    write_lines(
        &movies,
        (1..=shape.items).map(|id| {
            let f = &truth.item_factors[id as usize - 1];
            let top = (0..LATENT)
                .max_by(|&a, &b| f[a].total_cmp(&f[b]))
                .unwrap_or(0);
            let second = (0..LATENT)
                .filter(|&k| k != top)
                .max_by(|&a, &b| f[a].total_cmp(&f[b]))
                .unwrap_or(0);
            format!(
                "{id}::Synthetic Movie {id} ({})::{}|{}\n",
                1950 + id % 70,
                GENRES[top],
                GENRES[second]
            )
        }),
    )
    .map_err(io_err(&movies))?;
    let users = out.join("users.dat");
    write_lines(
        &users,
        (1..=shape.users).map(|id| {
            format!(
                "{id}::{}::{}::{}::{:05}\n",
                if id % 3 == 0 { 'F' } else { 'M' },
                [1, 18, 25, 35, 45, 50, 56][id as usize % 7],
                id % 21,
                id % 99_999
            )
        }),
    )
    .map_err(io_err(&users))?;

    let ratings = out.join("ratings.dat");
    let file = File::create(&ratings).map_err(io_err(&ratings))?;
    let mut w = BufWriter::with_capacity(1 << 22, file);
    // Users go out in batches, each batch split across the threads, so
    // memory stays bounded for any shape.
    let threads = threads.max(1);
    let batch = 4096 * threads;
    for start in (0..shape.users as usize).step_by(batch) {
        let end = (start + batch).min(shape.users as usize);
        let per = (end - start).div_ceil(threads);
        let chunks: Vec<Vec<u8>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (start..end)
                .step_by(per)
                .map(|a| {
                    let (truth, counts) = (&truth, &counts);
                    scope.spawn(move || user_lines(shape, truth, counts, a, (a + per).min(end)))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        for c in chunks {
            w.write_all(&c).map_err(io_err(&ratings))?;
        }
    }
    w.flush().map_err(io_err(&ratings))
}

fn write_lines(path: &Path, lines: impl Iterator<Item = String>) -> io::Result<()> {
    let mut w = BufWriter::new(File::create(path)?);
    for l in lines {
        w.write_all(l.as_bytes())?;
    }
    w.flush()
}

/// The ratings lines of users `a..b` (0-based).
fn user_lines(shape: &Shape, truth: &Truth, counts: &[u32], a: usize, b: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(counts[a..b].iter().map(|&c| c as usize * 24).sum());
    let mut stamp = vec![u32::MAX; shape.items as usize];
    for (u, &count) in counts.iter().enumerate().take(b).skip(a) {
        let mut rng = Rng::new(mix64(shape.seed ^ mix64(u as u64 + 1)));
        let bias = 0.35 * rng.normal();
        let p: [f64; LATENT] = std::array::from_fn(|_| rng.normal() * 1.3 / (LATENT as f64).sqrt());
        let mut t = 956_703_932 + rng.below(60_000_000) as i64;
        let mut picked = 0;
        while picked < count {
            let i = truth.alias.sample(&mut rng);
            if stamp[i] == u as u32 {
                continue;
            }
            stamp[i] = u as u32;
            picked += 1;
            let f = &truth.item_factors[i];
            let dot: f64 = (0..LATENT).map(|k| p[k] * f64::from(f[k])).sum();
            let r = 3.58 + bias + f64::from(truth.item_bias[i]) + dot + 0.75 * rng.normal();
            let r = r.round().clamp(1.0, 5.0) as u32;
            t += rng.below(4000) as i64;
            let _ = writeln!(out, "{}::{}::{}::{}", u + 1, i + 1, r, t);
        }
    }
    out
}

/// Walker's alias method: O(1) weighted sampling.
struct Alias {
    prob: Vec<f64>,
    alias: Vec<u32>,
}

impl Alias {
    fn new(weights: &[f64]) -> Alias {
        let n = weights.len();
        let total: f64 = weights.iter().sum();
        let mut prob: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        let mut alias = vec![0u32; n];
        let (mut small, mut large): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| prob[i] < 1.0);
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            alias[s] = l as u32;
            prob[l] -= 1.0 - prob[s];
            if prob[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        for i in large.into_iter().chain(small) {
            prob[i] = 1.0;
        }
        Alias { prob, alias }
    }

    fn sample(&self, rng: &mut Rng) -> usize {
        let i = rng.below(self.prob.len() as u64) as usize;
        if rng.next_f64() < self.prob[i] {
            i
        } else {
            self.alias[i] as usize
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::dataset::Dataset;

    #[test]
    fn exact_counts_skew_and_determinism() {
        let shape = Shape {
            users: 300,
            items: 200,
            ratings: 20_000,
            seed: 5,
        };
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        generate(&shape, a.path(), 3).unwrap();
        generate(&shape, b.path(), 1).unwrap();
        let ra = std::fs::read(a.path().join("ratings.dat")).unwrap();
        assert_eq!(ra, std::fs::read(b.path().join("ratings.dat")).unwrap());

        let d = Dataset::load(a.path()).unwrap();
        assert_eq!(d.ratings.len(), 20_000);
        assert_eq!(d.users.len(), 300);
        assert_eq!(d.catalogue.len(), 200);
        let mut per_item = vec![0u32; 200];
        for &i in &d.ratings.items {
            per_item[i as usize] += 1;
        }
        per_item.sort_unstable();
        let (least, most) = (per_item[0], per_item[199]);
        assert!(
            most > 4 * least.max(1),
            "popularity is skewed: {least}..{most}"
        );
        let mean = d.ratings.values.iter().sum::<f32>() / 20_000.0;
        assert!((3.0..4.2).contains(&mean), "{mean}");
    }

    #[test]
    fn impossible_shapes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = generate(
            &Shape {
                users: 10,
                items: 10,
                ratings: 100,
                seed: 1,
            },
            dir.path(),
            1,
        );
        assert!(e.unwrap_err().to_string().contains("do not fit"));
        let e = generate(
            &Shape {
                users: 0,
                items: 10,
                ratings: 1,
                seed: 1,
            },
            dir.path(),
            1,
        );
        assert!(e.unwrap_err().to_string().contains("must all be positive"));
    }
}
