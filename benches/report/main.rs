//! The benchmark report: fresh measurements on the machine it runs on,
//! written as tables (`README.md`) and SVG charts into one directory.
//!
//! `cargo bench --bench report -- [--out DIR] [--dir DIR] [--runs N]
//! [--shapes LIST] [--bayes-shapes LIST] [--libmf-shapes LIST]`
//!
//! - `--out`: where the report goes (default `docs/report` in the
//!   checkout, which docs/benchmarks.md shows).
//! - `--dir`: where the synthetic sets are generated (`recd synth --seed
//!   1`) and kept for the next run, and the runs' state (default a temp dir).
//! - `--shapes` (default `ml-100k,ml-1m,ml-10m,ml-25m`; `netflix` adds
//!   the 100M shape): training time and peak memory against ratings, `recd
//!   train` as a process; `--bayes-shapes` (default `ml-100k,ml-1m,ml-10m`) and
//!   `--libmf-shapes` (default all of `--shapes`) pick where the Bayesian
//!   model and LIBMF run too.
//! - RMSE against fit time on split90 (from `$RECD_DATASETS`) for recd,
//!   LIBMF and, when python3 can import it, Surprise (`python3 -m venv
//!   .venv && .venv/bin/pip install scikit-surprise`, then put `.venv/bin`
//!   first on `PATH`); `--runs` fits of each (default 3), medians.
//! - `recommend` latency against offered load (`recctl bench`) on the
//!   daemon serving the split90 model, and the time a `reload` takes
//!   against the model's size.

#[path = "../common/mod.rs"]
mod common;

mod accuracy;
mod plot;
mod scale;
mod serving;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use common::shapes::Shape;
use common::value;

/// The report as it is measured: Markdown, and the charts beside it.
pub struct Report {
    out: PathBuf,
    text: String,
}

impl Report {
    /// A heading and a paragraph.
    pub fn section(&mut self, title: &str, text: &str) {
        let _ = write!(self.text, "\n## {title}\n\n{text}\n");
        println!("\n## {title}\n\n{text}");
    }

    /// A table: its header cells and rows.
    pub fn table(&mut self, header: &[&str], rows: &[Vec<String>]) {
        let mut t = format!(
            "\n| {} |\n|{}\n",
            header.join(" | "),
            "---|".repeat(header.len())
        );
        for r in rows {
            let _ = writeln!(t, "| {} |", r.join(" | "));
        }
        self.text.push_str(&t);
        print!("{t}");
    }

    /// Draw a chart into `name`.svg and show it, and write the report so
    /// far (a section ends with its chart), so that a later failure keeps
    /// what was measured.
    pub fn chart(&mut self, name: &str, chart: &plot::Chart, series: &[plot::Series]) {
        let file = format!("{name}.svg");
        chart.draw(&self.out.join(&file), series);
        let _ = write!(self.text, "\n![{}]({file})\n", chart.title);
        println!("(chart {})", self.out.join(&file).display());
        self.write();
    }

    fn write(&self) {
        let path = self.out.join("README.md");
        std::fs::write(&path, &self.text).expect("write the report");
    }
}

fn main() {
    if let Some(dir) = value(scale::LIBMF_CHILD) {
        scale::libmf_child(Path::new(&dir));
        return;
    }
    let out = value("--out").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&out).expect("the report's directory");
    let temp = tempfile::tempdir().expect("temp dir");
    let root = value("--dir").map_or_else(|| temp.path().to_owned(), PathBuf::from);
    std::fs::create_dir_all(&root).expect("the bench's directory");
    let runs: usize = value("--runs").map_or(3, |r| r.parse().expect("--runs: a number"));
    let shapes =
        Shape::list(&value("--shapes").unwrap_or_else(|| "ml-100k,ml-1m,ml-10m,ml-25m".into()));
    let names = |flag: &str, default: &str| {
        let list = value(flag).unwrap_or_else(|| default.into());
        Shape::list(&list)
            .into_iter()
            .map(|s| s.name)
            .collect::<Vec<_>>()
    };
    let all: Vec<&str> = shapes.iter().map(|s| s.name).collect();
    let bayes = names("--bayes-shapes", "ml-100k,ml-1m,ml-10m");
    let libmf = names("--libmf-shapes", &all.join(","));

    let mut report = Report {
        out,
        text: String::new(),
    };
    report.text.push_str(&machine());
    println!("{}", report.text);
    let models = scale::run(&mut report, &root, &shapes, &bayes, &libmf);
    accuracy::run(&mut report, runs);
    serving::run(&mut report, &root, &models);
    report.write();
    println!(
        "\nreport written to {}",
        report.out.join("README.md").display()
    );
}

/// The report's title: when, on what, from which commit.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map_or("unknown CPU", |l| l.trim_start_matches([' ', '\t', ':']));
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1048576.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let commit = std::process::Command::new("git")
        .args([
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "describe",
            "--always",
            "--dirty",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or("unknown".into(), |o| {
            String::from_utf8_lossy(&o.stdout).trim().to_owned()
        });
    let now = recd::clock::rfc3339(std::time::SystemTime::now());
    format!(
        "# recd benchmark report\n\n\
         Generated by `cargo bench --bench report` at {now} from commit {commit}, on \
         {cores} cores of {cpu}, {mem_gib:.0} GiB, Linux {}. Every figure below \
         was measured in that run; the charts plot the tables.\n",
        kernel.trim()
    )
}
