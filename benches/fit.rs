//! Fit speed and accuracy on the MovieLens split90 set, side by side in one
//! run: recd's `svd` at its defaults and at Surprise's, recd's `bayes_svdpp`
//! at its defaults and at rank 16 with 64 sweeps, LIBMF through the `libmf`
//! crate, and, through python3 when they are installed, Surprise's SVD and
//! myFM's Bayesian SVD++. Also the time to open and verify the split90
//! model.
//!
//! `cargo bench --bench fit [-- --runs N]`; the data come from
//! `$RECD_DATASETS` (default `../shared/datasets`). Figures are medians.
//! Surprise and myFM come from the python3 first on `PATH`, e.g. a venv:
//! `python3 -m venv .venv && .venv/bin/pip install scikit-surprise myfm`,
//! then `PATH=$PWD/.venv/bin:$PATH cargo bench --bench fit`.

mod common;

use std::time::Instant;

use common::fits::{self, Row, LIBMF_ITERATIONS};
use common::median;
use recd::model::Model;
use recd::numeric::{Algorithm, Params};

fn main() {
    let runs = common::option("--runs", 5usize);
    let Some(mut split) = common::split90() else {
        return;
    };
    println!(
        "split90: {} train / {} test ratings; {runs} runs each, interleaved; medians\n",
        split.train.ratings.len(),
        split.test.len()
    );

    let defaults = Params::default();
    let surprise_knobs = fits::surprise_defaults();
    let bayes = Params::defaults_for(Algorithm::BayesSvdpp);
    let bayes_16 = Params {
        n_factors: 16,
        n_epochs: 64,
        ..bayes.clone()
    };
    let (mut ours, mut ours_s, mut lib) = (Row::default(), Row::default(), Row::default());
    let (mut ours_b, mut ours_b16) = (Row::default(), Row::default());
    let mut model = None;
    for _ in 0..runs {
        model = Some(fits::recd(&mut split, &defaults, &mut ours));
        fits::libmf(&split, LIBMF_ITERATIONS, &mut lib);
        fits::recd(&mut split, &surprise_knobs, &mut ours_s);
        fits::recd(&mut split, &bayes, &mut ours_b);
        fits::recd(&mut split, &bayes_16, &mut ours_b16);
    }
    let py_runs = runs.min(3).to_string();
    let sur = fits::python(
        &split,
        "surprise_fit.py",
        std::slice::from_ref(&py_runs),
        20,
    );
    let myfm_args = [
        py_runs.clone(),
        bayes_16.n_factors.to_string(),
        bayes_16.n_epochs.to_string(),
        bayes_16.effective_burn_in().to_string(),
    ];
    let myfm = fits::python(&split, "myfm_fit.py", &myfm_args, bayes_16.n_epochs);

    println!("| system | settings | fit s | RMSE | MAE | M updates/s |");
    println!("|---|---|---|---|---|---|");
    let threads = defaults.effective_threads();
    let ours_fit = ours.print(
        "recd",
        &format!(
            "defaults ({} factors, {} epochs, lr {}, reg {}, {threads} threads)",
            defaults.n_factors, defaults.n_epochs, defaults.lr_all, defaults.reg_all
        ),
    );
    ours_s.print(
        "recd",
        &format!(
            "Surprise's defaults ({} factors, {} epochs, lr {}, reg {}, {threads} threads)",
            surprise_knobs.n_factors,
            surprise_knobs.n_epochs,
            surprise_knobs.lr_all,
            surprise_knobs.reg_all
        ),
    );
    let lib_fit = lib.print(
        "LIBMF (libmf crate)",
        &fits::libmf_settings(LIBMF_ITERATIONS),
    );
    let b_fit = ours_b.print("recd bayes_svdpp", &bayes.summary());
    let b16_fit = ours_b16.print("recd bayes_svdpp", &bayes_16.summary());
    let lib_rate = lib.updates / lib_fit;
    let ours_rate = ours.updates / ours_fit;
    if let Some(mut s) = sur {
        s.print("Surprise SVD", "defaults (1 thread)");
        println!(
            "\nrecd with Surprise's defaults minus Surprise: RMSE {:+.4}",
            ours_s.rmse - s.rmse
        );
    } else {
        println!("\nSurprise SVD: not measured (python3 cannot import surprise)");
    }
    match myfm {
        Some(mut m) => {
            let (rank, sweeps) = (bayes_16.n_factors, bayes_16.n_epochs);
            let m_fit = m.print(
                "myFM",
                &format!(
                    "rank {rank}, {sweeps} sweeps, {} burn-in (1 process)",
                    bayes_16.effective_burn_in()
                ),
            );
            println!(
                "recd bayes_svdpp / myFM at rank {rank} and {sweeps} sweeps: fit {:.2}, RMSE {:+.4}",
                b16_fit / m_fit,
                ours_b16.rmse - m.rmse
            );
        }
        None => println!("myFM: not measured (python3 cannot import myfm)"),
    }
    println!(
        "recd bayes_svdpp defaults minus recd svd defaults: RMSE {:+.4}, fit {:.1}x",
        ours_b.rmse - ours.rmse,
        b_fit / ours_fit
    );
    println!("recd defaults fit / LIBMF fit: {:.2}", ours_fit / lib_fit);
    println!(
        "recd / LIBMF rating updates per second at 100 factors: {:.2}",
        ours_rate / lib_rate
    );

    folds(&defaults, &bayes);

    // Open and verify the split90 model, as the daemon does on reload.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("split90.recd");
    let f = model.expect("at least one run");
    common::write_model(&split.train, &defaults, &f, &path);
    let mut opens: Vec<f64> = (0..21)
        .map(|_| {
            let start = Instant::now();
            let m = Model::open(&path).expect("opens");
            std::hint::black_box(m.n_users());
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "open and verify the split90 model ({size} bytes): median {:.2} ms over 21 opens",
        median(&mut opens)
    );
}

/// Mean RMSE over ML-100K's five folds, one fit each.
fn folds(svd: &Params, bayes: &Params) {
    let Some(mut folds) = common::ml100k_folds() else {
        return;
    };
    let mut rows: Vec<(String, Vec<f64>)> = vec![
        (format!("recd {}", svd.summary()), vec![]),
        (format!("recd {}", bayes.summary()), vec![]),
        (
            format!("LIBMF, {}", fits::libmf_settings(LIBMF_ITERATIONS)),
            vec![],
        ),
        ("Surprise SVD, defaults".into(), vec![]),
    ];
    for fold in &mut folds {
        for (params, row) in [svd, bayes].into_iter().zip(0..) {
            let mut r = Row::default();
            fits::recd(fold, params, &mut r);
            rows[row].1.push(r.rmse);
        }
        let mut r = Row::default();
        fits::libmf(fold, LIBMF_ITERATIONS, &mut r);
        rows[2].1.push(r.rmse);
        if let Some(r) = fits::python(fold, "surprise_fit.py", &["1".into()], 20) {
            rows[3].1.push(r.rmse);
        }
    }
    println!("\nML-100K, folds u1..u5, RMSE:\n");
    println!("| system | u1 | u2 | u3 | u4 | u5 | mean |");
    println!("|---|---|---|---|---|---|---|");
    for (name, rmse) in rows.iter().filter(|(_, r)| r.len() == folds.len()) {
        let cells: Vec<String> = rmse.iter().map(|r| format!("{r:.4}")).collect();
        let mean = rmse.iter().sum::<f64>() / rmse.len() as f64;
        println!("| {name} | {} | {mean:.4} |", cells.join(" | "));
    }
}
