//! RMSE against fit time on split90: recd (`svd` over its epochs,
//! `bayes_svdpp` over its sweeps), LIBMF over its iterations and Surprise's
//! SVD over its epochs, each fitted `runs` times, side by side in one run.

use crate::common::fits::{self, Row};
use crate::common::split90;
use crate::plot::{Chart, Series};
use crate::Report;

use recd::numeric::{Algorithm, Params};

const SVD_EPOCHS: [usize; 5] = [5, 10, 20, 40, 80];
const BAYES_SWEEPS: [usize; 3] = [16, 32, 56];
const LIBMF_ITERATIONS: [i32; 5] = [5, 10, 20, 40, 80];
const SURPRISE_EPOCHS: [usize; 4] = [5, 10, 20, 40];

/// A system's settings, from fastest to slowest, and their fits.
struct Sweep {
    name: &'static str,
    points: Vec<(String, Row)>,
}

pub fn run(report: &mut Report, runs: usize) {
    let Some(mut split) = split90() else {
        report.section(
            "Accuracy against fit time",
            "Not measured: no split90 set (set RECD_DATASETS).",
        );
        return;
    };
    let svd = Params::default();
    let bayes = Params::defaults_for(Algorithm::BayesSvdpp);
    let mut sweeps = vec![
        Sweep {
            name: "recd svd",
            points: SVD_EPOCHS
                .iter()
                .map(|e| (format!("{e} epochs"), Row::default()))
                .collect(),
        },
        Sweep {
            name: "recd bayes_svdpp",
            points: BAYES_SWEEPS
                .iter()
                .map(|e| (format!("{e} sweeps"), Row::default()))
                .collect(),
        },
        Sweep {
            name: "LIBMF",
            points: LIBMF_ITERATIONS
                .iter()
                .map(|e| (format!("{e} iterations"), Row::default()))
                .collect(),
        },
    ];
    // Interleaved: each run fits every setting once.
    for _ in 0..runs {
        for (&e, (_, row)) in SVD_EPOCHS.iter().zip(&mut sweeps[0].points) {
            let p = Params {
                n_epochs: e,
                ..svd.clone()
            };
            fits::recd(&mut split, &p, row);
        }
        for (&e, (_, row)) in BAYES_SWEEPS.iter().zip(&mut sweeps[1].points) {
            let p = Params {
                n_epochs: e,
                ..bayes.clone()
            };
            fits::recd(&mut split, &p, row);
        }
        for (&i, (_, row)) in LIBMF_ITERATIONS.iter().zip(&mut sweeps[2].points) {
            fits::libmf(&split, i, row);
        }
    }
    let mut surprise = Sweep {
        name: "Surprise SVD",
        points: Vec::new(),
    };
    for e in SURPRISE_EPOCHS {
        let args = [
            runs.to_string(),
            "100".into(),
            e.to_string(),
            "0.005".into(),
            "0.02".into(),
        ];
        match fits::python(&split, "surprise_fit.py", &args, e) {
            Some(row) => surprise.points.push((format!("{e} epochs"), row)),
            None => break,
        }
    }
    let surprise_note = if surprise.points.is_empty() {
        " Surprise was not measured: python3 cannot import surprise."
    } else {
        ""
    };
    sweeps.push(surprise);

    report.section(
        "Accuracy against fit time",
        &format!(
            "split90 ({} training, {} test ratings): RMSE on the test set (predictions \
             clipped to 1-5) against the median fit time of {runs} fits, loading \
             excluded. recd `svd` at its defaults ({} factors, lr {}, reg {}, 2 threads) \
             over its epochs; `bayes_svdpp` at its defaults (rank {}) over its sweeps; \
             LIBMF at 100 factors, lambda 0.05, 2 threads over its iterations; \
             Surprise's SVD at its defaults (100 factors, lr 0.005, reg 0.02, one \
             thread) over its epochs, through python3.{surprise_note}",
            split.train.ratings.len(),
            split.test.len(),
            svd.n_factors,
            svd.lr_all,
            svd.reg_all,
            bayes.n_factors,
        ),
    );
    let mut rows = Vec::new();
    let mut series = Vec::new();
    for s in &mut sweeps {
        let mut points = Vec::new();
        for (setting, row) in &mut s.points {
            let fit = row.fit();
            points.push((fit, row.rmse));
            rows.push(vec![
                s.name.into(),
                setting.clone(),
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
