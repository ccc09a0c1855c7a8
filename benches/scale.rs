//! `recd train` end to end on synthetic sets of real shapes, run as the real
//! binary: wall time and peak RSS of the whole process.
//!
//! `cargo bench --bench scale [-- --shapes ml-1m,ml-25m,netflix] [--dir DIR]
//! [--algorithm NAME]` Sets are generated with `recd synth` into DIR (default
//! a temp dir) unless already there. The model is `svd` (the point is the
//! trainer's speed and memory at scale) unless `--algorithm` names another.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

const SHAPES: [(&str, u32, u32, u64); 3] = [
    ("ml-1m", 6_040, 3_706, 1_000_209),
    ("ml-25m", 162_541, 59_047, 25_000_095),
    ("netflix", 480_189, 17_770, 100_480_507),
];

/// Run `recd` with `args`; its wall seconds and peak RSS in MiB.
// The child is reaped by wait4 below, which std's Child cannot see.
#[allow(clippy::zombie_processes)]
fn run(args: &[&str]) -> (f64, f64) {
    let start = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_recd"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("recd starts");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own unwaited child; status and usage are valid
    // pointers. wait4 gives this child's own peak RSS (ru_maxrss, KiB).
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4 failed");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "recd {args:?} failed"
    );
    (
        start.elapsed().as_secs_f64(),
        usage.ru_maxrss as f64 / 1024.0,
    )
}

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
    let temp = tempfile::tempdir().expect("temp dir");
    let root = value("--dir")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| temp.path().to_owned());
    println!("{algorithm}, its defaults");
    println!(
        "| shape | users | items | ratings | synth s | train s (end to end) | train peak RSS MiB |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, users, items, ratings) in SHAPES {
        if !wanted.split(',').any(|w| w == name) {
            continue;
        }
        let data = root.join(name);
        let synth = if Path::new(&data).join("ratings.dat").exists() {
            f64::NAN
        } else {
            let (u, i, r) = (users.to_string(), items.to_string(), ratings.to_string());
            run(&[
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
                data.to_str().unwrap(),
            ])
            .0
        };
        let models = root.join(format!("{name}-models"));
        let (secs, rss) = run(&[
            "train",
            "--dataset",
            data.to_str().unwrap(),
            "--models-dir",
            models.to_str().unwrap(),
            "--force",
            "--algorithm",
            &algorithm,
        ]);
        println!("| {name} | {users} | {items} | {ratings} | {synth} | {secs:.2} | {rss:.0} |");
    }
}
