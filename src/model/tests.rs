//! Model file round trip and corruption tests, and a tiny-model fixture.

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use super::format::{ModelError, FORMAT_VERSION};
use super::{Counts, Metadata, Model};
use crate::numeric::{Metrics, Params, Scale};
use crate::train::dataset::{Dataset, Format, Interner, Movie, Ratings};
use crate::train::export::Tables;
use crate::train::sgd;

/// A small dataset: 3 users (ids 10, 20, 30), 4 movies (ids 7, 3, 11, 5).
pub(crate) fn tiny_dataset() -> Dataset {
    let mut users = Interner::default();
    let mut movies = Interner::default();
    let mut ratings = Ratings::default();
    for (u, m, r) in [
        (10, 7, 5.0),
        (10, 3, 3.0),
        (20, 7, 4.0),
        (20, 11, 1.0),
        (30, 5, 2.0),
        (30, 3, 4.0),
        (10, 11, 2.0),
    ] {
        ratings.push(users.intern(u), movies.intern(m), r);
    }
    let catalogue: HashMap<u32, Movie> = [
        (7, "Seven (1995)"),
        (3, "Misérables, Les (1995)"),
        (11, "Eleven"),
    ]
    .into_iter()
    .map(|(id, t)| {
        (
            id,
            Movie {
                title: t.into(),
                genres: "Drama".into(),
            },
        )
    })
    .collect();
    Dataset {
        dir: "tiny".into(),
        format: Format::Dat,
        users,
        movies,
        ratings,
        catalogue,
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
        dataset: "tiny".into(),
        training_seconds: 0.0,
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
    train_and_write(&tiny_dataset(), &tiny_meta(version, rmse), out)
}

/// Train on all of `d` with `meta`'s parameters and write the model.
fn train_and_write(
    d: &Dataset,
    meta: &Metadata,
    out: &mut (impl std::io::Write + std::io::Seek),
) -> std::io::Result<u64> {
    let f = sgd::train(
        d.train_data(),
        &meta.params,
        &AtomicBool::new(false),
        &mut |_| {},
    )
    .unwrap();
    Tables::build(d, &d.ratings).write(out, meta, &f, Scale::of(&d.ratings.values))
}

/// A model trained on `users`, each a list of the item indices they rated
/// (movie ids are index + 1); users alternate between rating 5 and 1.
pub(crate) fn model_with_ratings(n_items: u32, users: &[Vec<u32>]) -> Model {
    let mut user_ids = Interner::default();
    let mut movies = Interner::default();
    for i in 0..n_items {
        movies.intern(i + 1);
    }
    let mut ratings = Ratings::default();
    for (u, items) in users.iter().enumerate() {
        let r = if u % 2 == 0 { 5.0 } else { 1.0 };
        let ui = user_ids.intern(u as u32 + 1);
        for &i in items {
            ratings.push(ui, movies.intern(i + 1), r);
        }
    }
    let d = Dataset {
        dir: "synthetic".into(),
        format: Format::Dat,
        users: user_ids,
        movies,
        ratings,
        catalogue: HashMap::new(),
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.recd");
    let mut out = fs::File::create(&path).unwrap();
    train_and_write(&d, &tiny_meta("v", 1.0), &mut out).unwrap();
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
fn fix_checksum(bytes: &mut [u8]) {
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
fn the_same_training_writes_the_same_bytes() {
    let (mut a, mut b) = (
        std::io::Cursor::new(Vec::new()),
        std::io::Cursor::new(Vec::new()),
    );
    write_tiny(&mut a, "v", 1.0).unwrap();
    write_tiny(&mut b, "v", 1.0).unwrap();
    assert_eq!(a.into_inner(), b.into_inner());
}

fn open_err(bytes: &[u8]) -> ModelError {
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

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let e = Model::open(Path::new("/nonexistent/model.recd"))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("/nonexistent/model.recd: "), "{e}");
}
