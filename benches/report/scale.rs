//! Training time and peak memory against the number of ratings: `recd
//! train` as a process on the synthetic shapes (`svd`, and `bayes_svdpp`
//! where practical), and LIBMF in a process of its own on the same sets.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::common::fits::LIBMF_FACTORS;
use crate::common::run::{self, Report as Trained};
use crate::common::shapes::Shape;
use crate::plot::{Chart, Series};
use crate::Report;

/// The flag that makes this bench the LIBMF child: load the set in the
/// directory after it, fit, print the times.
pub const LIBMF_CHILD: &str = "--libmf-child";
const LIBMF_ITERATIONS: i32 = 20;

/// One line of the table and a point on each chart.
struct Point {
    ratings: f64,
    train: f64,
    wall: f64,
    peak_mib: f64,
}

#[derive(Default)]
struct Line {
    name: &'static str,
    points: Vec<Point>,
}

impl Line {
    /// The line's points (ratings, `y`) as a series named `name`.
    fn series(&self, name: String, y: impl Fn(&Point) -> f64) -> Series {
        Series::new(
            name,
            self.points.iter().map(|p| (p.ratings, y(p))).collect(),
        )
    }
}

/// Train on every shape; the models directory each shape's `svd` model
/// was published to, for the reload measurement.
pub fn run(
    report: &mut Report,
    root: &Path,
    shapes: &[Shape],
    bayes: &[&str],
    libmf: &[&str],
) -> Vec<(Shape, PathBuf)> {
    let mut rows = Vec::new();
    let mut parsed = Line {
        name: "recd svd, parsing the text",
        ..Line::default()
    };
    let mut copy = Line {
        name: "recd svd, binary copy",
        ..Line::default()
    };
    let mut bayes_line = Line {
        name: "recd bayes_svdpp",
        ..Line::default()
    };
    let mut libmf_line = Line {
        name: "LIBMF",
        ..Line::default()
    };
    let mut models = Vec::new();
    for &shape in shapes {
        let data = shape.synth(root);
        let state = root.join(format!("{}-report-state", shape.name));
        let _ = std::fs::remove_dir_all(&state);
        let svd = ["--no-database", "--algorithm", "svd"];
        for line in [&mut parsed, &mut copy] {
            let r = run::train(&state, "", &data, &svd);
            rows.push(row(shape, "recd svd", r.read(), &r));
            line.points.push(point(shape, &r));
        }
        let kept = root.join(format!("{}-model", shape.name));
        let _ = std::fs::remove_dir_all(&kept);
        std::fs::rename(state.join("models"), &kept).expect("keep the model");
        models.push((shape, kept));
        if bayes.contains(&shape.name) {
            let args = ["--no-database", "--algorithm", "bayes_svdpp"];
            let r = run::train(&state, "", &data, &args);
            rows.push(row(shape, "recd bayes_svdpp", r.read(), &r));
            bayes_line.points.push(point(shape, &r));
        }
        if libmf.contains(&shape.name) {
            let (p, cells) = libmf_run(shape, &data);
            rows.push(cells);
            libmf_line.points.push(p);
        }
    }
    report.section(
        "Training at scale",
        "`recd train --no-database --algorithm svd|bayes_svdpp` at its defaults (svd: 100 \
         factors, 40 epochs; 2 threads), as a process, on synthetic sets of real shapes \
         (`recd synth --seed 1`); a tenth of the ratings is held out. svd runs twice: \
         first parsing the ratings file (which writes the binary copy), then from the \
         copy; bayes_svdpp runs from the copy. LIBMF (the `libmf` crate; 100 factors, \
         20 iterations, 2 threads) runs in a process of its own that parses the same \
         file with recd's loader and fits nine ratings in ten. \"train s\" is the train \
         step alone (LIBMF: its fit); \"total s\" is the process's wall time; peak RSS \
         is the process's own (`wait4`).",
    );
    report.table(
        &[
            "shape",
            "ratings",
            "system",
            "read",
            "train s",
            "total s",
            "M updates/s",
            "peak RSS MiB",
            "bytes/rating",
        ],
        &rows,
    );
    let lines = [&copy, &parsed, &bayes_line, &libmf_line];
    let time = Chart {
        title: "Training time against ratings",
        x: "ratings",
        y: "seconds",
        log_x: true,
        log_y: true,
    };
    let mut series: Vec<Series> =
        vec![copy.series(format!("{}: end to end", copy.name), |p| p.wall)];
    series.extend(
        [&copy, &bayes_line, &libmf_line]
            .iter()
            .map(|l| l.series(format!("{}: train", l.name), |p| p.train)),
    );
    report.chart("training-time", &time, &series);
    let memory = Chart {
        title: "Peak memory against ratings",
        x: "ratings",
        y: "peak RSS, MiB",
        log_x: true,
        log_y: true,
    };
    let series: Vec<Series> = lines
        .iter()
        .map(|l| l.series(l.name.into(), |p| p.peak_mib))
        .collect();
    report.chart("training-memory", &memory, &series);
    models
}

fn point(shape: Shape, r: &Trained) -> Point {
    Point {
        ratings: shape.ratings as f64,
        train: r.step("train"),
        wall: r.wall,
        peak_mib: r.peak_mib,
    }
}

fn row(shape: Shape, system: &str, read: &str, r: &Trained) -> Vec<String> {
    eprintln!("{}: {system} ({read}) {:.2} s", shape.name, r.wall);
    cells(
        shape,
        system,
        read,
        r.step("train"),
        r.wall,
        r.updates_per_second(shape.ratings),
        r.peak_mib,
    )
}

fn cells(
    shape: Shape,
    system: &str,
    read: &str,
    train: f64,
    wall: f64,
    updates: f64,
    peak_mib: f64,
) -> Vec<String> {
    vec![
        shape.name.into(),
        shape.ratings.to_string(),
        system.into(),
        read.into(),
        format!("{train:.2}"),
        format!("{wall:.2}"),
        format!("{:.1}", updates / 1e6),
        format!("{peak_mib:.0}"),
        format!("{:.1}", peak_mib * 1048576.0 / shape.ratings as f64),
    ]
}

/// LIBMF on `data`, in a child process: its point and table row.
fn libmf_run(shape: Shape, data: &Path) -> (Point, Vec<String>) {
    let me = std::env::current_exe().expect("this bench's path");
    let ran = run::process(&me, &[LIBMF_CHILD, data.to_str().expect("a UTF-8 path")]);
    let fit: f64 = ran
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("fit "))
        .and_then(|s| s.trim().parse().ok())
        .expect("the LIBMF child's fit time");
    let updates = 0.9 * shape.ratings as f64 * f64::from(LIBMF_ITERATIONS) / fit;
    let p = Point {
        ratings: shape.ratings as f64,
        train: fit,
        wall: ran.wall,
        peak_mib: ran.peak_mib,
    };
    eprintln!("{}: LIBMF {:.2} s", shape.name, ran.wall);
    let row = cells(
        shape,
        "LIBMF",
        "parsed",
        fit,
        ran.wall,
        updates,
        ran.peak_mib,
    );
    (p, row)
}

/// The child: load `dir`'s ratings, keep nine in ten, fit LIBMF, print
/// "fit SECONDS".
pub fn libmf_child(dir: &Path) {
    let data = recd::train::dataset::Dataset::load(dir).expect("the set loads");
    let r = &data.ratings;
    let mut m = libmf::Matrix::with_capacity(r.len() - r.len() / 10);
    for k in (0..r.len()).filter(|k| k % 10 != 0) {
        m.push(r.users[k] as i32, r.items[k] as i32, r.values[k]);
    }
    drop(data);
    let start = Instant::now();
    let model = libmf::Model::params()
        .factors(LIBMF_FACTORS)
        .iterations(LIBMF_ITERATIONS)
        .threads(2)
        .lambda_p2(0.05)
        .lambda_q2(0.05)
        .quiet(true)
        .fit(&m)
        .expect("libmf fits");
    println!("fit {}", start.elapsed().as_secs_f64());
    std::hint::black_box(model.predict(0, 0));
}
