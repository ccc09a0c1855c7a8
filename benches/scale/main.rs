//! `recd train` end to end on synthetic sets of real shapes, run as the real
//! binary: each step's time (from its report), the wall time and the peak
//! RSS of the whole process; then the time a retrain takes to read 1M or
//! 10M ratings out of SQLite and out of PostgreSQL.
//!
//! `cargo bench --bench scale [-- --shapes ml-100k,ml-1m,ml-10m,ml-25m,netflix]
//! [--db-ratings 1000000,10000000] [--dir DIR] [--algorithm NAME]`
//!
//! `--shapes` names any of those shapes (default `ml-1m,ml-25m`). Sets are
//! generated with `recd synth --seed 1` into DIR (default a temp dir)
//! unless already there. Each shape is trained twice: first parsing
//! the ratings file (and writing the binary copy), then reading the copy.
//! The model is `svd` (the point is the trainer's speed and memory at scale)
//! unless `--algorithm` names another. `--db-ratings ""` skips the database
//! part; PostgreSQL's half needs its server binaries (a private instance is
//! started).

#[path = "../common/mod.rs"]
mod common;
mod db;

use common::shapes::Shape;
use common::{run, value};

fn main() {
    let wanted = Shape::list(&value("--shapes").unwrap_or_else(|| "ml-1m,ml-25m".into()));
    let algorithm = value("--algorithm").unwrap_or_else(|| "svd".into());
    let db_sizes: Vec<u64> = value("--db-ratings")
        .unwrap_or_else(|| "1000000".into())
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().expect("--db-ratings: whole numbers"))
        .collect();
    let temp = tempfile::tempdir().expect("temp dir");
    let root = value("--dir")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| temp.path().to_owned());
    std::fs::create_dir_all(&root).expect("bench dir");

    println!("`recd train --algorithm {algorithm}`, its defaults, no database");
    println!();
    println!("| shape | ratings | read | load s | split s | train s | M updates/s | evaluate s | export s | total s | peak RSS MiB | bytes/rating |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for shape in wanted {
        let (name, ratings) = (shape.name, shape.ratings);
        let data = shape.synth(&root);
        let state = root.join(format!("{name}-state"));
        let _ = std::fs::remove_dir_all(&state);
        for _run in 0..2 {
            let args = ["--no-database", "--algorithm", &algorithm];
            let r = run::train(&state, "", &data, &args);
            let read = r.read();
            let updates = r.updates_per_second(ratings) / 1e6;
            println!(
                "| {name} | {ratings} | {read} | {:.2} | {:.2} | {:.2} | {updates:.1} | {:.2} | {:.2} | {:.2} | {:.0} | {:.1} |",
                r.step("load dataset"),
                r.step("combine"),
                r.step("train"),
                r.step("evaluate"),
                r.step("export"),
                r.wall,
                r.peak_mib,
                r.peak_mib * 1048576.0 / ratings as f64,
            );
        }
    }
    if !db_sizes.is_empty() {
        let base = Shape::named("ml-1m").synth(&root);
        db::bench(&root, &base, &db_sizes);
    }
}
