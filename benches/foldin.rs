//! Users the model has not seen, and trained users' ratings since training,
//! on the split90 set, for each model (`svd`, `bayes_svdpp`, defaults):
//!
//! - fold-in: 200 users of the train set are hidden from training, folded
//!   in from their train ratings and scored on their test ratings; the same
//!   users trained in are the reference;
//! - updates: the same users are trained in on the first half of their
//!   train ratings (in file order); the second half comes "since training" and is
//!   served as the daemon serves it (`Served::answer`), and they are scored
//!   on their test ratings, beside the same users not updated. The time of
//!   an updated user's answer and top 10, in process, is reported too.
//!
//! `cargo bench --bench foldin [-- --users N --algorithm NAME]`; the data
//! come from `$RECD_DATASETS` (default `../shared/datasets`).

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use recd::config::FoldIn;
use recd::model::Model;
use recd::numeric::{Algorithm, Factors, Params};
use recd::serving::{Known, Served};
use recd::train::dataset::{Dataset, Ratings};
use recd::train::sgd::TrainData;

fn rmse(errors: &[f64]) -> f64 {
    (errors.iter().map(|e| e * e).sum::<f64>() / errors.len().max(1) as f64).sqrt()
}

fn fit(train: &Dataset, ratings: &mut Ratings, params: &Params) -> Factors {
    let data = TrainData {
        n_users: train.users.len(),
        n_items: train.movies.len(),
        users: &mut ratings.users,
        items: &mut ratings.items,
        values: &mut ratings.values,
    };
    recd::train::fit(data, params, &AtomicBool::new(false), &mut |_| {}).expect("not cancelled")
}

/// Fit on `ratings` and open the model, as served.
fn served(
    train: &Dataset,
    mut ratings: Ratings,
    params: &Params,
    dir: &std::path::Path,
    name: &str,
) -> Served {
    let factors = fit(train, &mut ratings, params);
    let path = dir.join(name);
    let set = Dataset {
        ratings,
        ..train.clone()
    };
    common::write_model(&set, params, &factors, &path);
    Served::new(Model::open(&path).expect("opens"))
}

fn main() {
    let hidden_n = common::option("--users", 200usize);
    let only = common::option("--algorithm", String::new());
    let Some(common::Split { train, test, .. }) = common::split90() else {
        return;
    };
    let n_users = train.users.len();
    // Every (n / N)-th user index: spread over the set, the same every run.
    let step = (n_users / hidden_n).max(1);
    let hidden: HashSet<u32> = (0..n_users as u32).step_by(step).take(hidden_n).collect();
    // Their train ratings in file order (by time within a user), and the
    // rest of the set.
    let mut theirs: Vec<Vec<(u32, f32)>> = vec![Vec::new(); n_users];
    let mut kept = Ratings::default();
    let r = &train.ratings;
    for k in 0..r.len() {
        let (u, i, v) = (r.users[k], r.items[k], r.values[k]);
        if hidden.contains(&u) {
            theirs[u as usize].push((i, v));
        } else {
            kept.push(u, i, v);
        }
    }
    let mut first_half = kept.clone();
    for &u in &hidden {
        let t = &theirs[u as usize];
        for &(i, v) in &t[..t.len() / 2] {
            first_half.push(u, i, v);
        }
    }
    let tmp = tempfile::tempdir().expect("temp dir");
    println!("{} hidden users; defaults of each model", hidden.len());
    println!("| model | trained in | folded in | ratio | half trained, not updated | half trained, updated | fold-in p50 | update + top 10 p50 |");
    println!("|---|---|---|---|---|---|---|---|");
    for alg in [Algorithm::Svd, Algorithm::BayesSvdpp] {
        let name: &str = alg.into();
        if !only.is_empty() && only != name {
            continue;
        }
        let params = Params::defaults_for(alg);
        let reg = f64::from(params.reg_all);
        let a = served(&train, train.ratings.clone(), &params, tmp.path(), "a.recd");
        let b = served(&train, kept.clone(), &params, tmp.path(), "b.recd");
        let c = served(&train, first_half.clone(), &params, tmp.path(), "c.recd");
        let (a, b, cm) = (&a.model, &b.model, &c.model);

        let (mut trained_in, mut folded_in) = (Vec::new(), Vec::new());
        let (mut stale, mut updated) = (Vec::new(), Vec::new());
        let (mut fold_ms, mut update_ms) = (Vec::new(), Vec::new());
        let mut folded = HashMap::new();
        let mut answers = HashMap::new();
        for k in 0..test.len() {
            let (u, i, v) = (test.users[k], test.items[k], test.values[k]);
            if u == u32::MAX || i == u32::MAX || !hidden.contains(&u) {
                continue;
            }
            trained_in.push(f64::from(v - a.predict(Some(u), Some(i))));
            let f = folded.entry(u).or_insert_with(|| {
                let start = Instant::now();
                let f = b.fold_in(&theirs[u as usize], reg);
                fold_ms.push(start.elapsed().as_secs_f64() * 1e3);
                f
            });
            folded_in.push(f64::from(v - b.predict_folded(f, i)));
            stale.push(f64::from(v - cm.predict(Some(u), Some(i))));
            // The second half, as the database would hand it to serving.
            let answer = answers.entry(u).or_insert_with(|| {
                let t = &theirs[u as usize];
                let since: Vec<(u32, f32)> = t[t.len() / 2..]
                    .iter()
                    .map(|&(i, v)| (cm.movie_id(i), v))
                    .collect();
                let id = recd::train::export::dataset_user(train.users.ids()[u as usize]);
                let known = || Known {
                    recent: Ok(since.clone()),
                    fold_in: FoldIn::default(),
                    reg,
                    erased: false,
                };
                let start = Instant::now();
                let ans = c.answer(&id, true, known()).ok().expect("in the model");
                let top = c.recommend(&ans, 10, &FoldIn::default());
                update_ms.push(start.elapsed().as_secs_f64() * 1e3);
                assert_eq!(top.len(), 10);
                c.answer(&id, true, known()).ok().expect("in the model")
            });
            updated.push(f64::from(v - c.predict(answer, i, &FoldIn::default())));
        }
        let (ra, rb) = (rmse(&trained_in), rmse(&folded_in));
        println!(
            "| {name} | {ra:.4} | {rb:.4} | {:.4} | {:.4} | {:.4} | {:.3} ms | {:.3} ms |",
            rb / ra,
            rmse(&stale),
            rmse(&updated),
            common::median(&mut fold_ms),
            common::median(&mut update_ms),
        );
    }
}
