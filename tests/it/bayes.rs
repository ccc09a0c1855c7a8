//! The `bayes_svdpp` model through the real binary: `recd train` publishes
//! it, `recd model inspect` shows what trained it, `recd eval` reports the
//! sampler's own predictive mean beside the served model's accuracy.

use crate::helper;

use helper::{recd, Fixture};

#[test]
fn the_bayesian_model_is_trained_published_and_inspected() {
    let f = Fixture::new();
    let bayes = [
        "--algorithm",
        "bayes_svdpp",
        "--factors",
        "4",
        "--epochs",
        "12",
        "--burn-in",
        "3",
    ];
    let out = f.train(&[&bayes[..], &["--json"]].concat()).ok();
    let j = out.json();
    assert_eq!(j["published"], true);
    let rmse = j["rmse"].as_f64().unwrap();
    assert!(rmse.is_finite() && rmse < 1.2, "holdout RMSE {rmse}");
    assert!(
        out.stderr
            .contains("bayes_svdpp: rank 4, 12 sweeps (3 burn-in), init_std_dev 0.1, seed 1"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("epoch  12/12"), "{}", out.stderr);
    let shown = recd(&["model", "inspect", f.models().to_str().unwrap()]).ok();
    assert!(
        shown
            .stdout
            .contains("params        bayes_svdpp: rank 4, 12 sweeps (3 burn-in)"),
        "{}",
        shown.stdout
    );
    let meta = recd(&["model", "inspect", f.models().to_str().unwrap(), "--json"])
        .ok()
        .json();
    assert_eq!(meta["factors"], 4);
    assert_eq!(meta["metadata"]["params"]["algorithm"], "bayes_svdpp");

    let ratings = f.data().join("ratings.dat");
    let eval = |algorithm: &[&str]| {
        let path = ratings.to_str().unwrap();
        let args = [
            &["eval", "--train", path, "--test", path, "--json"],
            algorithm,
        ]
        .concat();
        recd(&args).ok().json()
    };
    let j = eval(&bayes);
    let exported = j["rmse"].as_f64().unwrap();
    let sampled = j["posterior_mean_rmse"].as_f64().unwrap();
    assert!(
        (exported - sampled).abs() < 0.05,
        "exported {exported}, posterior mean {sampled}"
    );
    assert_eq!(j["params"]["algorithm"], "bayes_svdpp");
    // The standard deviation predict reports, beside the sampler's own.
    let sd = &j["std_dev"];
    for key in ["sampled_mean", "reported_mean"] {
        let v = sd[key].as_f64().unwrap();
        assert!(v > 0.0 && v < 2.0, "{key}: {sd}");
    }
    let coverage = sd["coverage_95"].as_f64().unwrap();
    assert!(coverage > 0.5 && coverage <= 1.0, "{sd}");
    assert!(sd["correlation"].as_f64().unwrap().abs() <= 1.0, "{sd}");
    let j = eval(&["--algorithm", "svd", "--epochs", "3"]);
    assert!(j.get("posterior_mean_rmse").is_none(), "{j}");
    assert!(j.get("std_dev").is_none(), "{j}");
}

#[test]
fn a_bad_algorithm_is_a_usage_error_and_a_long_burn_in_keeps_the_last_sweep() {
    let f = Fixture::new();
    let out = f.train(&["--algorithm", "svdpp"]);
    assert_eq!(out.code, 2, "a usage error: {}", out.stderr);
    assert!(
        out.stderr.contains("'svdpp'") && out.stderr.contains("bayes_svdpp"),
        "{}",
        out.stderr
    );
    let out = f
        .train(&[
            "--algorithm",
            "bayes_svdpp",
            "--factors",
            "2",
            "--epochs",
            "4",
            "--burn-in",
            "9",
            "--json",
        ])
        .ok();
    assert!(
        out.stderr.contains("4 sweeps (3 burn-in)"),
        "{}",
        out.stderr
    );
}
