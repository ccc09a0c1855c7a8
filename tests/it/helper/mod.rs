//! The fixture integration tests share: a temp dir with a synthetic dataset
//! and a models dir, and the real `recd` binary run against them. The temp
//! dir is removed when the fixture drops.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod daemon;
pub mod pg;

pub struct Fixture {
    pub dir: tempfile::TempDir,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}): {}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }

    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// The error code of a call that must fail.
pub fn code(r: Result<serde_json::Value, recd::client::CallError>) -> recd::protocol::ErrorCode {
    r.expect_err("an error reply")
        .code()
        .expect("an error code")
}

/// Run `f` as user nobody in a forked child; its exit code is the verdict.
#[cfg(target_os = "linux")]
pub fn as_nobody(f: impl FnOnce() -> bool) -> bool {
    // SAFETY: the child only calls async-signal-safe setuid/setgid, then runs
    // `f` (socket I/O) and _exits; the test process is not otherwise touched.
    unsafe {
        let pid = libc::fork();
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let ok = libc::setgroups(0, std::ptr::null()) == 0
                && libc::setgid(65534) == 0
                && libc::setuid(65534) == 0
                && f();
            libc::_exit(if ok { 0 } else { 1 });
        }
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
    }
}

/// Whether the long mode of the crash, property and soak suites is asked
/// for (`RECD_LONG_TESTS=1`): more iterations, cases and time than CI runs.
pub fn long_tests() -> bool {
    std::env::var_os("RECD_LONG_TESTS").is_some_and(|v| !v.is_empty() && v != "0")
}

/// A number from the environment variable `name`, else `default`.
pub fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a whole number")),
        Err(_) => default,
    }
}

/// The seed of a randomised test: `RECD_TEST_SEED`, else the clock; printed
/// so a failure can be replayed.
pub fn seed(test: &str) -> u64 {
    let seed = env_number(
        "RECD_TEST_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
    );
    println!("{test}: seed {seed} (replay with RECD_TEST_SEED={seed})");
    seed
}

pub fn recd(args: &[&str]) -> Run {
    Command::new(env!("CARGO_BIN_EXE_recd"))
        .args(args)
        .env_remove("RECD_CONFIG")
        .output()
        .expect("the recd binary runs")
        .into()
}

/// `$RECD_DATASETS`, or `None` after saying that `test` is skipped.
pub fn datasets(test: &str) -> Option<PathBuf> {
    match std::env::var_os("RECD_DATASETS").filter(|v| !v.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir)),
        None => {
            println!("SKIPPED {test}: RECD_DATASETS is not set (point it at the MovieLens datasets folder)");
            None
        }
    }
}

impl Fixture {
    /// A fixture with a synthetic dataset of 300 users, 200 movies and
    /// 15,000 ratings in `data/`.
    pub fn new() -> Fixture {
        let f = Fixture {
            dir: tempfile::tempdir().unwrap(),
        };
        let data = f.data();
        recd(&[
            "synth",
            "--users",
            "300",
            "--items",
            "200",
            "--ratings",
            "15000",
            "--seed",
            "3",
            "--out",
            data.to_str().unwrap(),
        ])
        .ok();
        f
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn data(&self) -> PathBuf {
        self.path().join("data")
    }

    pub fn models(&self) -> PathBuf {
        self.path().join("models")
    }

    /// `recd train` on the fixture's dataset and models dir, small and quick.
    pub fn train(&self, extra: &[&str]) -> Run {
        let (data, models) = (self.data(), self.models());
        let mut args = vec![
            "train",
            "--dataset",
            data.to_str().unwrap(),
            "--models-dir",
            models.to_str().unwrap(),
        ];
        // The dataset alone unless the test names a config (whose database
        // it then uses): never the packaged default database.
        if !extra.contains(&"--config") {
            args.push("--no-database");
        }
        // Small and quick, unless the test sets these itself.
        for (flag, value) in [("--factors", "8"), ("--epochs", "10"), ("--threads", "2")] {
            if !extra.contains(&flag) {
                args.extend([flag, value]);
            }
        }
        args.extend_from_slice(extra);
        recd(&args)
    }

    /// File names in the models dir, sorted.
    /// The models dir's entries but the publish lock.
    pub fn model_files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.models())
            .map(|rd| {
                rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .filter(|n| n != ".publish.lock")
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}
