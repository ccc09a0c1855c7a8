//! Training time and peak memory against the number of ratings: `recd
//! train` as a process on the synthetic shapes (`svd`, and `bayes_svdpp`
//! where practical), and LIBMF in a process of its own on the same sets.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::common::fits::{self, LIBMF_ITERATIONS};
use crate::common::run::{self, TrainRun};
use crate::common::shapes::Shape;
use crate::plot::{Chart, Series};
use crate::Report;

/// The flag that makes this bench the LIBMF child: load the set in the
/// directory after it, fit, print the times.
pub const LIBMF_CHILD: &str = "--libmf-child";

/// One line of the table and a point on each chart.
struct Point {
    ratings: f64,
    train: f64,
    wall: f64,
    peak_mib: f64,
}

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

/// Train on every shape; each shape's set and the models directory its
/// `svd` model was published to, for the reload measurement.
pub fn run(
    report: &mut Report,
    root: &Path,
    shapes: &[Shape],
    bayes: &[&str],
    libmf: &[&str],
) -> Vec<(Shape, PathBuf, PathBuf)> {
    let mut rows = Vec::new();
    let [mut parsed, mut copy, mut bayes_line, mut libmf_line] = [
        "recd svd, parsing the text",
        "recd svd, binary copy",
        "recd bayes_svdpp",
        "LIBMF",
    ]
    .map(|name| Line {
        name,
        points: Vec::new(),
    });
    let mut models = Vec::new();
    for &shape in shapes {
        let data = shape.synth(root);
        let state = root.join(format!("{}-report-state", shape.name));
        let _ = std::fs::remove_dir_all(&state);
        let svd = ["--no-database", "--algorithm", "svd"];
        for (line, read) in [(&mut parsed, "parsed"), (&mut copy, "binary copy")] {
            let r = run::train(&state, "", &data, &svd);
            assert_eq!(
                r.read(),
                read,
                "{}: the binary copy was not used as expected",
                shape.name
            );
            rows.push(row(shape, "recd svd", read, &r));
            line.points.push(point(shape, &r));
        }
        let kept = root.join(format!("{}-model", shape.name));
        let _ = std::fs::remove_dir_all(&kept);
        std::fs::rename(state.join("models"), &kept).expect("keep the model");
        models.push((shape, data.clone(), kept));
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
    let svd = recd::numeric::Params::default();
    report.section(
        "Training at scale",
        &format!(
            "`recd train --no-database --algorithm svd|bayes_svdpp` at its defaults (svd: \
             {} factors, {} epochs; {} threads), as a process, on synthetic sets of real \
             shapes (`recd synth --seed 1`); {:.0}% of the ratings are held out. svd runs \
             twice: first parsing the ratings file (which writes the binary copy), then \
             from the copy; bayes_svdpp runs from the copy. LIBMF (the `libmf` crate; {}) \
             runs in a process of its own that parses the same file with recd's loader \
             and fits the same share of it. \"train s\" is the train step alone (LIBMF: \
             its fit); \"total s\" is the process's wall time; peak RSS is the \
             process's own (`wait4`).",
            svd.n_factors,
            svd.n_epochs,
            svd.effective_threads(),
            100.0 * (1.0 - run::trained_share()),
            fits::libmf_settings(LIBMF_ITERATIONS),
        ),
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

fn point(shape: Shape, r: &TrainRun) -> Point {
    Point {
        ratings: shape.ratings as f64,
        train: r.step("train"),
        wall: r.wall,
        peak_mib: r.peak_mib,
    }
}

fn row(shape: Shape, system: &str, read: &str, r: &TrainRun) -> Vec<String> {
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
    let updates = run::trained_share() * shape.ratings as f64 * f64::from(LIBMF_ITERATIONS) / fit;
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

/// The child: load `dir`'s ratings, keep the share recd trains on (every
/// rating but an evenly spread holdout), fit LIBMF, print "fit SECONDS".
pub fn libmf_child(dir: &Path) {
    let data = recd::train::dataset::Dataset::load(dir).expect("the set loads");
    let r = &data.ratings;
    let held = 1.0 - run::trained_share();
    let held_out = |k: usize| ((k + 1) as f64 * held).floor() > (k as f64 * held).floor();
    let mut m = libmf::Matrix::with_capacity(r.len());
    for k in (0..r.len()).filter(|&k| !held_out(k)) {
        m.push(r.users[k] as i32, r.items[k] as i32, r.values[k]);
    }
    drop(data);
    let start = Instant::now();
    let model = fits::libmf_fit(&m, LIBMF_ITERATIONS);
    println!("fit {}", start.elapsed().as_secs_f64());
    std::hint::black_box(model.predict(0, 0));
}
