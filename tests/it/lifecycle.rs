//! The daemon's life as the real binary: retrain, reload under load, a
//! corrupt model, signals, a second daemon, a stale socket, first start
//! with no model, readiness and the watchdog, the log file.

use crate::helper;

use std::time::{Duration, Instant};

use helper::code;
use helper::daemon::Daemon;
use recd::protocol::ErrorCode;
use serde_json::json;

#[test]
fn retrain_streams_progress_swaps_the_model_and_is_exclusive() {
    let d = Daemon::start();
    let before = d.version().unwrap();
    let mut progress = Vec::new();
    let r = d
        .client()
        .call_json_with_progress("retrain", json!({ "epochs": 5, "force": true }), &mut |p| {
            progress.push(p.clone())
        })
        .unwrap();
    assert_eq!(r["state"], "published");
    let new = r["outcome"]["version"].as_str().unwrap().to_owned();
    assert_ne!(new, before);
    assert_eq!(
        d.version().unwrap(),
        new,
        "the new model serves as soon as retrain answers"
    );
    assert!(
        progress
            .iter()
            .any(|p| p["epoch"] == 5 && p["n_epochs"] == 5),
        "{progress:?}"
    );
    for stage in ["load_dataset", "combine", "train", "evaluate", "export"] {
        assert!(
            progress
                .iter()
                .any(|p| p["stage"] == stage && p["state"] == "finished"),
            "no {stage} in {progress:?}"
        );
    }
    let status = d.call("job.status", json!({})).unwrap();
    assert_eq!(status["state"], "published");
    assert_eq!(
        status["outcome"]["backup"]
            .as_str()
            .map(|b| b.ends_with(&format!("{before}.recd"))),
        Some(true)
    );

    // A long retrain; a second one is refused with the first one's id.
    let long = d.long_retrain();
    let deadline = Instant::now() + Duration::from_secs(10);
    let job = loop {
        if let Ok(s) = d.call("job.status", json!({})) {
            if s["state"] == "running" {
                break s["id"].as_u64().unwrap();
            }
        }
        assert!(Instant::now() < deadline, "the long retrain did not start");
        std::thread::sleep(Duration::from_millis(5));
    };
    let busy = d.call("retrain", json!({})).unwrap_err();
    assert_eq!(busy.code(), Some(ErrorCode::Busy));
    let health = d.call("health", json!({})).unwrap();
    assert_eq!(health["job"]["id"], job);
    // Queries are served while it trains.
    d.call("recommend", json!({ "user": "ml:3" })).unwrap();
    let c = d.call("job.cancel", json!({ "job": job })).unwrap();
    assert_eq!(c["cancelled"], true);
    let ended = long.join().unwrap().unwrap_err();
    assert_eq!(ended.code(), Some(ErrorCode::TrainFailed));
    assert!(ended.to_string().contains("cancelled"), "{ended}");
    assert_eq!(
        d.call("job.status", json!({ "job": job })).unwrap()["state"],
        "cancelled"
    );
    assert_eq!(
        d.version().unwrap(),
        new,
        "a cancelled retrain publishes nothing"
    );
    assert!(!std::fs::read_dir(d.models()).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with(".tmp")));
}

#[test]
fn sighup_swaps_the_model_under_load_without_a_failed_request() {
    let d = Daemon::start();
    let first = d.version().unwrap();
    let socket = d.socket();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|t| {
            let (socket, stop) = (socket.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut c = recd::client::Client::connect(&socket).unwrap();
                let (mut ok, mut versions) = (0u64, std::collections::BTreeSet::new());
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let r = c
                        .call_json(
                            "recommend",
                            json!({ "user": format!("ml:{}", t * 7 + ok % 50 + 1) }),
                        )
                        .expect("no request fails");
                    versions.insert(r["model"].as_str().unwrap().to_owned());
                    ok += 1;
                }
                (ok, versions)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let second = d.publish(&[]);
    d.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(10);
    while d.version().as_deref() != Some(second.as_str()) {
        assert!(Instant::now() < deadline, "SIGHUP did not swap in {second}");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut seen = std::collections::BTreeSet::new();
    for c in clients {
        let (n, versions) = c.join().expect("no client failed");
        assert!(n > 0);
        seen.extend(versions);
    }
    assert!(seen.contains(&first) && seen.contains(&second), "{seen:?}");
    assert!(d.log_text().contains("reloaded on SIGHUP"));
}

#[test]
fn a_corrupt_model_on_reload_keeps_the_old_one_serving() {
    let d = Daemon::start();
    let good = d.version().unwrap();
    let models = d.models();
    let bad = "20991231T000000Z-bad0";
    let mut bytes = std::fs::read(models.join(format!("{good}.recd"))).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(models.join(format!("{bad}.recd")), bytes).unwrap();
    std::os::unix::fs::symlink(format!("{bad}.recd"), models.join(".tmp-link")).unwrap();
    std::fs::rename(models.join(".tmp-link"), models.join("current")).unwrap();

    d.signal(libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(d.version().unwrap(), good);
    let e = d.call("reload", json!({})).unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::ReloadFailed));
    assert!(
        e.to_string().contains("checksum mismatch")
            && e.to_string().contains(&format!("still serving {good}")),
        "{e}"
    );
    d.call("recommend", json!({ "user": "ml:1" })).unwrap();
    // models marks it invalid; rollback to the good one works.
    let m = d.call("models", json!({})).unwrap();
    assert!(m["versions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["version"] == bad && v["valid"] == false));
    let r = d.call("rollback", json!({ "version": good })).unwrap();
    assert_eq!(r["version"], json!(good));
    assert_eq!(
        std::fs::read_link(models.join("current"))
            .unwrap()
            .to_string_lossy(),
        format!("{good}.recd")
    );
    assert_eq!(
        code(d.call("rollback", json!({ "version": bad }))),
        ErrorCode::ReloadFailed
    );
}

#[test]
fn sigterm_mid_retrain_exits_cleanly_with_the_old_model_current() {
    let mut d = Daemon::start();
    let before = d.version().unwrap();
    let long = d.long_retrain();
    let deadline = Instant::now() + Duration::from_secs(10);
    while d.call("health", json!({})).unwrap()["job"].is_null() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(5));
    }
    let started = Instant::now();
    assert_eq!(d.stop(), 0, "exit code 0 after SIGTERM");
    // Well inside the 5 s grace: the retrain is cancelled at once, not after
    // the connections waiting on it time out.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let reply = long.join().unwrap();
    assert!(reply.is_err(), "the retrain did not finish");
    assert!(!d.socket().exists(), "the socket is removed");
    let names: Vec<String> = std::fs::read_dir(d.models())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with(".tmp")), "{names:?}");
    assert_eq!(
        std::fs::read_link(d.models().join("current"))
            .unwrap()
            .to_string_lossy(),
        format!("{before}.recd")
    );
    assert!(d.log_text().contains("cancelling the running retrain"));
}

#[test]
fn a_second_daemon_on_the_same_socket_refuses_to_start() {
    let d = Daemon::start();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_recd"))
        .arg("--config")
        .arg(d.config())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("another recd is already serving on this socket"),
        "{err}"
    );
    // Said once (it used to be logged, then printed again).
    assert_eq!(
        err.matches("another recd is already serving").count(),
        1,
        "{err}"
    );
    d.call("health", json!({})).unwrap();
}

#[test]
fn a_stale_socket_file_is_replaced() {
    let mut d = Daemon::start();
    d.stop();
    // A socket file nobody listens on, as a crash leaves it.
    drop(std::os::unix::net::UnixListener::bind(d.socket()).unwrap());
    assert!(d.socket().exists());
    d.spawn(&[]);
    d.wait_ready();
    assert_eq!(d.call("health", json!({})).unwrap()["status"], "ok");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(d.socket()).unwrap().permissions().mode() & 0o777,
        0o660
    );
}

#[test]
fn first_start_without_a_model_trains_one_while_answering() {
    let d = Daemon::start_with(false, &[], "");
    let h = d.call("health", json!({})).unwrap();
    assert!(
        ["training", "ok"].contains(&h["status"].as_str().unwrap()),
        "{h}"
    );
    d.wait_first_model(Duration::from_secs(30));
    d.call("recommend", json!({ "user": "ml:1" })).unwrap();
}

#[test]
fn no_model_and_no_dataset_is_reported_not_fatal() {
    let d = Daemon::start_with(false, &[], "");
    drop(d);
    let fx = helper::Fixture::new();
    std::fs::write(fx.path().join("recd.toml"), "[paths]\nmodels_dir = \"models\"\nstate_dir = \"state\"\ndataset = \"nowhere\"\ndataset_url = \"\"\n[daemon]\nsocket = \"recd.sock\"\n[logging]\ndir = \"\"\n").unwrap();
    let mut d = Daemon {
        fixture: fx,
        child: None,
    };
    d.spawn(&[]);
    d.wait_ready();
    let h = d.call("health", json!({})).unwrap();
    assert_eq!(h["status"], "no_model");
    assert_eq!(
        code(d.call("recommend", json!({ "user": "ml:1" }))),
        ErrorCode::NoModel
    );
}

#[test]
fn readiness_reload_stopping_and_watchdog_reach_notify_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify");
    let listener = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    listener
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let p = path.to_str().unwrap().to_owned();
    let mut d = Daemon::start_with(
        true,
        &[("NOTIFY_SOCKET", &p), ("WATCHDOG_USEC", "100000")],
        "",
    );
    let mut got = Vec::new();
    let recv_until = |want: &str, got: &mut Vec<String>| {
        let mut buf = [0u8; 512];
        loop {
            let n = listener
                .recv(&mut buf)
                .unwrap_or_else(|e| panic!("waiting for {want}: {e}; got {got:?}"));
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            let hit = msg.contains(want);
            got.push(msg);
            if hit {
                return;
            }
        }
    };
    recv_until("READY=1", &mut got);
    assert!(
        got.last().unwrap().contains("STATUS=serving model"),
        "{got:?}"
    );
    recv_until("WATCHDOG=1", &mut got);
    d.signal(libc::SIGHUP);
    recv_until("RELOADING=1", &mut got);
    assert!(got.last().unwrap().contains("MONOTONIC_USEC="), "{got:?}");
    recv_until("READY=1", &mut got);
    d.signal(libc::SIGTERM);
    recv_until("STOPPING=1", &mut got);
    assert_eq!(d.wait_exit(Duration::from_secs(10)), 0);
}

#[test]
fn the_log_file_records_the_start_and_requests_that_failed() {
    let d = Daemon::start();
    let _ = d.call("retrain", json!({ "factors": 0 }));
    d.call("reload", json!({})).unwrap();
    // The file writer is asynchronous: give it a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut log = d.log_text();
    while !log.contains("reloaded on the reload method") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        log = d.log_text();
    }
    assert!(log.contains("listening"), "{log}");
    assert!(log.contains("serving model"), "{log}");
    assert!(log.contains("reloaded on the reload method"), "{log}");

    // A failed reload is logged once, by the reload (it used to be logged
    // again, as a warning, by the connection that asked).
    std::fs::remove_file(d.fixture.models().join("current")).unwrap();
    assert_eq!(code(d.call("reload", json!({}))), ErrorCode::ReloadFailed);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut log = d.log_text();
    while !log.contains("no current model") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        log = d.log_text();
    }
    std::thread::sleep(Duration::from_millis(200));
    let log = d.log_text();
    assert_eq!(log.matches("no current model").count(), 1, "{log}");
}

#[test]
fn a_second_shutdown_signal_is_not_logged_again() {
    let mut d = Daemon::start();
    // Two signals before the first has been acted on, as a terminal's
    // Ctrl-C and a service manager's SIGTERM can arrive together.
    d.signal(libc::SIGINT);
    assert_eq!(d.stop(), 0);
    let log = d.log_text();
    // Either may be taken first (pending signals come in no fixed order).
    assert_eq!(log.matches("shutting down on").count(), 1, "{log}");
    assert!(
        log.contains("shutting down on SIGINT") || log.contains("shutting down on SIGTERM"),
        "{log}"
    );
}

#[test]
fn a_model_published_by_recd_train_is_served_without_a_manual_reload() {
    let d = Daemon::start();
    let before = d.version().unwrap();
    let config = d.config();
    let config = config.to_str().unwrap();
    let published = |out: &helper::Run| {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix("published "))
            .unwrap_or_else(|| panic!("{}", out.stdout))
            .to_owned()
    };
    // recd train asks the daemon to reload, and says so (the daemon used
    // to keep serving the old model until someone reloaded).
    let out = d.fixture.train(&["--config", config]).ok();
    let first = published(&out);
    assert_ne!(first, before);
    assert!(
        out.stdout.contains(&format!("now serving {first}")),
        "{}",
        out.stdout
    );
    assert_eq!(d.version().unwrap(), first);
    // --no-reload: not asked; the daemon notices the new `current` itself.
    let out = d.fixture.train(&["--config", config, "--no-reload"]).ok();
    let second = published(&out);
    assert!(!out.stdout.contains("daemon "), "{}", out.stdout);
    let deadline = Instant::now() + Duration::from_secs(10);
    while d.version().unwrap() != second {
        assert!(Instant::now() < deadline, "{second} never served");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Bug: `recd train --no-backup` deleted the file the daemon was serving;
/// `health` then named a version `models` did not list, and rollback could
/// not return to it.
#[test]
fn no_backup_never_removes_the_served_model() {
    let d = Daemon::start();
    let served = d.version().unwrap();
    let config = d.config();
    let out = d
        .fixture
        .train(&[
            "--config",
            config.to_str().unwrap(),
            "--no-backup",
            "--no-reload",
        ])
        .ok();
    assert!(
        out.stdout.contains(&format!("{served}.recd")),
        "kept as the backup: {}",
        out.stdout
    );
    assert!(d.fixture.models().join(format!("{served}.recd")).is_file());
    let models = d.call("models", json!({})).unwrap();
    let listed: Vec<&str> = models["versions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["version"].as_str())
        .collect();
    assert!(listed.contains(&served.as_str()), "{models}");
    // And rollback can return to it.
    d.call("rollback", json!({ "version": served })).unwrap();
    assert_eq!(d.version().unwrap(), served);
}

/// Bug: a corrupt or truncated `current` at start left the daemon with no
/// model (`no_model`, a hint to train) although older versions were there.
#[test]
fn a_corrupt_current_at_start_serves_the_newest_valid_version_degraded() {
    let mut d = Daemon::start();
    let good = d.version().unwrap();
    assert_eq!(d.stop(), 0);
    // A newer version becomes current, then is cut short on disk.
    d.fixture.train(&[]).ok();
    let bad = std::fs::read_link(d.fixture.models().join("current")).unwrap();
    let bad_path = d.fixture.models().join(&bad);
    let bytes = std::fs::read(&bad_path).unwrap();
    std::fs::write(&bad_path, &bytes[..bytes.len() / 2]).unwrap();
    let bad_version = bad.file_stem().unwrap().to_str().unwrap().to_owned();

    d.spawn(&[]);
    d.wait_ready();
    let h = d.call("health", json!({})).unwrap();
    assert_eq!(h["status"], "degraded", "{h}");
    assert_eq!(h["model"]["version"], good.as_str());
    let why = h["degraded"].as_str().unwrap();
    assert!(why.contains(&bad_version) && why.contains(&good), "{why}");
    d.call("recommend", json!({ "user": "ml:3" })).unwrap();
    // `models` marks the bad file.
    let models = d.call("models", json!({})).unwrap();
    let entry = models["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["version"] == bad_version.as_str())
        .unwrap()
        .clone();
    assert_eq!(entry["valid"], false, "{entry}");
    assert_eq!(entry["current"], true, "{entry}");
    let log = d.log_text();
    assert!(log.contains("cannot be loaded"), "{log}");
    // A good model from `current` (here by rollback) ends the degraded state.
    d.call("rollback", json!({ "version": good })).unwrap();
    let h = d.call("health", json!({})).unwrap();
    assert_eq!(h["status"], "ok", "{h}");
    assert!(h.get("degraded").is_none(), "{h}");
}
