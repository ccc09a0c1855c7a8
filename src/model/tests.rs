//! Model file round trip and corruption tests, and small-model fixtures.
//!
//! The fixtures write model files from hand-made parts (seeded random
//! factors), not from training: the model's tests stand on the layers below
//! it. Training and writing together are tested in `train`.

use std::fs;
use std::path::Path;

use super::format::{Kind, ModelError, FORMAT_VERSION};
use super::{write_model, Counts, Metadata, Model, ModelParts};
use crate::numeric::{stride_for, Factors, Metrics, Params, Scale};
use crate::rng::Rng;

/// Ratings by dense index, and what the model file says of each index.
struct Ratings<'a> {
    /// External user id of each user index.
    user_ids: Vec<String>,
    /// Movie id of each item index.
    movie_ids: Vec<u32>,
    /// (user index, item index, rating).
    ratings: Vec<(u32, u32, f32)>,
    /// (movie id, title); every titled movie is a drama.
    titles: &'a [(u32, &'a str)],
}

/// Write a model of `r`, with seeded random factors of `meta`'s shape;
/// with `posterior`, a `bayes_svdpp` model's implicit part and spread too.
fn write_ratings(
    r: &Ratings<'_>,
    meta: &Metadata,
    out: &mut (impl std::io::Write + std::io::Seek),
    posterior: bool,
) -> std::io::Result<u64> {
    let (n_users, n_items) = (r.user_ids.len(), r.movie_ids.len());
    let mut rated: Vec<Vec<u32>> = vec![Vec::new(); n_users];
    let mut item_counts = vec![0u32; n_items];
    let mut sums = vec![0f64; n_items];
    for &(u, i, v) in &r.ratings {
        rated[u as usize].push(i);
        item_counts[i as usize] += 1;
        sums[i as usize] += f64::from(v);
    }
    let mut rated_offsets = vec![0u64];
    let mut rated_items = Vec::new();
    for mut items in rated {
        items.sort_unstable();
        items.dedup();
        rated_items.extend(items);
        rated_offsets.push(rated_items.len() as u64);
    }
    let item_means: Vec<f32> = sums
        .iter()
        .zip(&item_counts)
        .map(|(&s, &c)| {
            if c == 0 {
                0.0
            } else {
                (s / f64::from(c)) as f32
            }
        })
        .collect();
    let title = |id: &u32| r.titles.iter().find(|(t, _)| t == id).map(|(_, t)| *t);
    let titles: Vec<String> = r
        .movie_ids
        .iter()
        .map(|id| title(id).unwrap_or_default().to_owned())
        .collect();
    let genres: Vec<String> = r
        .movie_ids
        .iter()
        .map(|id| title(id).map_or("", |_| "Drama").to_owned())
        .collect();
    let values: Vec<f32> = r.ratings.iter().map(|&(_, _, v)| v).collect();
    let n_factors = meta.params.n_factors;
    let stride = stride_for(n_factors);
    let rng = &mut Rng::new(meta.params.seed);
    let mut factors = Factors {
        n_factors,
        stride,
        global_mean: (values.iter().map(|&v| f64::from(v)).sum::<f64>() / values.len() as f64)
            as f32,
        user_bias: random_rows(rng, n_users, 1, 1),
        item_bias: random_rows(rng, n_items, 1, 1),
        user_factors: random_rows(rng, n_users, n_factors, stride),
        item_factors: random_rows(rng, n_items, n_factors, stride),
        implicit: None,
        spread: None,
    };
    let mut meta = meta.clone();
    if posterior {
        add_posterior(&mut factors, &rated_offsets, &rated_items, rng);
        meta.noise_std_dev = factors.noise_std_dev();
    }
    let parts = ModelParts {
        meta: &meta,
        factors: &factors,
        scale: Scale::of(&values),
        user_ids: &r.user_ids,
        movie_ids: &r.movie_ids,
        rated_offsets: &rated_offsets,
        rated_items: &rated_items,
        item_counts: &item_counts,
        item_means: &item_means,
        titles: &titles,
        genres: &genres,
    };
    write_model(out, &parts)
}

/// Random implicit parts, with every user's vector and bias made of them
/// by the definitions (their implicit set: the items they rated), and a
/// random spread.
fn add_posterior(f: &mut Factors, offsets: &[u64], items: &[u32], rng: &mut Rng) {
    use crate::numeric::{Implicit, ImplicitSums, Spread};
    let (nu, ni, k, stride) = (f.n_users(), f.n_items(), f.n_factors, f.stride);
    let y = random_rows(rng, ni, k, stride);
    let w = random_rows(rng, ni, 1, 1);
    let v = random_rows(rng, nu, k, stride);
    let mut sums = Vec::with_capacity(nu);
    for u in 0..nu {
        let set = &items[offsets[u] as usize..offsets[u + 1] as usize];
        let s = if set.is_empty() {
            0.0
        } else {
            1.0 / (set.len() as f32).sqrt()
        };
        let own = &v[u * stride..(u + 1) * stride];
        let mut a = own.to_vec();
        let (mut ws, mut ys) = (0f32, 0f32);
        for &j in set {
            ws += w[j as usize];
            for (a, &x) in a.iter_mut().zip(&y[j as usize * stride..]) {
                *a += s * x;
                ys += x * x;
            }
        }
        let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>();
        f.user_bias[u] += s * ws + 0.5 * (norm(&a) - norm(own) - s * s * ys);
        f.user_factors[u * stride..(u + 1) * stride].copy_from_slice(&a);
        sums.push(ImplicitSums {
            count: set.len() as u32,
            weights: ws,
            squares: ys,
            reserved: 0,
        });
    }
    let mut spread = |n, width| -> Vec<f32> {
        random_rows(rng, n, width, if width == 1 { 1 } else { stride })
            .into_iter()
            .map(f32::abs)
            .collect()
    };
    f.spread = Some(Spread {
        user_bias: spread(nu, 1),
        item_bias: spread(ni, 1),
        user_factors: spread(nu, k),
        item_factors: spread(ni, k),
        user_own_bias: spread(nu, 1),
        user_own_factors: spread(nu, k),
        noise_std_dev: 0.9,
    });
    f.implicit = Some(Implicit {
        item_factors: y,
        item_weights: w,
        user_factors: v,
        user_sums: sums,
    });
}

/// `n` rows of `width` normal values (sd 0.1), each padded with zeros to
/// `stride`.
fn random_rows(rng: &mut Rng, n: usize, width: usize, stride: usize) -> Vec<f32> {
    let mut v = vec![0f32; n * stride];
    for row in v.chunks_exact_mut(stride) {
        for x in &mut row[..width] {
            *x = (rng.normal() * 0.1) as f32;
        }
    }
    v
}

/// Users 10, 20, 30 (`ml:10`...) and movies 7, 3, 11, 5 (5 has no title).
fn tiny_ratings() -> Ratings<'static> {
    let (users, movies) = ([10, 20, 30], [7, 3, 11, 5]);
    let index = |ids: &[u32], id| ids.iter().position(|&x| x == id).unwrap() as u32;
    Ratings {
        user_ids: users.iter().map(|id| format!("ml:{id}")).collect(),
        movie_ids: movies.to_vec(),
        ratings: [
            (10, 7, 5.0),
            (10, 3, 3.0),
            (20, 7, 4.0),
            (20, 11, 1.0),
            (30, 5, 2.0),
            (30, 3, 4.0),
            (10, 11, 2.0),
        ]
        .into_iter()
        .map(|(u, m, r)| (index(&users, u), index(&movies, m), r))
        .collect(),
        titles: &[
            (7, "Seven (1995)"),
            (3, "Misérables, Les (1995)"),
            (11, "Eleven"),
        ],
    }
}

pub(crate) fn tiny_meta(version: &str, rmse: f64) -> Metadata {
    Metadata {
        version: version.into(),
        trained_at: "2026-11-24T10:00:00Z".into(),
        recd_version: "test".into(),
        params: Params {
            n_factors: 5,
            n_epochs: 3,
            threads: 1,
            ..Params::default()
        },
        metrics: Some(Metrics {
            rmse,
            mae: rmse * 0.8,
        }),
        holdout_fraction: 0.1,
        counts: Counts {
            ratings: 7,
            train_ratings: 7,
            users: 3,
            items: 4,
            ..Counts::default()
        },
        db_watermark: 0,
        erased_through: 0,
        dataset: "tiny".into(),
        training_seconds: 0.0,
        noise_std_dev: None,
    }
}

/// Write a tiny but complete model file for `version` at `path`.
pub(crate) fn write_tiny_model(path: &Path, version: &str, rmse: f64) {
    let mut out = fs::File::create(path).unwrap();
    write_tiny(&mut out, version, rmse).unwrap();
}

pub(crate) fn write_tiny(
    out: &mut (impl std::io::Write + std::io::Seek),
    version: &str,
    rmse: f64,
) -> std::io::Result<u64> {
    write_ratings(&tiny_ratings(), &tiny_meta(version, rmse), out, false)
}

/// The tiny model as a `bayes_svdpp` model would write it: with the
/// implicit part and the spread.
pub(crate) fn write_tiny_bayes(path: &Path) {
    let mut out = fs::File::create(path).unwrap();
    write_ratings(&tiny_ratings(), &tiny_meta("v", 1.0), &mut out, true).unwrap();
}

/// A model of `users`, each a list of the item indices they rated (movie
/// ids are index + 1); users alternate between rating 5 and 1.
pub(crate) fn model_with_ratings(n_items: u32, users: &[Vec<u32>]) -> Model {
    model_of(n_items, users, false)
}

/// [`model_with_ratings`] as a `bayes_svdpp` model.
pub(crate) fn bayes_model_with_ratings(n_items: u32, users: &[Vec<u32>]) -> Model {
    model_of(n_items, users, true)
}

fn model_of(n_items: u32, users: &[Vec<u32>], posterior: bool) -> Model {
    let r = Ratings {
        user_ids: (1..=users.len()).map(|id| format!("ml:{id}")).collect(),
        movie_ids: (1..=n_items).collect(),
        ratings: users
            .iter()
            .enumerate()
            .flat_map(|(u, items)| {
                let r = if u % 2 == 0 { 5.0 } else { 1.0 };
                items.iter().map(move |&i| (u as u32, i, r))
            })
            .collect(),
        titles: &[],
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.recd");
    let mut out = fs::File::create(&path).unwrap();
    write_ratings(&r, &tiny_meta("v", 1.0), &mut out, posterior).unwrap();
    // The mapping outlives the file's name.
    Model::open(&path).unwrap()
}
fn tiny_file() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.recd");
    write_tiny_model(&path, "v1", 0.9);
    (dir, path)
}

/// Rewrite the checksum after editing a file, as a forger (or a bug) would.
pub(crate) fn fix_checksum(bytes: &mut [u8]) {
    bytes[24..28].fill(0);
    let crc = crc32fast::hash(bytes);
    bytes[24..28].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn round_trip_keeps_every_table() {
    let (_dir, path) = tiny_file();
    let m = Model::open(&path).unwrap();
    assert_eq!(m.metadata(), &tiny_meta("v1", 0.9));
    assert_eq!((m.n_users(), m.n_items(), m.n_factors()), (3, 4, 5));
    let u20 = m.user_index("ml:20").unwrap();
    assert_eq!(m.user_id(u20), "ml:20");
    assert_eq!(m.user_index("ml:21"), None);
    let i7 = m.item_index(7).unwrap();
    let i11 = m.item_index(11).unwrap();
    assert_eq!(m.movie_id(i7), 7);
    assert_eq!(m.item_index(8), None);
    assert_eq!(m.title(m.item_index(3).unwrap()), "Misérables, Les (1995)");
    assert_eq!(m.title(m.item_index(5).unwrap()), "");
    assert_eq!(m.genres(i7), "Drama");
    let mut rated = vec![i7, i11];
    rated.sort_unstable();
    assert_eq!(m.rated_items(u20), rated.as_slice());
    assert_eq!(m.item_count(i7), 2);
    assert_eq!(m.item_mean(i7), 4.5);
    assert_eq!(m.scale(), Scale { min: 1.0, max: 5.0 });
    let p = m.predict(Some(u20), Some(i7));
    assert!((1.0..=5.0).contains(&p));
    assert_eq!(m.predict(None, None), m.global_mean());
    assert_eq!(m.user_factors(u20).len() % 8, 0);
}

#[test]
fn the_same_parts_write_the_same_bytes() {
    let (mut a, mut b) = (
        std::io::Cursor::new(Vec::new()),
        std::io::Cursor::new(Vec::new()),
    );
    write_tiny(&mut a, "v", 1.0).unwrap();
    write_tiny(&mut b, "v", 1.0).unwrap();
    assert_eq!(a.into_inner(), b.into_inner());
}

pub(crate) fn open_err(bytes: &[u8]) -> ModelError {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.recd");
    fs::write(&path, bytes).unwrap();
    Model::open(&path).unwrap_err()
}

#[test]
fn every_flipped_byte_is_caught() {
    let (_dir, path) = tiny_file();
    let good = fs::read(&path).unwrap();
    // Every byte of a small file: the header, the table and each section.
    for at in 0..good.len() {
        let mut bad = good.clone();
        bad[at] ^= 0x40;
        let e = open_err(&bad);
        assert!(
            matches!(
                e,
                ModelError::Checksum { .. }
                    | ModelError::Foreign { .. }
                    | ModelError::Truncated { .. }
                    | ModelError::NewerVersion { .. }
                    | ModelError::Invalid { .. }
            ),
            "byte {at}: {e}"
        );
    }
    let mut bad = good.clone();
    let mid = good.len() / 2;
    bad[mid] ^= 1;
    assert!(open_err(&bad).to_string().contains("checksum mismatch"));
}

#[test]
fn truncated_foreign_and_newer_files_say_which() {
    let (_dir, path) = tiny_file();
    let good = fs::read(&path).unwrap();
    for cut in [0, 5, 63, 64, 200, good.len() - 1] {
        // Any prefix of a model file, the empty one included, is a truncated model.
        let e = open_err(&good[..cut]).to_string();
        assert!(e.contains("truncated model file"), "cut at {cut}: {e}");
    }
    assert!(open_err(b"PK\x03\x04")
        .to_string()
        .contains("not a recd model file"));
    let e = open_err(
        b"{\"json\": \"not a model, but long enough to have a header of sixty four bytes\"}",
    )
    .to_string();
    assert!(
        e.contains("not a recd model file (wrong magic bytes)"),
        "{e}"
    );

    let mut newer = good.clone();
    newer[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    fix_checksum(&mut newer);
    let e = open_err(&newer).to_string();
    assert!(
        e.contains(&format!(
            "model format version {} is newer",
            FORMAT_VERSION + 1
        )),
        "{e}"
    );

    let mut longer = good.clone();
    longer.extend_from_slice(&[0; 64]);
    assert!(open_err(&longer)
        .to_string()
        .contains("but the header says"));
}

#[test]
fn structurally_bad_files_with_valid_checksums_are_refused() {
    let (_dir, path) = tiny_file();
    let good = fs::read(&path).unwrap();
    // Section 2 (Dims) offset pushed past the end of the file.
    let mut bad = good.clone();
    let entry = 64 + 24;
    bad[entry + 8..entry + 16].copy_from_slice(&(good.len() as u64 * 2).to_le_bytes());
    fix_checksum(&mut bad);
    assert!(open_err(&bad).to_string().contains("lies outside the file"));
    // A dimension that does not match its arrays.
    let mut bad = good.clone();
    let dims_at = u64::from_le_bytes(good[entry + 8..entry + 16].try_into().unwrap()) as usize;
    bad[dims_at..dims_at + 4].copy_from_slice(&1000u32.to_le_bytes());
    fix_checksum(&mut bad);
    let e = open_err(&bad).to_string();
    assert!(e.contains("corrupt model file: section UserBias"), "{e}");
    // A section count far too large.
    let mut bad = good.clone();
    bad[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    fix_checksum(&mut bad);
    assert!(open_err(&bad).to_string().contains("does not fit"));
}

/// A rated-items section whose length is not a whole number of items, in
/// a file whose checksum is right: refused, where it used to panic.
#[test]
fn a_rated_items_section_of_odd_length_is_refused_not_a_panic() {
    let (_dir, path) = tiny_file();
    let mut bad = fs::read(&path).unwrap();
    let count = u32::from_le_bytes(bad[12..16].try_into().unwrap()) as usize;
    let entry = (0..count)
        .map(|n| 64 + n * 24)
        .find(|&e| u32::from_le_bytes(bad[e..e + 4].try_into().unwrap()) == Kind::RatedItems as u32)
        .unwrap();
    let len = u64::from_le_bytes(bad[entry + 16..entry + 24].try_into().unwrap());
    assert!(len >= 4);
    bad[entry + 16..entry + 24].copy_from_slice(&(len - 2).to_le_bytes());
    fix_checksum(&mut bad);
    let e = open_err(&bad).to_string();
    assert!(e.contains("not a whole number of items"), "{e}");
}

/// Only regular files are opened: a device behind a symlink is not read
/// (it was, until memory ran out), and a FIFO does not block the opener.
#[test]
fn devices_and_fifos_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let zero = dir.path().join("zero.recd");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let e = Model::open(&zero).unwrap_err().to_string();
    assert!(e.contains("not a regular file (a character device)"), "{e}");
    let fifo = dir.path().join("fifo.recd");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let e = Model::open(&fifo).unwrap_err().to_string();
    assert!(e.contains("not a regular file (a FIFO)"), "{e}");
    let e = Model::open(dir.path()).unwrap_err().to_string();
    assert!(e.contains("not a regular file (a directory)"), "{e}");
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let e = Model::open(Path::new("/nonexistent/model.recd"))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("/nonexistent/model.recd: "), "{e}");
}
