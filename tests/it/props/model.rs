//! The model-file opener on a small valid file mutated, its checksum (and
//! mostly its length field) recomputed so that the structure checks are
//! what meets the damage: it answers Ok or an error, never panics, and a
//! file it accepts can be read everywhere (every lookup, score and
//! recommendation) without a panic.

use std::io::Cursor;

use proptest::prelude::*;
use recd::model::format::Kind;
use recd::model::{write_model, Counts, Metadata, Model, ModelParts};
use recd::numeric::{Factors, Params, Scale};

use super::{apply, check, edits, said, Edit};

const HEADER_LEN: usize = 64;
const ENTRY_LEN: usize = 24;
const CHECKSUM_AT: usize = 24;
const LENGTH_AT: usize = 16;

/// Three users, four movies, three factors (stride 8).
fn valid_file() -> Vec<u8> {
    let (n_users, n_items, stride) = (3, 4, 8);
    let factors = Factors {
        n_factors: 3,
        stride,
        global_mean: 3.5,
        user_bias: vec![0.1, -0.2, 0.0],
        item_bias: vec![0.3, 0.0, -0.1, 0.2],
        user_factors: (0..n_users * stride)
            .map(|k| (k % 5) as f32 * 0.1)
            .collect(),
        item_factors: (0..n_items * stride)
            .map(|k| (k % 3) as f32 * 0.2)
            .collect(),
        implicit: None,
        spread: None,
    };
    let meta = Metadata {
        version: "20261124T101500Z-3fa2".into(),
        trained_at: "2026-11-24T10:15:00Z".into(),
        recd_version: "0.1.0".into(),
        params: Params::default(),
        metrics: None,
        holdout_fraction: 0.0,
        counts: Counts::default(),
        db_watermark: 0,
        erased_through: 0,
        dataset: "props".into(),
        training_seconds: 0.0,
        noise_std_dev: None,
    };
    let users = ["ml:1".to_owned(), "ml:2".into(), "app-x".into()];
    let titles = [
        "A (1995)".to_owned(),
        "B".into(),
        "".into(),
        "É (2001)".into(),
    ];
    let genres = [
        "Drama".to_owned(),
        "".into(),
        "Comedy|Drama".into(),
        "Horror".into(),
    ];
    let parts = ModelParts {
        meta: &meta,
        factors: &factors,
        scale: Scale { min: 1.0, max: 5.0 },
        user_ids: &users,
        movie_ids: &[1, 5, 9, 20],
        rated_offsets: &[0, 2, 3, 5],
        rated_items: &[0, 2, 1, 0, 3],
        item_counts: &[2, 1, 1, 1],
        item_means: &[4.0, 3.0, 2.0, 5.0],
        titles: &titles,
        genres: &genres,
    };
    let mut out = Cursor::new(Vec::new());
    write_model(&mut out, &parts).unwrap();
    out.into_inner()
}

/// A damage that knows the layout: a table entry's field, a word of a
/// section, the dimensions, the section count; or any byte edit.
#[derive(Debug, Clone)]
enum Damage {
    Entry {
        entry: usize,
        field: usize,
        value: u64,
    },
    Word {
        section: usize,
        word: usize,
        value: u32,
    },
    Dims {
        field: usize,
        value: u32,
    },
    Count(u32),
    Bytes(Vec<Edit>),
}

fn interesting_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        0..130u64,
        Just(u32::MAX as u64),
        Just(u64::MAX),
        Just(u64::MAX - 7),
        Just(1 << 32),
        Just(1 << 62),
        any::<u64>(),
    ]
}

fn interesting_u32() -> impl Strategy<Value = u32> {
    prop_oneof![
        0..20u32,
        Just(u32::MAX),
        Just(u32::MAX / 4 + 1),
        Just(1 << 31),
        Just(0x7fc0_0000), // a NaN, as f32
        Just(0x7f80_0000), // +inf
        any::<u32>(),
    ]
}

/// Weighted toward the structure: a damaged count or a byte edit that
/// shifts everything is refused early and tells less.
fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        4 => (0..20usize, 0..3usize, interesting_u64())
            .prop_map(|(entry, field, value)| Damage::Entry { entry, field, value }),
        4 => (0..16usize, any::<usize>(), interesting_u32())
            .prop_map(|(section, word, value)| Damage::Word { section, word, value }),
        2 => (0..8usize, interesting_u32()).prop_map(|(field, value)| Damage::Dims { field, value }),
        1 => interesting_u32().prop_map(Damage::Count),
        1 => edits(4).prop_map(Damage::Bytes),
    ]
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn put(b: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = b.get_mut(at..at + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

/// Where the section of `kind` is in the valid file.
fn section(b: &[u8], index: usize) -> Option<(usize, usize)> {
    let e = HEADER_LEN + index * ENTRY_LEN;
    Some((u64_at(b, e + 8)? as usize, u64_at(b, e + 16)? as usize))
}

fn damaged(mut b: Vec<u8>, damages: &[Damage], fix_length: bool) -> Vec<u8> {
    let dims = section(&b, Kind::Dims as usize - 1).unwrap().0;
    for d in damages {
        match d {
            Damage::Entry {
                entry,
                field,
                value,
            } => {
                let at = HEADER_LEN + entry * ENTRY_LEN + [0, 8, 16][*field];
                match field {
                    0 => put(&mut b, at, &(*value as u32).to_le_bytes()),
                    _ => put(&mut b, at, &value.to_le_bytes()),
                }
            }
            Damage::Word {
                section: s,
                word,
                value,
            } => {
                if let Some((off, len)) = section(&b, *s).filter(|(_, len)| *len >= 4) {
                    put(&mut b, off + (word % (len / 4)) * 4, &value.to_le_bytes());
                }
            }
            Damage::Dims { field, value } => put(&mut b, dims + field * 4, &value.to_le_bytes()),
            Damage::Count(n) => put(&mut b, 12, &n.to_le_bytes()),
            Damage::Bytes(e) => b = apply(b, e),
        }
    }
    if fix_length {
        let len = b.len() as u64;
        put(&mut b, LENGTH_AT, &len.to_le_bytes());
    }
    if b.len() >= CHECKSUM_AT + 4 {
        put(&mut b, CHECKSUM_AT, &[0; 4]);
        let crc = crc32fast::hash(&b);
        put(&mut b, CHECKSUM_AT, &crc.to_le_bytes());
    }
    b
}

/// Everything a reader can ask of an accepted model.
fn read_everywhere(m: &Model) {
    let (nu, ni) = (m.n_users() as u32, m.n_items() as u32);
    let _ = m.dataset_users();
    let norms = m.item_norms();
    for u in 0..nu {
        let id = m.user_id(u).to_owned();
        let _ = m.user_index(&id);
        let _ = (m.user_factors(u), m.user_bias(u), m.rated_items(u));
        let _ = m.recommend(None, u, 3, m.rated_items(u));
        for i in 0..ni {
            let _ = m.predict(Some(u), Some(i));
        }
    }
    for i in 0..ni {
        let _ = m.item_index(m.movie_id(i));
        let _ = (m.title(i), m.genres(i), m.item_count(i), m.item_mean(i));
        let _ = (m.item_factors(i), m.item_bias(i));
        let _ = m.similar(None, i, 3, &norms);
    }
    let _ = m.predict(None, None);
    let _ = m.user_index("nobody");
    let _ = m.item_index(u32::MAX);
}

#[test]
fn props_model_opener() {
    let valid = valid_file();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.recd");
    std::fs::write(&path, &valid).unwrap();
    read_everywhere(&Model::open(&path).expect("the valid file opens"));
    check(
        "model opener",
        (
            proptest::collection::vec(damage(), 1..4),
            prop::bool::weighted(0.9),
        ),
        |(damages, fix_length)| {
            std::fs::write(&path, damaged(valid.clone(), &damages, fix_length)).unwrap();
            match Model::open(&path) {
                Ok(m) => read_everywhere(&m),
                Err(e) => said("Model::open", e.to_string())?,
            }
            Ok(())
        },
    );
}
