//! Runs the schedule fires, their overlap with manual ones, their limits,
//! their notifications, and schedules the config refuses.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::mpsc;

use super::*;

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
    // The SGD model: the quick run below must take well under the limit
    // on a busy machine too.
    let d = daemon("max_duration_secs = 1\nalgorithm = \"svd\"", "");
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
