//! The record of training runs and the retraining schedule through the real
//! binaries: `history`, `schedule`, its pause across a restart, job ids
//! that are run ids, scheduled runs firing (and skipping, and being busy),
//! the maximum duration, notifications, and schedule keys refused.

use crate::helper;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use helper::daemon::{Daemon, Setup};
use helper::Run;
use serde_json::{json, Value};

/// Daily at 03:30 in Madrid: never due while a test runs.
const DAILY: &str = "[schedule]\nmode = \"daily\"\nat = \"03:30\"\ntimezone = \"Europe/Madrid\"\n";

/// Every two seconds (six fields, seconds first).
const EVERY_2S: &str = "[schedule]\ncron = \"*/2 * * * * *\"\n";

/// Every second.
const EVERY_1S: &str = "[schedule]\ncron = \"* * * * * *\"\n";

fn daemon(training_keys: &str, sections: &str) -> Daemon {
    Daemon::start_setup(&Setup {
        training_keys,
        sections,
        ..Setup::default()
    })
}

/// Poll `probe` until it gives a value; past `limit`, fail with what it
/// last said.
fn wait_for<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        match probe() {
            Ok(t) => return t,
            Err(last) => assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; last: {last}"
            ),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `recctl --json history ARGS`: the runs, newest first.
fn history(d: &Daemon, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["--json", "history"];
    all.extend_from_slice(args);
    let j = d.recctl(&all).ok().json();
    j["runs"].as_array().expect("runs").clone()
}

fn ids(runs: &[Value]) -> Vec<i64> {
    runs.iter().map(|r| r["id"].as_i64().unwrap()).collect()
}

fn field<'a>(runs: &'a [Value], key: &str) -> Vec<&'a str> {
    runs.iter().map(|r| r[key].as_str().unwrap()).collect()
}

fn strings(list: &Value) -> Vec<&str> {
    let items = list.as_array().expect("a list");
    items.iter().map(|t| t.as_str().expect("text")).collect()
}

fn health(d: &Daemon) -> Value {
    d.recctl(&["--json", "health"]).ok().json()
}

fn schedule(d: &Daemon) -> Value {
    d.recctl(&["--json", "schedule"]).ok().json()
}

/// Restart the daemon on its config (as it is now on disk).
fn restart(d: &mut Daemon) {
    assert_eq!(d.stop(), 0, "a clean stop");
    d.spawn(&[]);
    d.wait_ready();
}

/// Change the daemon's config file in place (for its next start).
fn edit_config(d: &Daemon, from: &str, to: &str) {
    let text = std::fs::read_to_string(d.config()).unwrap();
    assert!(text.contains(from), "{from:?} not in the config:\n{text}");
    std::fs::write(d.config(), text.replace(from, to)).unwrap();
}

/// A manual retrain through recctl; its reply.
fn retrain(d: &Daemon, args: &[&str]) -> Value {
    let mut all = vec!["--json", "retrain"];
    all.extend_from_slice(args);
    d.recctl(&all).ok().json()
}

fn timestamp(text: &str) -> jiff::Timestamp {
    text.parse()
        .unwrap_or_else(|e| panic!("not an RFC 3339 time: {text:?}: {e}"))
}

#[test]
fn history_and_schedule_through_recctl() {
    let d = daemon("", DAILY);
    let manual = retrain(&d, &["--epochs", "3", "--force"]);
    assert_eq!(manual["state"], "published", "{manual}");
    assert_eq!(manual["trigger"], "manual");
    let manual_id = manual["id"].as_i64().unwrap();
    let manual_version = manual["outcome"]["version"].as_str().unwrap().to_owned();

    // `recd train` on the daemon's config records its run in the same
    // database.
    let config = d.config();
    let offline = d
        .fixture
        .train(&["--config", config.to_str().unwrap(), "--force", "--json"])
        .ok()
        .json();
    let offline_id = offline["run_id"].as_i64().expect("the offline run's id");
    let offline_version = offline["version"].as_str().unwrap().to_owned();

    // Gated: no new ratings at all, far below the threshold.
    let skipped = retrain(&d, &["--min-ratings", "1000000"]);
    assert_eq!(skipped["state"], "skipped", "{skipped}");
    let skipped_id = skipped["id"].as_i64().unwrap();
    assert!(manual_id < offline_id && offline_id < skipped_id);

    let runs = history(&d, &[]);
    assert_eq!(
        ids(&runs),
        [skipped_id, offline_id, manual_id],
        "newest first"
    );
    assert_eq!(field(&runs, "trigger"), ["manual", "offline", "manual"]);
    assert_eq!(
        field(&runs, "status"),
        ["skipped", "published", "published"]
    );
    assert_eq!(runs[2]["model_version"], json!(manual_version));
    assert_eq!(runs[1]["model_version"], json!(offline_version));
    assert_eq!(runs[0]["new_ratings"], 0);
    let reason = runs[0]["reason"].as_str().unwrap();
    assert!(reason.contains("threshold of 1000000"), "{reason}");
    for r in &runs {
        assert!(r["finished_at"].is_string(), "an ended run: {r}");
    }

    let only = history(&d, &["--status", "skipped"]);
    assert_eq!(ids(&only), [skipped_id]);
    assert_eq!(ids(&history(&d, &["--trigger", "offline"])), [offline_id]);
    assert_eq!(ids(&history(&d, &["--limit", "1"])), [skipped_id]);
    assert_eq!(ids(&history(&d, &["-n", "2"])), [skipped_id, offline_id]);
    assert!(history(&d, &["--status", "cancelled"]).is_empty());
    assert_eq!(d.recctl(&["history", "--status", "nonsense"]).code, 2);

    let human = d.recctl(&["history"]).ok().stdout;
    let lines: Vec<&str> = human.lines().collect();
    assert_eq!(lines.len(), 4, "a header and three rows:\n{human}");
    for word in ["id", "trigger", "status", "started"] {
        assert!(lines[0].contains(word), "{human}");
    }
    let offline_row = lines
        .iter()
        .find(|l| l.split_whitespace().next() == Some(&offline_id.to_string()))
        .unwrap_or_else(|| panic!("no row for run {offline_id}:\n{human}"));
    for word in ["offline", "published", &offline_version] {
        assert!(offline_row.contains(word), "{offline_row}");
    }

    let s = schedule(&d);
    assert_eq!(s["schedule"], "daily at 03:30", "{s}");
    assert_eq!(s["expression"], "30 3 * * *");
    assert_eq!(s["timezone"], "Europe/Madrid");
    assert_eq!(s["paused"], false);
    assert_eq!(s["last_success"]["id"], json!(offline_id));
    let (next, local) = (strings(&s["next"]), strings(&s["next_local"]));
    assert_eq!((next.len(), local.len()), (5, 5), "{s}");
    let now = jiff::Timestamp::now();
    let first = timestamp(next[0]);
    assert!(
        first > now && first.duration_since(now) <= jiff::SignedDuration::from_hours(25),
        "the first run is within a day: {first}"
    );
    for (i, (utc, here)) in next.iter().zip(&local).enumerate() {
        assert_eq!(
            timestamp(utc),
            timestamp(here),
            "the same time: {utc} {here}"
        );
        assert_eq!(&here[10..19], "T03:30:00", "at 03:30 in Madrid: {here}");
        if i > 0 {
            let (prev, this): (jiff::civil::Date, jiff::civil::Date) = (
                local[i - 1][..10].parse().unwrap(),
                here[..10].parse().unwrap(),
            );
            assert_eq!(prev.tomorrow().unwrap(), this, "a day apart: {local:?}");
            // A day of 24 h, unless the clocks change in it.
            let gap = timestamp(utc).duration_since(timestamp(next[i - 1]));
            if local[i - 1][19..] == here[19..] {
                assert_eq!(gap, jiff::SignedDuration::from_hours(24), "{next:?}");
            }
        }
    }
    assert_eq!(health(&d)["next_run"], json!(next[0]));
    let more = d.recctl(&["--json", "schedule", "--next", "8"]).ok().json();
    assert_eq!(more["next"].as_array().unwrap().len(), 8);
    let human = d.recctl(&["schedule"]).ok().stdout;
    for word in [
        "daily at 03:30",
        "30 3 * * *",
        "Europe/Madrid",
        &local[0][..16],
    ] {
        assert!(human.contains(word), "{word:?} not in:\n{human}");
    }
}

/// Pause, restart, resume, restart. Regression: the daemon answered
/// before it had read the pause back from the database, so right after a
/// restart `schedule` said "paused: false" and `schedule resume` said
/// "already running" and changed nothing (the pause then came back).
fn pause_and_resume(database: &str) {
    let sections = format!("{DAILY}{database}");
    let mut d = daemon("", &sections);
    let next_run = wait_for("the schedule's next run", Duration::from_secs(10), || {
        let h = health(&d);
        h["next_run"]
            .as_str()
            .map(str::to_owned)
            .ok_or(h.to_string())
    });
    let p = d.recctl(&["--json", "schedule", "pause"]).ok().json();
    assert_eq!(p, json!({ "paused": true, "changed": true }));
    let again = d.recctl(&["schedule", "pause"]).ok().stdout;
    assert_eq!(again.trim(), "schedule already paused");
    let s = schedule(&d);
    assert_eq!(s["paused"], true, "{s}");
    assert!(s["paused_at"].is_string(), "{s}");
    assert_eq!(s["next"], json!([]));
    wait_for("no next run while paused", Duration::from_secs(5), || {
        let h = health(&d);
        h.get("next_run")
            .is_none()
            .then_some(())
            .ok_or(h.to_string())
    });

    // Asked as soon as the daemon answers: the pause is the database's,
    // not only the last daemon's.
    restart(&mut d);
    let s = schedule(&d);
    assert_eq!(s["paused"], true, "still paused after a restart: {s}");
    assert_eq!(s["next"], json!([]));
    assert!(health(&d).get("next_run").is_none());

    restart(&mut d);
    let r = d.recctl(&["schedule", "resume"]).ok().stdout;
    assert_eq!(
        r.trim(),
        "schedule running",
        "resumed as soon as it answers"
    );
    let s = schedule(&d);
    assert_eq!(s["paused"], false, "{s}");
    assert_eq!(s["next"][0], json!(next_run), "the same daily time");
    wait_for("the next run back", Duration::from_secs(10), || {
        let h = health(&d);
        (h["next_run"] == json!(next_run))
            .then_some(())
            .ok_or(h.to_string())
    });
    let again = d.recctl(&["--json", "schedule", "resume"]).ok().json();
    assert_eq!(again, json!({ "paused": false, "changed": false }));

    // Resumed is durable too.
    restart(&mut d);
    assert_eq!(schedule(&d)["paused"], false);
}

#[test]
fn pause_and_resume_survive_a_restart() {
    pause_and_resume("");
}

#[test]
fn pause_and_resume_survive_a_restart_on_postgresql() {
    let Some(pg) = helper::pg::Postgres::start("pause_and_resume_survive_a_restart_on_postgresql")
    else {
        return;
    };
    let url = pg.new_database("schedule");
    pause_and_resume(&format!("[database]\nurl = \"{url}\"\n"));
}

/// A retrain's job id, the same after a restart; the next run's is larger.
fn job_ids_survive_a_restart(database: &str) {
    let mut d = daemon("", database);
    let first = retrain(&d, &["--epochs", "3", "--force"]);
    assert_eq!(first["state"], "published", "{first}");
    let id = first["id"].as_u64().unwrap();

    restart(&mut d);
    let latest = d.recctl(&["--json", "job"]).ok().json();
    let by_id = d.recctl(&["--json", "job", &id.to_string()]).ok().json();
    for job in [&latest, &by_id] {
        assert_eq!(job["id"], id, "{job}");
        assert_eq!(job["state"], "published", "{job}");
        assert_eq!(job["trigger"], "manual", "{job}");
        assert_eq!(job["n_epochs"], 3, "{job}");
        assert!(job["finished_at"].is_string(), "{job}");
    }
    let unknown = d.recctl(&["--json", "job", &(id + 1000).to_string()]);
    assert_eq!(unknown.code, 1);
    assert_eq!(unknown.json()["code"], "unknown_job");

    let second = retrain(&d, &["--epochs", "3", "--force"]);
    let id2 = second["id"].as_u64().unwrap();
    assert!(id2 > id, "run ids go on after a restart: {id} then {id2}");
    assert_eq!(d.recctl(&["--json", "job"]).ok().json()["id"], id2);
    assert_eq!(ids(&history(&d, &[])), [id2 as i64, id as i64]);
}

#[test]
fn job_ids_are_run_ids_and_survive_a_restart() {
    job_ids_survive_a_restart("");
}

#[test]
fn job_ids_are_run_ids_and_survive_a_restart_on_postgresql() {
    let Some(pg) =
        helper::pg::Postgres::start("job_ids_are_run_ids_and_survive_a_restart_on_postgresql")
    else {
        return;
    };
    let url = pg.new_database("runs");
    job_ids_survive_a_restart(&format!("[database]\nurl = \"{url}\"\n"));
}

/// The scheduled runs that ended, newest first.
fn ended_scheduled(d: &Daemon) -> Result<Vec<Value>, String> {
    let runs: Vec<Value> = history(d, &["--trigger", "scheduled"])
        .into_iter()
        .filter(|r| r["status"] != "running")
        .collect();
    if runs.is_empty() {
        Err("no scheduled run has ended".into())
    } else {
        Ok(runs)
    }
}

#[test]
fn a_scheduled_run_fires_and_is_recorded() {
    // A threshold of 0 new ratings: each scheduled run trains.
    let mut d = daemon("min_new_ratings = 0", EVERY_2S);
    let runs = wait_for("a scheduled run", Duration::from_secs(20), || {
        ended_scheduled(&d)
    });
    let run = runs.last().unwrap();
    assert_eq!(run["trigger"], "scheduled", "{run}");
    assert_eq!(run["status"], "published", "{run}");
    assert!(run["model_version"].is_string(), "{run}");
    assert_eq!(run["new_ratings"], 0, "{run}");
    assert!(history(&d, &[]).iter().all(|r| r["trigger"] == "scheduled"));
    let s = schedule(&d);
    assert!(s["last_attempt"]["id"].as_i64().unwrap() >= run["id"].as_i64().unwrap());

    // Gated by a threshold no run reaches: recorded as skipped, with the
    // count and the threshold. Paused over the restart, so that every
    // run after `last` is one of the new config's.
    d.recctl(&["schedule", "pause"]).ok();
    wait_for("no run in progress", Duration::from_secs(15), || {
        let h = health(&d);
        (h["job"]["state"] != "running")
            .then_some(())
            .ok_or(h["job"].to_string())
    });
    let last = ids(&history(&d, &["-n", "1"]))[0];
    edit_config(&d, "min_new_ratings = 0", "min_new_ratings = 1000000");
    restart(&mut d);
    d.recctl(&["schedule", "resume"]).ok();
    let skipped = wait_for("a skipped scheduled run", Duration::from_secs(20), || {
        let runs = ended_scheduled(&d)?;
        let fresh: Vec<Value> = runs
            .into_iter()
            .filter(|r| r["id"].as_i64().unwrap() > last)
            .collect();
        fresh.last().cloned().ok_or("none since the restart".into())
    });
    assert_eq!(skipped["trigger"], "scheduled", "{skipped}");
    assert_eq!(skipped["status"], "skipped", "{skipped}");
    assert_eq!(skipped["new_ratings"], 0, "{skipped}");
    assert!(skipped["model_version"].is_null(), "{skipped}");
    let reason = skipped["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("threshold of 1000000"), "{skipped}");
}

/// Wait for the running job of trigger `trigger`, as `health` shows it.
fn running_job(d: &Daemon, trigger: &str) -> u64 {
    wait_for(
        &format!("a running {trigger} job"),
        Duration::from_secs(15),
        || {
            let h = health(d);
            let job = &h["job"];
            match (job["state"].as_str(), job["trigger"].as_str()) {
                (Some("running"), Some(t)) if t == trigger => Ok(job["id"].as_u64().unwrap()),
                _ => Err(h["job"].to_string()),
            }
        },
    )
}

/// Cancel job `id` and wait until it has ended.
fn cancel(d: &Daemon, id: u64) {
    let c = d
        .recctl(&["--json", "job", "cancel", &id.to_string()])
        .ok()
        .json();
    assert_eq!(c["cancelled"], true, "{c}");
    wait_for("the job's end", Duration::from_secs(15), || {
        let j = d.recctl(&["--json", "job", &id.to_string()]).ok().json();
        (j["state"] != "running").then_some(()).ok_or(j.to_string())
    });
}

#[test]
fn a_manual_retrain_during_a_scheduled_run_is_busy_with_its_id() {
    // Scheduled runs long enough to be caught running, due every second.
    let d = daemon(
        "n_factors = 64\nn_epochs = 10000\nmin_new_ratings = 0",
        EVERY_1S,
    );
    let scheduled = running_job(&d, "scheduled");
    let busy = wait_for("a busy reply", Duration::from_secs(15), || {
        let r = d.recctl(&["--json", "retrain", "--epochs", "2", "--force"]);
        match r.code {
            1 => Ok(r.json()),
            // Between two scheduled runs: it ran. Try again.
            _ => Err(r.stdout),
        }
    });
    assert_eq!(busy["code"], "busy", "{busy}");
    assert_eq!(busy["data"]["job"], scheduled, "{busy}");
    assert!(
        busy["message"]
            .as_str()
            .unwrap()
            .contains(&scheduled.to_string()),
        "{busy}"
    );

    // The other way round: a scheduled run due during a manual one is
    // recorded as skipped, naming the run in its way.
    d.recctl(&["schedule", "pause"]).ok();
    cancel(&d, scheduled);
    let cancelled = history(&d, &["--status", "cancelled"]);
    assert_eq!(ids(&cancelled)[0], scheduled as i64);
    assert_eq!(cancelled[0]["trigger"], "scheduled");
    let long = d.long_retrain();
    let manual = running_job(&d, "manual");
    d.recctl(&["schedule", "resume"]).ok();
    let skip = wait_for("a scheduled skip", Duration::from_secs(15), || {
        history(&d, &["--trigger", "scheduled", "--status", "skipped"])
            .into_iter()
            .next()
            .ok_or("none yet".to_string())
    });
    let reason = skip["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(&format!("run {manual} was in progress")),
        "{skip}"
    );
    assert!(skip["id"].as_u64().unwrap() > manual, "{skip}");
    d.recctl(&["schedule", "pause"]).ok();
    cancel(&d, manual);
    let ended = long.join().unwrap().unwrap_err();
    assert_eq!(ended.code(), Some(recd::protocol::ErrorCode::TrainFailed));
}

#[test]
fn a_run_past_max_duration_is_cancelled_and_recorded() {
    let d = daemon("max_duration_secs = 1", "");
    assert_eq!(schedule(&d)["max_duration_secs"], 1);
    let started = Instant::now();
    let r = d.recctl(&[
        "--json",
        "retrain",
        "--epochs",
        "10000",
        "--factors",
        "64",
        "--force",
    ]);
    let took = started.elapsed();
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let e = r.json();
    assert_eq!(e["code"], "train_failed", "{e}");
    assert_eq!(e["data"]["state"], "cancelled", "{e}");
    let error = e["data"]["reason"].as_str().unwrap_or_default();
    assert!(error.contains("training.max_duration_secs"), "{e}");
    assert!(took < Duration::from_secs(10), "cancelled soon: {took:?}");
    let id = e["data"]["id"].as_i64().unwrap();
    let runs = history(&d, &[]);
    assert_eq!(ids(&runs), [id]);
    assert_eq!(runs[0]["status"], "cancelled", "{}", runs[0]);
    let reason = runs[0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("training.max_duration_secs"), "{}", runs[0]);
    assert!(runs[0]["model_version"].is_null());
    // A quick run is not cut short.
    assert_eq!(
        retrain(&d, &["--epochs", "2", "--force"])["state"],
        "published"
    );
}

/// A local HTTP server that answers 200 to everything and passes on each
/// request's first line and JSON body.
fn webhook() -> (String, mpsc::Receiver<(String, Value)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut first = String::new();
            let mut length = 0;
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                if first.is_empty() {
                    first = line.trim_end().to_owned();
                }
                if let Some((k, v)) = line.split_once(':') {
                    if k.eq_ignore_ascii_case("content-length") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                line.clear();
            }
            let mut body = vec![0; length];
            let read = reader.read_exact(&mut body);
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let body = match read {
                Ok(()) => serde_json::from_slice(&body).unwrap_or(Value::Null),
                Err(_) => Value::Null,
            };
            if tx.send((first, body)).is_err() {
                return;
            }
        }
    });
    (url, rx)
}

/// The JSON the command wrote, once it is all there.
fn written(file: &Path) -> Value {
    wait_for("the command's file", Duration::from_secs(10), || {
        let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
        serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))
    })
}

#[test]
fn runs_are_notified_to_a_webhook_and_a_command() {
    let (url, requests) = webhook();
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("run.json");
    let all = "events = [\"published\", \"skipped\", \"rejected\", \"failed\", \"cancelled\"]";
    let notify = format!(
        "[notify]\nwebhook = \"{url}\"\ncommand = [\"/bin/sh\", \"-c\", \"cat > {}\"]\n\
         {all}\ntimeout_secs = 5\nretries = 0\n",
        file.display()
    );
    let mut d = daemon("", &notify);
    let targets = &schedule(&d)["notifications"]["targets"];
    assert_eq!(targets[1]["command"], "sh", "{targets}");

    let run = retrain(&d, &["--epochs", "3", "--force"]);
    let id = run["id"].as_u64().unwrap();
    let (first, body) = requests
        .recv_timeout(Duration::from_secs(10))
        .expect("the webhook is called");
    assert!(first.starts_with("POST /hook "), "{first}");
    assert_eq!(body["status"], "published", "{body}");
    assert_eq!(body["id"], id, "{body}");
    assert_eq!(body["trigger"], "manual", "{body}");
    assert_eq!(body["model_version"], run["outcome"]["version"], "{body}");
    let text = body["text"].as_str().unwrap_or_default();
    assert!(
        text.contains(&format!("retrain {id} (manual) published")),
        "{body}"
    );
    assert_eq!(written(&file), body, "the command gets the same JSON");

    // Only failed and skipped runs: a published one sends nothing.
    edit_config(&d, all, "events = [\"failed\", \"skipped\"]");
    restart(&mut d);
    std::fs::remove_file(&file).unwrap();
    let quiet = retrain(&d, &["--epochs", "3", "--force"]);
    assert_eq!(quiet["state"], "published");
    if let Ok((first, body)) = requests.recv_timeout(Duration::from_secs(2)) {
        panic!("a published run was sent: {first} {body}");
    }
    assert!(!file.exists(), "the command ran for a published run");
    let skipped = retrain(&d, &["--min-ratings", "1000000"]);
    assert_eq!(skipped["state"], "skipped");
    let (_, body) = requests
        .recv_timeout(Duration::from_secs(10))
        .expect("a skipped run is sent");
    assert_eq!(body["status"], "skipped", "{body}");
    assert_eq!(body["id"], skipped["id"], "{body}");
    assert_eq!(written(&file), body);
}

/// `recd` on a config with `schedule`: it exits at once, non-zero, naming
/// the key.
fn refused(schedule: &str, key: &str) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("recd.toml");
    std::fs::write(
        &config,
        format!(
            "[paths]\nmodels_dir = \"models\"\nstate_dir = \"state\"\ndataset = \"data\"\n\
             dataset_url = \"\"\n[daemon]\nsocket = \"recd.sock\"\nadmin_group = \"\"\n\
             [logging]\ndir = \"\"\n[schedule]\n{schedule}\n"
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_recd"))
        .arg("--config")
        .arg(&config)
        .env_remove("RECD_CONFIG")
        .env_remove("NOTIFY_SOCKET")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("recd started on `{schedule}`");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out: Run = child.wait_with_output().unwrap().into();
    assert_ne!(out.code, 0, "{schedule}");
    assert!(
        out.stderr.contains(key),
        "`{schedule}`: {key} not named: {}",
        out.stderr
    );
    // `recd train` reads the same config and refuses it too.
    let train = helper::recd(&["--config", config.to_str().unwrap(), "train"]);
    assert_ne!(train.code, 0);
    assert!(train.stderr.contains(key), "{}", train.stderr);
}

#[test]
fn invalid_schedule_is_a_config_error_naming_the_key() {
    refused("cron = \"61 * * * *\"", "schedule.cron");
    refused("mode = \"daily\"\nat = \"25:00\"", "schedule.at");
    refused("mode = \"weekly\"\nday = \"someday\"", "schedule.day");
    refused(
        "cron = \"@daily\"\ntimezone = \"Mars/Olympus\"",
        "schedule.timezone",
    );
    refused("mode = \"hourly\"", "schedule.mode");
}

/// Regression: on a fresh database, `history` and `schedule` asked before
/// the daemon's background migration had run failed with `internal` ("no
/// such table: training_runs").
#[test]
fn history_and_schedule_answer_on_a_fresh_database() {
    let d = daemon("", DAILY);
    assert!(history(&d, &[]).is_empty());
    assert_eq!(schedule(&d)["last_attempt"], Value::Null);
    assert_eq!(
        d.recctl(&["history"]).ok().stdout.trim(),
        "no training runs recorded"
    );
}

/// `job` before any run, asked before the daemon's background migration
/// has run, should say no job has run yet.
#[test]
fn job_on_a_fresh_database_is_unknown() {
    let d = daemon("", DAILY);
    let job = d.recctl(&["--json", "job"]);
    assert_eq!(job.code, 1);
    assert_eq!(job.json()["code"], "unknown_job", "{}", job.stdout);
}
