//! Fold-in quality on the split90 set: 200 users of the train set are
//! hidden from training, folded in from their train ratings, and scored on
//! their test ratings; the same users trained in are the reference.
//!
//! `cargo bench --bench foldin [-- --users N]`; the data come from
//! `$RECD_DATASETS` (default `../shared/datasets`).

mod common;

use std::collections::HashSet;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use recd::model::Model;
use recd::numeric::Params;
use recd::train::dataset::{Dataset, Ratings};
use recd::train::sgd;

fn rmse(errors: &[f64]) -> f64 {
    (errors.iter().map(|e| e * e).sum::<f64>() / errors.len().max(1) as f64).sqrt()
}

fn main() {
    let hidden_n = common::option("--users", 200usize);
    let Some(common::Split { train, test, .. }) = common::split90() else {
        return;
    };
    let n_users = train.users.len();
    // Every (n / N)-th user index: spread over the set, the same every run.
    let step = (n_users / hidden_n).max(1);
    let hidden: HashSet<u32> = (0..n_users as u32).step_by(step).take(hidden_n).collect();
    let params = Params::default();
    let tmp = tempfile::tempdir().expect("temp dir");

    // Trained in: every train rating.
    let full = sgd::train(
        train.train_data(),
        &params,
        &AtomicBool::new(false),
        &mut |_| {},
    )
    .expect("not cancelled");
    let path_a = tmp.path().join("full.recd");
    common::write_model(&train, &params, &full, &path_a);
    let a = Model::open(&path_a).expect("opens");

    // Hidden: the same training without those users' ratings.
    let mut kept = Ratings::default();
    let mut theirs: Vec<Vec<(u32, f32)>> = vec![Vec::new(); n_users];
    let r = &train.ratings;
    for k in 0..r.len() {
        let (u, i, v) = (r.users[k], r.items[k], r.values[k]);
        if hidden.contains(&u) {
            theirs[u as usize].push((i, v));
        } else {
            kept.push(u, i, v);
        }
    }
    let data = sgd::TrainData {
        n_users,
        n_items: train.movies.len(),
        users: &kept.users,
        items: &kept.items,
        values: &kept.values,
    };
    let part =
        sgd::train(data, &params, &AtomicBool::new(false), &mut |_| {}).expect("not cancelled");
    let without = Dataset {
        ratings: kept,
        ..train.clone()
    };
    let path_b = tmp.path().join("without.recd");
    common::write_model(&without, &params, &part, &path_b);
    let b = Model::open(&path_b).expect("opens");

    // Model item indices follow the dataset's, so one index serves both.
    let (mut trained_in, mut folded_in) = (Vec::new(), Vec::new());
    let mut fold_ms = Vec::new();
    let mut folded = std::collections::HashMap::new();
    for k in 0..test.len() {
        let (u, i, v) = (test.users[k], test.items[k], test.values[k]);
        if u == u32::MAX || i == u32::MAX || !hidden.contains(&u) {
            continue;
        }
        trained_in.push(f64::from(v - a.predict(Some(u), Some(i))));
        let f = folded.entry(u).or_insert_with(|| {
            let start = Instant::now();
            let f = b.fold_in(&theirs[u as usize], f64::from(params.reg_all));
            fold_ms.push(start.elapsed().as_secs_f64() * 1e3);
            f
        });
        folded_in.push(f64::from(v - b.predict_folded(f, i)));
    }
    let (ra, rb) = (rmse(&trained_in), rmse(&folded_in));
    println!(
        "{} hidden users, {} of their test ratings; defaults ({} factors, {} epochs)",
        folded.len(),
        trained_in.len(),
        params.n_factors,
        params.n_epochs
    );
    println!("| users | RMSE on their test ratings |");
    println!("|---|---|");
    println!("| trained in | {ra:.4} |");
    println!("| folded in from their train ratings | {rb:.4} |");
    println!(
        "folded in / trained in: {:.4} ({:+.2}%)",
        rb / ra,
        (rb / ra - 1.0) * 100.0
    );
    println!(
        "fold-in time per user: median {:.3} ms",
        common::median(&mut fold_ms)
    );
}
