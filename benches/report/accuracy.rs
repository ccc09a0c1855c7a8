//! RMSE against fit time on split90: recd (`svd` over its epochs,
//! `bayes_svdpp` over its sweeps), LIBMF over its iterations and Surprise's
//! SVD over its epochs, each fitted `runs` times, side by side in one run.

use crate::common::fits::{self, Row, LIBMF_FACTORS, LIBMF_LAMBDA};
use crate::common::split90;
use crate::plot::{Chart, Series};
use crate::Report;

use recd::numeric::{Algorithm, Params};

/// A system over one knob (its epochs, sweeps or iterations), from fastest
/// to slowest, and the fits at each value.
struct Sweep {
    name: &'static str,
    knob: &'static str,
    points: Vec<(usize, Row)>,
}

impl Sweep {
    fn new(name: &'static str, knob: &'static str, values: &[usize]) -> Sweep {
        let points = values.iter().map(|&v| (v, Row::default())).collect();
        Sweep { name, knob, points }
    }
}

pub fn run(report: &mut Report, runs: usize) {
    let Some(mut split) = split90() else {
        report.section(
            "Accuracy against fit time",
            "Not measured: no split90 set (set RECD_DATASETS).",
        );
        return;
    };
    // Each knob from a few passes to past its default.
    let svd = Params::default();
    let bayes = Params::defaults_for(Algorithm::BayesSvdpp);
    let surprise = fits::surprise_defaults();
    let e = svd.n_epochs;
    let mut sweeps = vec![
        Sweep::new("recd svd", "epochs", &[e / 8, e / 4, e / 2, e, 2 * e]),
        Sweep::new("recd bayes_svdpp", "sweeps", &[16, 32, bayes.n_epochs]),
        Sweep::new("LIBMF", "iterations", &[5, 10, 20, 40, 80]),
    ];
    // Interleaved: each run fits every setting once.
    for _ in 0..runs {
        for (params, sweep) in [&svd, &bayes].into_iter().zip(&mut sweeps) {
            for (n, row) in &mut sweep.points {
                let p = Params {
                    n_epochs: *n,
                    ..params.clone()
                };
                fits::recd(&mut split, &p, row);
            }
        }
        for (n, row) in &mut sweeps[2].points {
            fits::libmf(&split, *n as i32, row);
        }
    }
    let e = surprise.n_epochs;
    let mut python = Sweep::new("Surprise SVD", "epochs", &[e / 4, e / 2, e, 2 * e]);
    let mut measured = Vec::new();
    for (n, _) in python.points.drain(..) {
        let p = Params {
            n_epochs: n,
            ..surprise.clone()
        };
        let mut args = vec![runs.to_string()];
        args.extend(fits::surprise_args(&p));
        match fits::python(&split, "surprise_fit.py", &args, n) {
            Some(row) => measured.push((n, row)),
            None => break,
        }
    }
    let surprise_note = match measured.len() {
        0 => " Surprise was not measured: python3 cannot import surprise.".to_string(),
        n if n < 4 => {
            format!(" Surprise's fits stopped after {n} settings (see the bench's output).")
        }
        _ => String::new(),
    };
    python.points = measured;
    sweeps.push(python);

    report.section(
        "Accuracy against fit time",
        &format!(
            "split90 ({} training, {} test ratings): RMSE on the test set (predictions \
             clipped to 1-5) against the median fit time of {runs} fits, loading \
             excluded. recd `svd` at its defaults ({} factors, lr {}, reg {}, {} threads) \
             over its epochs; `bayes_svdpp` at its defaults (rank {}) over its sweeps; \
             LIBMF at {LIBMF_FACTORS} factors, lambda {LIBMF_LAMBDA}, {} threads over its \
             iterations; Surprise's SVD at its defaults ({} factors, lr {}, reg {}, one \
             thread) over its epochs, through python3.{surprise_note}",
            split.train.ratings.len(),
            split.test.len(),
            svd.n_factors,
            svd.lr_all,
            svd.reg_all,
            svd.effective_threads(),
            bayes.n_factors,
            fits::libmf_threads(),
            surprise.n_factors,
            surprise.lr_all,
            surprise.reg_all,
        ),
    );
    let mut rows = Vec::new();
    let mut series = Vec::new();
    for s in &mut sweeps {
        let mut points = Vec::new();
        for (n, row) in &mut s.points {
            let fit = row.fit();
            points.push((fit, row.rmse));
            rows.push(vec![
                s.name.into(),
                format!("{n} {}", s.knob),
                format!("{fit:.3}"),
                format!("{:.4}", row.rmse),
                format!("{:.4}", row.mae),
                format!("{:.1}", row.updates / fit / 1e6),
            ]);
        }
        series.push(Series::new(s.name, points));
    }
    report.table(
        &["system", "settings", "fit s", "RMSE", "MAE", "M updates/s"],
        &rows,
    );
    let chart = Chart {
        title: "RMSE against fit time on split90",
        x: "fit seconds",
        y: "test RMSE",
        log_x: true,
        log_y: false,
    };
    report.chart("rmse-fit-time", &chart, &series);
}
