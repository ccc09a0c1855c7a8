//! A running `recd` daemon in a temp dir: config, synthetic dataset, models
//! and logs dirs, and a socket. Dropping it stops the daemon (SIGTERM, then
//! SIGKILL) and removes the dir.

#![allow(dead_code)]

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use recd::client::Client;
use serde_json::Value;

use super::Fixture;

pub struct Daemon {
    pub fixture: Fixture,
    pub child: Option<Child>,
}

/// What a daemon's config says, beyond what every test daemon has.
pub struct Setup<'a> {
    /// The `[paths]` dataset keys.
    pub dataset_keys: &'a str,
    /// Publish a model before the daemon starts.
    pub trained: bool,
    /// Extra environment.
    pub env: &'a [(&'a str, &'a str)],
    /// More keys of the `[daemon]` section.
    pub daemon_keys: &'a str,
    /// More keys of the `[training]` section; one named here replaces the
    /// small and quick default of that key.
    pub training_keys: &'a str,
    /// Whole sections after the others (`[schedule]`, `[notify]`, ...).
    pub sections: &'a str,
}

impl Default for Setup<'_> {
    fn default() -> Self {
        Setup {
            dataset_keys: "dataset = \"data\"\ndataset_url = \"\"",
            trained: true,
            env: &[],
            daemon_keys: "",
            training_keys: "",
            sections: "",
        }
    }
}

impl Setup<'_> {
    /// The config file's text.
    pub fn config(&self) -> String {
        let named = |key: &str| {
            self.training_keys
                .lines()
                .any(|l| l.split('=').next().map(str::trim) == Some(key))
        };
        let mut training = String::new();
        for (key, value) in [("n_factors", "8"), ("n_epochs", "10"), ("threads", "2")] {
            if !named(key) {
                training += &format!("{key} = {value}\n");
            }
        }
        // No admin group, unless the test names one.
        let admin_group = if self.daemon_keys.contains("admin_group") {
            ""
        } else {
            "admin_group = \"\"\n"
        };
        format!(
            "[paths]\nmodels_dir = \"models\"\nstate_dir = \"state\"\n{}\n\
             [training]\n{training}{}\n\
             [daemon]\nsocket = \"recd.sock\"\n{admin_group}shutdown_timeout_secs = 5\n{}\n\
             [logging]\ndir = \"logs\"\nlevel = \"debug\"\n{}\n",
            self.dataset_keys, self.training_keys, self.daemon_keys, self.sections
        )
    }
}

impl Daemon {
    /// A daemon with a model already published.
    pub fn start() -> Daemon {
        Daemon::start_with(true, &[], "")
    }

    /// `trained`: publish a model first; `env`: extra environment;
    /// `daemon_keys`: more keys of the `[daemon]` section.
    pub fn start_with(trained: bool, env: &[(&str, &str)], daemon_keys: &str) -> Daemon {
        Daemon::start_full(
            "dataset = \"data\"\ndataset_url = \"\"",
            trained,
            env,
            daemon_keys,
        )
    }

    /// As `start_with`, with the `[paths]` dataset keys given. Tests never
    /// leave `dataset_url` to its default: it names a host off this machine.
    pub fn start_full(
        dataset_keys: &str,
        trained: bool,
        env: &[(&str, &str)],
        daemon_keys: &str,
    ) -> Daemon {
        Daemon::start_setup(&Setup {
            dataset_keys,
            trained,
            env,
            daemon_keys,
            ..Setup::default()
        })
    }

    /// A daemon on the config `setup` describes.
    pub fn start_setup(setup: &Setup) -> Daemon {
        let fixture = Fixture::new();
        std::fs::write(fixture.path().join("recd.toml"), setup.config()).unwrap();
        if setup.trained {
            fixture.train(&[]).ok();
        }
        let mut d = Daemon {
            fixture,
            child: None,
        };
        d.spawn(setup.env);
        d.wait_ready();
        d
    }

    pub fn spawn(&mut self, env: &[(&str, &str)]) {
        let mut cmd = self.command(env);
        self.child = Some(cmd.spawn().expect("recd starts"));
    }

    /// The command `spawn` runs, for a test that changes it first.
    pub fn command(&self, env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_recd"));
        cmd.arg("--config")
            .arg(self.config())
            .env_remove("RECD_CONFIG")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    pub fn config(&self) -> PathBuf {
        self.fixture.path().join("recd.toml")
    }

    pub fn socket(&self) -> PathBuf {
        self.fixture.path().join("recd.sock")
    }

    pub fn models(&self) -> PathBuf {
        self.fixture.models()
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }

    /// Wait until the socket accepts connections.
    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while UnixStream::connect(self.socket()).is_err() {
            assert!(Instant::now() < deadline, "recd did not open its socket");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Wait until the daemon answers `health`: past [`Daemon::wait_ready`]
    /// (the socket is bound at once), its other listeners (HTTP, metrics)
    /// are bound too.
    pub fn wait_serving(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while let Err(e) = self.call("health", serde_json::json!({})) {
            assert!(Instant::now() < deadline, "recd does not answer: {e}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Wait up to 10 s for `needle` in the log (lines are written by a
    /// background thread); whether it came.
    pub fn wait_log(&self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.log_text().contains(needle) {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    pub fn client(&self) -> Client {
        Client::connect(&self.socket()).expect("connects")
    }

    pub fn call(&self, method: &str, params: Value) -> Result<Value, recd::client::CallError> {
        self.client().call_json(method, params)
    }

    /// Start a retrain long enough to be interrupted, on its own thread
    /// and connection; the thread ends with the retrain's reply.
    pub fn long_retrain(&self) -> std::thread::JoinHandle<Result<Value, recd::client::CallError>> {
        let socket = self.socket();
        std::thread::spawn(move || {
            Client::connect(&socket).unwrap().call_json(
                "retrain",
                serde_json::json!({ "epochs": 10_000, "factors": 256, "force": true }),
            )
        })
    }

    /// Wait up to `limit` for the first model (a daemon started untrained).
    pub fn wait_first_model(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.version().is_none() {
            assert!(Instant::now() < deadline, "no first model");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn version(&self) -> Option<String> {
        let h = self.call("health", serde_json::json!({})).unwrap();
        h.pointer("/model/version")
            .and_then(Value::as_str)
            .map(str::to_owned)
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.pid(), sig) };
    }

    /// Send SIGTERM and wait for the exit code.
    pub fn stop(&mut self) -> i32 {
        self.signal(libc::SIGTERM);
        self.wait_exit(Duration::from_secs(20))
    }

    pub fn wait_exit(&mut self, limit: Duration) -> i32 {
        let child = self.child.as_mut().expect("running");
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "recd did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `recctl` against this daemon.
    pub fn recctl(&self, args: &[&str]) -> super::Run {
        Command::new(env!("CARGO_BIN_EXE_recctl"))
            .arg("--socket")
            .arg(self.socket())
            .args(args)
            .output()
            .expect("recctl runs")
            .into()
    }

    /// Publish a new model with `recd train` (the daemon does not see it until reloaded).
    pub fn publish(&self, extra: &[&str]) -> String {
        let mut args = vec!["--force", "--json"];
        args.extend_from_slice(extra);
        let j = self.fixture.train(&args).ok().json();
        j["version"].as_str().unwrap().to_owned()
    }

    /// Wait until the ratings database is ready (`stats` says so).
    pub fn wait_db(&self) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(v) = self.call("stats", serde_json::json!({})) {
                if v["database"]["available"] == true {
                    return v;
                }
                assert!(
                    Instant::now() < deadline,
                    "the database never became ready: {}",
                    v["database"]
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Everything in the log files so far (written asynchronously).
    pub fn log_text(&self) -> String {
        let dir = self.fixture.path().join("logs");
        std::fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn raw_exchange(socket: &Path, bytes: &[u8], read_lines: usize) -> Vec<Value> {
    use std::io::{BufRead, BufReader, Write};
    let mut s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(bytes).unwrap();
    let mut r = BufReader::new(s);
    (0..read_lines)
        .map(|_| {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
        })
        .collect()
}
