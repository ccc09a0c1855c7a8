//! Fits on a train/test split, timed and scored the same way for every
//! system: recd in process, LIBMF through the `libmf` crate, and python3
//! scripts beside the benches (Surprise, myFM) as processes.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use recd::numeric::{Factors, Params, Scale};
use recd::train::eval;

use super::{median, Split};

/// LIBMF's rank in every comparison: recd's default.
pub const LIBMF_FACTORS: i32 = 100;
/// LIBMF's iterations where one setting is compared.
pub const LIBMF_ITERATIONS: i32 = 20;
pub const LIBMF_LAMBDA: f32 = 0.05;

/// LIBMF's threads: as many as recd's default trains with.
pub fn libmf_threads() -> usize {
    Params::default().effective_threads()
}

/// LIBMF's settings at `iterations`, as the tables give them.
pub fn libmf_settings(iterations: i32) -> String {
    format!(
        "{LIBMF_FACTORS} factors, {iterations} iterations, {} threads, lambda {LIBMF_LAMBDA}",
        libmf_threads()
    )
}

/// Surprise's SVD defaults, as recd's parameters: its rank, epochs,
/// learning rate, regularisation and initial spread.
pub fn surprise_defaults() -> Params {
    Params {
        n_factors: 100,
        n_epochs: 20,
        lr_all: 0.005,
        reg_all: 0.02,
        init_std_dev: 0.1,
        ..Params::default()
    }
}

/// `surprise_fit.py`'s arguments after RUNS for `p`: rank, epochs, learning
/// rate, regularisation.
pub fn surprise_args(p: &Params) -> [String; 4] {
    [
        p.n_factors.to_string(),
        p.n_epochs.to_string(),
        p.lr_all.to_string(),
        p.reg_all.to_string(),
    ]
}

/// The fits of one system and setting, and the last one's scores.
#[derive(Default)]
pub struct Row {
    pub fits: Vec<f64>,
    pub rmse: f64,
    pub mae: f64,
    pub updates: f64,
}

impl Row {
    /// The median fit, in seconds.
    pub fn fit(&mut self) -> f64 {
        median(&mut self.fits)
    }

    /// Print a table row (system, settings, fit s, RMSE, MAE, M updates/s);
    /// the median fit.
    pub fn print(&mut self, name: &str, settings: &str) -> f64 {
        let fit = self.fit();
        println!(
            "| {name} | {settings} | {fit:.3} | {:.4} | {:.4} | {:.1} |",
            self.rmse,
            self.mae,
            self.updates / fit / 1e6
        );
        fit
    }
}

/// Fit recd with `params` on the split's train set, add the fit's time to
/// `row` and score it on the test set.
pub fn recd(split: &mut Split, params: &Params, row: &mut Row) -> Factors {
    let t = &mut split.train;
    let start = Instant::now();
    let f = recd::train::fit(t.train_data(), params, &AtomicBool::new(false), &mut |_| {})
        .expect("not cancelled");
    row.fits.push(start.elapsed().as_secs_f64());
    let m = eval::score(&f, Scale::of(&t.ratings.values), &split.test);
    (row.rmse, row.mae) = (m.rmse, m.mae);
    row.updates = (t.ratings.len() * params.n_epochs) as f64;
    f
}

/// LIBMF ([`libmf_fit`]), likewise.
pub fn libmf(split: &Split, iterations: i32, row: &mut Row) {
    let t = &split.train;
    let mut m = libmf::Matrix::with_capacity(t.ratings.len());
    for k in 0..t.ratings.len() {
        m.push(
            t.ratings.users[k] as i32,
            t.ratings.items[k] as i32,
            t.ratings.values[k],
        );
    }
    let start = Instant::now();
    let model = libmf_fit(&m, iterations);
    row.fits.push(start.elapsed().as_secs_f64());
    let (mut se, mut ae) = (0f64, 0f64);
    let scale = Scale::of(&t.ratings.values);
    for k in 0..split.test.len() {
        let (u, i) = (split.test.users[k], split.test.items[k]);
        // LIBMF predicts its global average for a row or column it has not seen.
        let p = scale.clip(model.predict(u as i32, i as i32));
        let err = f64::from(split.test.values[k] - p);
        se += err * err;
        ae += err.abs();
    }
    let n = split.test.len() as f64;
    (row.rmse, row.mae) = ((se / n).sqrt(), ae / n);
    row.updates = (t.ratings.len() * iterations as usize) as f64;
}

/// LIBMF's fit of `m` at [`libmf_settings`].
pub fn libmf_fit(m: &libmf::Matrix, iterations: i32) -> libmf::Model {
    libmf::Model::params()
        .factors(LIBMF_FACTORS)
        .iterations(iterations)
        .threads(libmf_threads() as i32)
        .lambda_p2(LIBMF_LAMBDA)
        .lambda_q2(LIBMF_LAMBDA)
        .quiet(true)
        .fit(m)
        .expect("libmf fits")
}

/// A fit by a python3 script beside the benches, `passes` over the ratings
/// a run; None, having said why, when python3 or its library is missing.
pub fn python(split: &Split, script: &str, args: &[String], passes: usize) -> Option<Row> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("benches")
        .join(script);
    let out = Command::new("python3")
        .arg(&script)
        .arg(&split.train_path)
        .arg(&split.test_path)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "{} not measured: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
        return None;
    }
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    Some(Row {
        fits: j["fit_seconds"]
            .as_array()?
            .iter()
            .filter_map(|v| v.as_f64())
            .collect(),
        rmse: j["rmse"].as_f64()?,
        mae: j["mae"].as_f64()?,
        updates: (split.train.ratings.len() * passes) as f64,
    })
}
