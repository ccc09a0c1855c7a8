//! Running `recd` (or another program) as a process: its output, wall time
//! and peak RSS, and the step times of a `recd train` report.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// What a finished process left.
pub struct Ran {
    pub stdout: String,
    pub wall: f64,
    pub peak_mib: f64,
}

/// Run `recd` with `args` to its end; it must succeed.
pub fn recd(args: &[&str]) -> Ran {
    process(Path::new(env!("CARGO_BIN_EXE_recd")), args)
}

/// Run `program` with `args` to its end; it must succeed.
// The child is reaped by wait4 below, which std's Child cannot see.
#[allow(clippy::zombie_processes)]
pub fn process(program: &Path, args: &[&str]) -> Ran {
    let start = Instant::now();
    let out = tempfile::tempfile().expect("temp file");
    let child = Command::new(program)
        .args(args)
        .stdout(out.try_clone().expect("dup"))
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("{} does not start: {e}", program.display()));
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own unwaited child; status and usage are valid
    // pointers. wait4 gives this child's own peak RSS (ru_maxrss, KiB).
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4 failed");
    let wall = start.elapsed().as_secs_f64();
    let mut stdout = String::new();
    use std::io::{Read, Seek};
    let mut out = out;
    out.rewind().expect("rewind");
    out.read_to_string(&mut stdout).expect("output");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{} {args:?} failed:\n{stdout}",
        program.display()
    );
    Ran {
        stdout,
        wall,
        peak_mib: usage.ru_maxrss as f64 / 1024.0,
    }
}

/// `recd train` with the state directory `state` (its config adds `config`
/// to `paths.state_dir`) and the models in a fresh `state/models`; `args`
/// after `--force`. The state directory is made afresh when its config
/// differs, and survives between calls with the same `config`, so that a
/// second run finds the binary copy.
pub fn train(state: &Path, config: &str, dataset: &Path, args: &[&str]) -> TrainRun {
    let file = state.join("recd.toml");
    let text = format!("[paths]\nstate_dir = \"{}\"\n{config}", state.display());
    if std::fs::read_to_string(&file).ok().as_deref() != Some(text.as_str()) {
        let _ = std::fs::remove_dir_all(state);
        std::fs::create_dir_all(state).expect("state dir");
        std::fs::write(&file, text).expect("config");
    }
    let models = state.join("models");
    let _ = std::fs::remove_dir_all(&models);
    let mut all = vec![
        "train",
        "--config",
        file.to_str().unwrap(),
        "--dataset",
        dataset.to_str().unwrap(),
        "--models-dir",
        models.to_str().unwrap(),
        "--force",
    ];
    all.extend_from_slice(args);
    TrainRun::of(recd(&all))
}

/// A `recd train` run's figures.
pub struct TrainRun {
    pub wall: f64,
    pub peak_mib: f64,
    pub epochs: usize,
    /// (step, seconds, detail) as printed: `[k/6] step   1.234s  detail`.
    steps: Vec<(String, f64, String)>,
}

impl TrainRun {
    pub fn of(ran: Ran) -> TrainRun {
        let mut steps = Vec::new();
        let mut epochs = 0;
        for line in ran.stdout.lines() {
            if let Some(rest) = line.strip_prefix('[').and_then(|l| l.split_once("] ")) {
                let fields: Vec<&str> = rest.1.split("  ").filter(|f| !f.is_empty()).collect();
                if let [name, secs, detail @ ..] = fields.as_slice() {
                    if let Ok(s) = secs.trim().trim_end_matches('s').parse::<f64>() {
                        steps.push((name.trim().to_owned(), s, detail.join(" ")));
                    }
                }
            }
            if let Some(e) = line.trim().strip_prefix("epoch") {
                if let Some((_, of)) = e.split_whitespace().next().and_then(|f| f.split_once('/')) {
                    epochs = of.parse().unwrap_or(epochs);
                }
            }
        }
        TrainRun {
            wall: ran.wall,
            peak_mib: ran.peak_mib,
            epochs,
            steps,
        }
    }

    /// A step's seconds (NaN if it did not report).
    pub fn step(&self, name: &str) -> f64 {
        self.steps
            .iter()
            .find(|(n, ..)| n == name)
            .map_or(f64::NAN, |(_, s, _)| *s)
    }

    /// How the base dataset was read: "binary copy" or "parsed".
    pub fn read(&self) -> &'static str {
        if self
            .detail("load dataset")
            .contains("read from the binary copy")
        {
            "binary copy"
        } else {
            "parsed"
        }
    }

    /// Rating updates a second in the train step, for a set of `ratings`
    /// of which the default holdout is not trained on.
    pub fn updates_per_second(&self, ratings: u64) -> f64 {
        trained_share() * ratings as f64 * self.epochs as f64 / self.step("train")
    }

    /// A step's detail text.
    pub fn detail(&self, name: &str) -> &str {
        self.steps
            .iter()
            .find(|(n, ..)| n == name)
            .map_or("", |(.., d)| d)
    }
}

/// The share of a set's ratings `recd train` trains on: all but the
/// default holdout.
pub fn trained_share() -> f64 {
    1.0 - recd::config::Training::default().holdout_fraction
}
