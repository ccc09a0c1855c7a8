//! SIGKILL `recd train` and the daemon while they retrain, at random
//! moments and at each pause point of a publish (`RECD_TEST_PAUSE_PUBLISH`,
//! `recd::model::publish::pause`). After every kill `current` opens and
//! verifies and is the version before the publish or the one it was
//! publishing, as the point implies; a later publish, paused, shows no temp
//! file of an earlier one; the daemon restarted has removed every temp file
//! and serves `current`.
//!
//! 200 kills in CI, 2000 with `RECD_LONG_TESTS=1`, N with
//! `RECD_CRASH_ITERATIONS=N`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use recd::client::{CallError, Client};
use recd::model::publish::pause::{self, Point};
use recd::model::publish::ModelsDir;
use recd::rng::Rng;
use serde_json::{json, Value};
use strum::IntoEnumIterator;

use crate::helper::daemon::{Daemon, Setup};
use crate::helper::{env_number, long_tests, seed};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Victim {
    Train,
    Daemon,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Aim {
    At(Point),
    Random,
}

/// What the loop saw; every list but the counts must stay empty.
#[derive(Default)]
struct Tally {
    aimed: usize,
    random: usize,
    became_new: usize,
    invalid: Vec<String>,
    stale: Vec<String>,
    not_served: Vec<String>,
}

struct Loop {
    d: Daemon,
    rng: Rng,
    marker: PathBuf,
    plan: Vec<(Victim, Aim)>,
    train_time: Duration,
    retrain_time: Duration,
}

/// Half the kills aimed at a pause point (each point in turn), half at a
/// random moment; `recd train` and the daemon alternate.
fn plan(n: usize) -> Vec<(Victim, Aim)> {
    let points: Vec<Point> = Point::iter().collect();
    (0..n)
        .map(|i| {
            let victim = if i % 2 == 0 {
                Victim::Train
            } else {
                Victim::Daemon
            };
            let j = i / 2;
            let aim = if j % 2 == 0 {
                Aim::At(points[(j / 2) % points.len()])
            } else {
                Aim::Random
            };
            (victim, aim)
        })
        .collect()
}

/// The version a temp file in the models dir belongs to, if it is one.
fn temp_version(name: &str) -> Option<String> {
    let rest = name.strip_prefix(".tmp-")?;
    let rest = rest.strip_prefix("current-").unwrap_or(rest);
    Some(rest.strip_suffix(".recd").unwrap_or(rest).to_owned())
}

fn temp_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp-"))
        .collect();
    names.sort();
    names
}

/// `current` after a kill: it opens and verifies, its metadata is its own
/// version's, and it is `old` or the one new version. Returns it.
fn check_current(dir: &ModelsDir, before: &BTreeSet<String>, old: &str) -> Result<String, String> {
    let version = dir
        .current_version()
        .map_err(|e| format!("current unreadable: {e}"))?
        .ok_or("current is gone")?;
    let model = dir
        .open_current()
        .map_err(|e| format!("current ({version}) does not open: {e}"))?
        .ok_or("current is gone")?;
    if model.metadata().version != version {
        return Err(format!(
            "current names {version} but its file says {}",
            model.metadata().version
        ));
    }
    let new: Vec<String> = dir
        .versions()
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|v| !before.contains(v))
        .collect();
    if new.len() > 1 {
        return Err(format!("more than one new version: {new:?}"));
    }
    if version != old && !new.contains(&version) {
        return Err(format!("current is {version}, neither {old} nor {new:?}"));
    }
    Ok(version)
}

impl Loop {
    fn pause_env(&self, aim: Aim) -> Option<(&'static str, String)> {
        let Aim::At(point) = aim else { return None };
        let name: &'static str = point.into();
        Some((pause::ENV, format!("{name}:{}", self.marker.display())))
    }

    /// SIGKILL the daemon if it runs, start it again (paused at the next
    /// kill's point when the next victim is the daemon), and check it
    /// serves `current`.
    fn restart(&mut self, next: Option<(Victim, Aim)>, tally: &mut Tally) {
        if self.d.child.is_some() {
            self.d.signal(libc::SIGKILL);
            self.d.wait_exit(Duration::from_secs(10));
        }
        let env = match next {
            Some((Victim::Daemon, aim)) => self.pause_env(aim),
            _ => None,
        };
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.d.spawn(&env);
        self.d.wait_ready();
        self.d.wait_db();
        let current = ModelsDir::new(self.d.models()).current_version().unwrap();
        let served = self.d.version();
        if served != current {
            tally
                .not_served
                .push(format!("serves {served:?}, current is {current:?}"));
        }
        // Serving means the start is done, and with it the removal of what
        // a killed publish left: no temp file survives a start.
        let left = temp_files(&self.d.models());
        if !left.is_empty() {
            tally
                .stale
                .push(format!("temp files after a restart: {left:?}"));
        }
    }

    fn spawn_train(&self, aim: Aim) -> Child {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_recd"));
        cmd.args(["train", "--force", "--no-reload", "--config"])
            .arg(self.d.config())
            .env_remove("RECD_CONFIG")
            .env_remove(pause::ENV)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some((k, v)) = self.pause_env(aim) {
            cmd.env(k, v);
        }
        cmd.spawn().expect("recd train starts")
    }

    fn spawn_retrain(&self) -> JoinHandle<Result<Value, CallError>> {
        let socket = self.d.socket();
        // A kill at a random moment may come before the connection: the
        // daemon is then gone before the request, which is an answer too.
        std::thread::spawn(move || {
            Client::connect(&socket)
                .map_err(|e| CallError::Io(std::io::Error::other(e.to_string())))?
                .call_json("retrain", json!({ "force": true }))
        })
    }

    /// Wait for the pause point's file while `running` says the victim
    /// still works; then check no earlier publish left a temp file.
    fn wait_paused(
        &self,
        before: &BTreeSet<String>,
        mut running: impl FnMut() -> bool,
    ) -> Result<Vec<String>, String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.marker.exists() {
            if !running() {
                return Err("finished without reaching the pause point".into());
            }
            if Instant::now() > deadline {
                return Err("never reached the pause point".into());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let temps = temp_files(&self.d.models());
        let versions: BTreeSet<Option<String>> = temps.iter().map(|n| temp_version(n)).collect();
        let earlier = versions.len() > 1
            || versions
                .iter()
                .any(|v| v.as_ref().is_none_or(|v| before.contains(v)));
        Ok(if earlier { temps } else { Vec::new() })
    }

    fn random_delay(&mut self, typical: Duration) -> Duration {
        let span = typical.as_micros() as u64 * 6 / 5 + 1;
        Duration::from_micros(self.rng.below(span))
    }

    /// Start the victim's retrain, kill it as aimed; returns the temp files
    /// of earlier publishes a paused publish saw.
    fn kill(
        &mut self,
        victim: Victim,
        aim: Aim,
        before: &BTreeSet<String>,
    ) -> Result<Vec<String>, String> {
        let _ = std::fs::remove_file(&self.marker);
        match victim {
            Victim::Train => {
                let mut child = self.spawn_train(aim);
                let stale = match aim {
                    Aim::At(_) => self.wait_paused(before, || child.try_wait().unwrap().is_none()),
                    Aim::Random => {
                        let delay = self.random_delay(self.train_time);
                        std::thread::sleep(delay);
                        Ok(Vec::new())
                    }
                };
                let _ = child.kill();
                child.wait().unwrap();
                stale
            }
            Victim::Daemon => {
                let reply = self.spawn_retrain();
                let stale = match aim {
                    Aim::At(_) => self.wait_paused(before, || !reply.is_finished()),
                    Aim::Random => {
                        let delay = self.random_delay(self.retrain_time);
                        std::thread::sleep(delay);
                        Ok(Vec::new())
                    }
                };
                self.d.signal(libc::SIGKILL);
                self.d.wait_exit(Duration::from_secs(10));
                let answer = reply.join().unwrap();
                if let (Aim::At(_), Ok(v)) = (aim, answer) {
                    return Err(format!("the retrain answered instead of pausing: {v}"));
                }
                stale
            }
        }
    }

    fn iteration(&mut self, i: usize, tally: &mut Tally) {
        let (victim, aim) = self.plan[i];
        let dir = ModelsDir::new(self.d.models());
        let before: BTreeSet<String> = dir.versions().unwrap().into_iter().collect();
        let old = dir.current_version().unwrap().expect("a current model");
        let what = format!("kill {i} ({victim:?}, {aim:?})");
        match self.kill(victim, aim, &before) {
            Ok(stale) if !stale.is_empty() => tally.stale.push(format!(
                "{what}: earlier temp files at the pause: {stale:?}"
            )),
            Ok(_) => {}
            Err(e) => tally.invalid.push(format!("{what}: {e}")),
        }
        match check_current(&dir, &before, &old) {
            Ok(version) => {
                let became_new = version != old;
                tally.became_new += usize::from(became_new);
                // Until `current` is renamed over, readers see the old one;
                // from then on, the new.
                let want_new = match aim {
                    Aim::At(p) => Some(matches!(p, Point::Switched | Point::Pruning)),
                    Aim::Random => None,
                };
                if want_new.is_some_and(|w| w != became_new) {
                    tally.invalid.push(format!(
                        "{what}: current is {version} (old {old}), new expected: {want_new:?}"
                    ));
                }
            }
            Err(e) => tally.invalid.push(format!("{what}: {e}")),
        }
        match aim {
            Aim::At(_) => tally.aimed += 1,
            Aim::Random => tally.random += 1,
        }
        let next = self.plan.get(i + 1).copied();
        self.restart(next, tally);
    }
}

#[test]
fn crash_loop_sigkill_during_retrain_and_publish() {
    let n = env_number(
        "RECD_CRASH_ITERATIONS",
        if long_tests() { 2000 } else { 200 },
    ) as usize;
    // The SGD model: hundreds of runs, each as short as it can be.
    let setup = Setup {
        sections: "[models]\nkeep_backups = 2\n",
        training_keys: "algorithm = \"svd\"",
        ..Setup::default()
    };
    let d = Daemon::start_setup(&setup);
    d.wait_db();
    let marker = d.fixture.path().join("paused-at");
    let mut l = Loop {
        rng: Rng::new(seed("crash_loop_sigkill_during_retrain_and_publish")),
        marker,
        plan: plan(n),
        train_time: Duration::ZERO,
        retrain_time: Duration::ZERO,
        d,
    };
    // How long each takes unkilled: random kills land within that.
    let t = Instant::now();
    let status = l.spawn_train(Aim::Random).wait().unwrap();
    assert!(status.success(), "recd train: {status}");
    l.train_time = t.elapsed();
    let t = Instant::now();
    let r = l.spawn_retrain().join().unwrap().unwrap();
    assert_eq!(r["state"], "published", "{r}");
    l.retrain_time = t.elapsed();

    let started = Instant::now();
    let mut tally = Tally::default();
    for i in 0..n {
        l.iteration(i, &mut tally);
    }
    // Unkilled publishes, by each, clean up whatever the kills left.
    assert!(l.spawn_train(Aim::Random).wait().unwrap().success());
    let r = l.spawn_retrain().join().unwrap().unwrap();
    assert_eq!(r["state"], "published", "{r}");
    let left = temp_files(&l.d.models());

    println!(
        "crash loop: {n} kills in {:.1} s ({} at pause points, {} at random moments; \
         recd train {:?}, retrain {:?} unkilled), current became the new version {} times; \
         invalid models: {}, stale temp files: {}, restarts not serving current: {}, \
         temp files after a clean publish: {}",
        started.elapsed().as_secs_f64(),
        tally.aimed,
        tally.random,
        l.train_time,
        l.retrain_time,
        tally.became_new,
        tally.invalid.len(),
        tally.stale.len(),
        tally.not_served.len(),
        left.len(),
    );
    assert!(tally.invalid.is_empty(), "{:#?}", tally.invalid);
    assert!(tally.stale.is_empty(), "{:#?}", tally.stale);
    assert!(tally.not_served.is_empty(), "{:#?}", tally.not_served);
    assert!(left.is_empty(), "{left:?}");
}
