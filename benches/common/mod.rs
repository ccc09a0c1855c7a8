//! What the benches share: where the data are, medians, and writing a model
//! file from trained factors.

#![allow(dead_code)]

pub mod fits;
pub mod run;
pub mod shapes;

use std::path::{Path, PathBuf};

use recd::model::{Counts, Metadata};
use recd::numeric::{Factors, Params, Scale};
use recd::train::dataset::{Dataset, Ratings};

/// `$RECD_DATASETS`, else `../shared/datasets` beside the checkout.
pub fn datasets_root() -> PathBuf {
    std::env::var_os("RECD_DATASETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets"))
}

/// A train file and a test file: the split90 set every figure is quoted on,
/// or a fold of ML-100K.
pub struct Split {
    pub train: Dataset,
    /// The test ratings, indexed by the train set's ids.
    pub test: Ratings,
    pub train_path: PathBuf,
    pub test_path: PathBuf,
}

impl Split {
    fn load(train_path: PathBuf, test_path: PathBuf) -> Split {
        let train = Dataset::load_ratings_file(&train_path).expect("train file loads");
        let raw = Dataset::load_ratings_file(&test_path).expect("test file loads");
        let test = train.reindex(&raw);
        Split {
            train,
            test,
            train_path,
            test_path,
        }
    }
}

/// The split90 set under [`datasets_root`]; None, having said SKIPPED,
/// when it is not there.
pub fn split90() -> Option<Split> {
    let root = datasets_root();
    let dir = root.join("ml-1m-part/split90");
    if !dir.is_dir() {
        println!(
            "SKIPPED: no split90 set under {} (set RECD_DATASETS)",
            root.display()
        );
        return None;
    }
    Some(Split::load(dir.join("train.dat"), dir.join("test.dat")))
}

/// ML-100K's five folds (`u1.base`/`u1.test` .. `u5`); None, having said
/// SKIPPED, when they are not there.
pub fn ml100k_folds() -> Option<Vec<Split>> {
    let dir = datasets_root().join("ml-100k");
    if !dir.join("u1.base").is_file() {
        println!("SKIPPED: no ML-100K folds under {}", dir.display());
        return None;
    }
    let fold = |k| {
        Split::load(
            dir.join(format!("u{k}.base")),
            dir.join(format!("u{k}.test")),
        )
    };
    Some((1..=5).map(fold).collect())
}

/// The value after `name` on the command line, if any.
pub fn value(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|p| args.get(p + 1))
        .cloned()
}

/// The value after `name` on the command line, else `default`.
pub fn option<T: std::str::FromStr>(name: &str, default: T) -> T {
    value(name).and_then(|v| v.parse().ok()).unwrap_or(default)
}

pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Write a model file at `path` for factors trained on all of `train`.
pub fn write_model(train: &Dataset, params: &Params, factors: &Factors, path: &Path) {
    let meta = Metadata {
        version: "bench".into(),
        trained_at: recd::clock::rfc3339(std::time::SystemTime::now()),
        recd_version: env!("CARGO_PKG_VERSION").into(),
        params: params.clone(),
        metrics: None,
        holdout_fraction: 0.0,
        counts: Counts::default(),
        db_watermark: 0,
        erased_through: 0,
        dataset: train.dir.display().to_string(),
        training_seconds: 0.0,
        noise_std_dev: factors.noise_std_dev(),
    };
    let tables = recd::train::export::Tables::build(train, &train.ratings);
    let mut file = std::fs::File::create(path).expect("create the model file");
    tables
        .write(&mut file, &meta, factors, Scale::of(&train.ratings.values))
        .expect("write the model file");
    file.sync_all().expect("sync the model file");
}
