//! `recd train` end to end on synthetic sets of real shapes, run as the real
//! binary: each step's time (from its report), the wall time and the peak
//! RSS of the whole process; then the time a retrain takes to read 1M or
//! 10M ratings out of SQLite and out of PostgreSQL.
//!
//! `cargo bench --bench scale [-- --shapes ml-1m,ml-10m,ml-25m,netflix]
//! [--db-ratings 1000000,10000000] [--dir DIR] [--algorithm NAME]`
//!
//! Sets are generated with `recd synth --seed 1` into DIR (default a temp
//! dir) unless already there. Each shape is trained twice: first parsing
//! the ratings file (and writing the binary copy), then reading the copy.
//! The model is `svd` (the point is the trainer's speed and memory at scale)
//! unless `--algorithm` names another. `--db-ratings ""` skips the database
//! part; PostgreSQL's half needs its server binaries (a private instance is
//! started).

mod db;
mod run;

use std::path::Path;

use run::recd;

/// Name, users, items, ratings.
const SHAPES: [(&str, u32, u32, u64); 4] = [
    ("ml-1m", 6_040, 3_706, 1_000_209),
    ("ml-10m", 69_878, 10_677, 10_000_054),
    ("ml-25m", 162_541, 59_047, 25_000_095),
    ("netflix", 480_189, 17_770, 100_480_507),
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|p| args.get(p + 1))
            .cloned()
    };
    let wanted = value("--shapes").unwrap_or_else(|| "ml-1m,ml-25m".into());
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
    for (name, users, items, ratings) in SHAPES {
        if !wanted.split(',').any(|w| w == name) {
            continue;
        }
        let data = synth(&root, name, users, items, ratings);
        let state = root.join(format!("{name}-state"));
        let _ = std::fs::remove_dir_all(&state);
        for _ in ["parsed", "binary copy"] {
            let args = ["--no-database", "--algorithm", &algorithm];
            let r = run::train(&state, "", &data, &args);
            let read = if r
                .detail("load dataset")
                .contains("read from the binary copy")
            {
                "binary copy"
            } else {
                "parsed"
            };
            let updates = 0.9 * ratings as f64 * r.epochs as f64 / r.step("train") / 1e6;
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
        let base = synth(&root, "ml-1m", 6_040, 3_706, 1_000_209);
        db::bench(&root, &base, &db_sizes);
    }
}

/// The synthetic set `name` under `root`, generated unless already there.
fn synth(root: &Path, name: &str, users: u32, items: u32, ratings: u64) -> std::path::PathBuf {
    let data = root.join(name);
    if !data.join("ratings.dat").exists() {
        let (u, i, r) = (users.to_string(), items.to_string(), ratings.to_string());
        let out = data.to_str().unwrap();
        let args = [
            "synth",
            "--users",
            &u,
            "--items",
            &i,
            "--ratings",
            &r,
            "--seed",
            "1",
            "--out",
            out,
        ];
        let r = recd(&args);
        eprintln!("{name}: generated in {:.1} s", r.wall);
    }
    data
}
