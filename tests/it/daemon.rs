//! The daemon as the real binary: every method and error code, pipelining,
//! reloads under load, signals, hostile input, authorization, readiness.

use crate::helper;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use helper::code;
use helper::daemon::{raw_exchange, Daemon};
use recd::protocol::ErrorCode;
use serde_json::{json, Value};

#[test]
fn queries_answer_and_each_fault_has_its_code() {
    let d = Daemon::start();
    let h = d.call("health", json!({})).unwrap();
    assert_eq!(h["status"], "ok");
    assert_eq!(h["protocol_version"], 1);
    assert!(h["model"]["version"].is_string());
    assert_eq!(h["job"], Value::Null);

    let r = d.call("recommend", json!({ "user": "ml:7" })).unwrap();
    let items = r["items"].as_array().unwrap();
    assert_eq!(items.len(), 10, "n defaults to 10");
    assert!(items
        .iter()
        .all(|i| i["movie"].is_u64() && i["title"].is_string() && i["score"].is_f64()));
    assert!(items
        .windows(2)
        .all(|w| w[0]["score"].as_f64() >= w[1]["score"].as_f64()));
    assert_eq!(r["strategy"], "model");
    // Rated movies never come back.
    let all = d
        .call("recommend", json!({ "user": "ml:7", "n": 1000 }))
        .unwrap();
    let rated: Vec<u64> = std::fs::read_to_string(d.fixture.data().join("ratings.dat"))
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("7::"))
        .map(|l| l.split("::").nth(1).unwrap().parse().unwrap())
        .collect();
    let got: Vec<u64> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["movie"].as_u64().unwrap())
        .collect();
    assert_eq!(got.len(), 200 - rated.len());
    assert!(got.iter().all(|m| !rated.contains(m)));

    let p = d
        .call("predict", json!({ "user": "ml:7", "movie": got[0] }))
        .unwrap();
    assert!((1.0..=5.0).contains(&p["rating"].as_f64().unwrap()));
    let s = d
        .call("similar", json!({ "movie": got[0], "n": 5 }))
        .unwrap();
    assert_eq!(s["items"].as_array().unwrap().len(), 5);
    assert!(s["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["movie"] != json!(got[0])));
    let st = d.call("stats", json!({})).unwrap();
    assert!(st["requests"]["by_method"]["recommend"].as_u64().unwrap() >= 2);
    let c = d.call("retrain.check", json!({})).unwrap();
    assert_eq!(c["verdict"], "not_needed");
    let m = d.call("models", json!({})).unwrap();
    assert_eq!(m["versions"].as_array().unwrap().len(), 1);
    assert_eq!(m["versions"][0]["current"], true);

    for (method, params, expected) in [
        (
            "recommend",
            json!({ "user": "ml:999999" }),
            ErrorCode::UnknownUser,
        ),
        (
            "predict",
            json!({ "user": "ml:7", "movie": 999_999 }),
            ErrorCode::UnknownMovie,
        ),
        (
            "similar",
            json!({ "movie": 999_999 }),
            ErrorCode::UnknownMovie,
        ),
        (
            "recommend",
            json!({ "user": "ml:7", "n": 0 }),
            ErrorCode::InvalidParams,
        ),
        (
            "recommend",
            json!({ "user": "ml:7", "n": 1001 }),
            ErrorCode::InvalidParams,
        ),
        ("recommend", json!({ "user": 7 }), ErrorCode::InvalidParams),
        ("fly", json!({}), ErrorCode::UnknownMethod),
        ("job.status", json!({ "job": 42 }), ErrorCode::UnknownJob),
        ("job.cancel", json!({}), ErrorCode::UnknownJob),
    ] {
        assert_eq!(
            code(d.call(method, params.clone())),
            expected,
            "{method} {params}"
        );
    }
    assert_eq!(
        code(d.call("rollback", json!({ "version": "20200101T000000Z-0000" }))),
        ErrorCode::UnknownVersion
    );
    assert_eq!(
        code(d.call("rollback", json!({ "version": "../../etc/passwd" }))),
        ErrorCode::InvalidParams
    );
    assert_eq!(
        code(d.call("retrain", json!({ "factors": 0 }))),
        ErrorCode::InvalidParams
    );

    let raw = raw_exchange(
        &d.socket(),
        b"{oops\n[1]\n{\"id\":5,\"method\":\"health\",\"params\":[]}\n{\"id\":6}\n",
        4,
    );
    assert_eq!(raw[0]["error"]["code"], "parse_error");
    assert_eq!(raw[1]["error"]["code"], "invalid_request");
    assert_eq!(raw[2]["error"]["code"], "invalid_params");
    assert_eq!(raw[2]["id"], 5);
    assert_eq!(raw[3]["error"]["code"], "invalid_request");
    assert_eq!(raw[3]["id"], 6);
}

#[test]
fn pipelined_requests_are_answered_in_order_with_their_ids() {
    let d = Daemon::start();
    let mut batch = Vec::new();
    for i in 0..200 {
        let req = match i % 3 {
            0 => {
                json!({ "id": i, "method": "recommend", "params": { "user": format!("ml:{}", i % 50 + 1), "n": 3 } })
            }
            1 => json!({ "id": format!("s{i}"), "method": "health" }),
            _ => json!({ "id": i, "method": "recommend", "params": { "user": "ml:no-such-user" } }),
        };
        batch.extend_from_slice(req.to_string().as_bytes());
        batch.push(b'\n');
    }
    let replies = raw_exchange(&d.socket(), &batch, 200);
    for (i, r) in replies.iter().enumerate() {
        match i % 3 {
            0 => assert_eq!(
                (
                    r["id"].clone(),
                    r["result"]["items"].as_array().map(Vec::len)
                ),
                (json!(i), Some(3))
            ),
            1 => assert_eq!(r["id"], json!(format!("s{i}"))),
            _ => assert_eq!(
                (r["id"].clone(), r["error"]["code"].clone()),
                (json!(i), json!("unknown_user"))
            ),
        }
    }
}

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
    assert_eq!(r["state"], "succeeded");
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
    assert_eq!(status["state"], "succeeded");
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
fn hostile_input_never_hurts_the_daemon() {
    let d = Daemon::start_with(true, &[], "");
    // An over-long line: an error reply, then the connection closes.
    let mut s = UnixStream::connect(d.socket()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let long = vec![b'x'; 70 * 1024];
    let _ = s.write_all(&long);
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    assert!(reply.contains("line_too_long"), "{reply}");
    // A client that disconnects mid-request.
    let mut s = UnixStream::connect(d.socket()).unwrap();
    s.write_all(b"{\"id\":1,\"method\":\"recom").unwrap();
    drop(s);
    // Binary garbage.
    let mut s = UnixStream::connect(d.socket()).unwrap();
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
    let _ = s.write_all(&garbage);
    let _ = s.write_all(b"\n");
    drop(s);
    // Wrong types everywhere.
    for bad in [
        r#"{"id":1,"method":"predict","params":{"user":"1","movie":"one"}}"#,
        r#"{"id":1,"method":"similar","params":{"movie":-5}}"#,
        r#"{"id":1,"method":"recommend","params":{"user":"1","n":1e99}}"#,
    ] {
        let r = raw_exchange(&d.socket(), format!("{bad}\n").as_bytes(), 1);
        assert_eq!(r[0]["error"]["code"], "invalid_params", "{bad}");
    }
    // 1,000 connections at once, each answered.
    let conns: Vec<UnixStream> = (0..1000)
        .map(|_| UnixStream::connect(d.socket()).expect("connect"))
        .collect();
    for (i, mut c) in conns.iter().enumerate() {
        c.write_all(format!("{{\"id\":{i},\"method\":\"health\"}}\n").as_bytes())
            .unwrap();
    }
    for (i, c) in conns.iter().enumerate() {
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut r = std::io::BufReader::new(c);
        let mut line = String::new();
        std::io::BufRead::read_line(&mut r, &mut line).unwrap();
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["id"], i);
    }
    drop(conns);
    let r = d.call("recommend", json!({ "user": "ml:1" })).unwrap();
    assert_eq!(r["items"].as_array().unwrap().len(), 10);
}

#[test]
fn connections_beyond_the_limit_are_told_why() {
    let d = Daemon::start_with(true, &[], "max_connections = 3");
    // Earlier connections (the readiness probe) must be gone first.
    let deadline = Instant::now() + Duration::from_secs(10);
    while d.call("stats", json!({})).unwrap()["connections"]["open"] != 1 {
        assert!(Instant::now() < deadline, "old connections stay open");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(50));
    // Three connections that each hold a slot (a round trip proves it).
    let held: Vec<recd::client::Client> = (0..3)
        .map(|_| {
            let mut c = d.client();
            c.call_json("health", json!({})).unwrap();
            c
        })
        .collect();
    let r = raw_exchange(&d.socket(), b"", 1);
    assert_eq!(r[0]["error"]["code"], "too_many_connections");
    drop(held);
    std::thread::sleep(Duration::from_millis(100));
    d.call("health", json!({})).unwrap();
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
    let deadline = Instant::now() + Duration::from_secs(30);
    while d.version().is_none() {
        assert!(Instant::now() < deadline, "no first model");
        std::thread::sleep(Duration::from_millis(20));
    }
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

/// Run `f` as user nobody in a forked child; its exit code is the verdict.
#[cfg(target_os = "linux")]
fn as_nobody(f: impl FnOnce() -> bool) -> bool {
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

#[test]
fn admin_methods_are_refused_to_unprivileged_peers() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("SKIPPED admin_methods_are_refused_to_unprivileged_peers: needs root to switch to user nobody");
        return;
    }
    let d = Daemon::start();
    let socket = d.socket();
    // Mode 0660: nobody may not even connect, and recctl says so with exit 3.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_recctl"));
    let mut out = out;
    std::os::unix::process::CommandExt::uid(&mut out, 65534);
    std::os::unix::process::CommandExt::gid(&mut out, 65534);
    let out = out
        .arg("--socket")
        .arg(&socket)
        .arg("health")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("permission denied"));
    // Opened up (as group membership would): reads work, admin methods do not.
    // The temp dir itself must be traversable for nobody.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(d.fixture.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let s = socket.clone();
    assert!(as_nobody(move || {
        let Ok(mut c) = recd::client::Client::connect(&s) else {
            return false;
        };
        let read_ok = c.call_json("health", json!({})).is_ok();
        let denied = ["reload", "rollback", "job.cancel", "retrain"]
            .iter()
            .all(|m| {
                let params = if *m == "rollback" {
                    json!({ "version": "x" })
                } else {
                    json!({})
                };
                c.call_json(m, params).err().and_then(|e| e.code())
                    == Some(ErrorCode::PermissionDenied)
            });
        read_ok && denied
    }));
    // Root may.
    d.call("reload", json!({})).unwrap();
}

#[test]
fn recctl_speaks_for_every_method() {
    let d = Daemon::start();
    let out = d.recctl(&["health"]).ok();
    assert!(out.stdout.contains("status           ok"), "{}", out.stdout);
    // A line saying how the list was made, the header, three rows.
    let out = d.recctl(&["recommend", "ml:5", "-n", "3"]).ok();
    assert_eq!(out.stdout.lines().count(), 5, "{}", out.stdout);
    assert!(
        out.stdout.starts_with("user ml:5, model "),
        "{}",
        out.stdout
    );
    assert!(out
        .stdout
        .lines()
        .next()
        .unwrap()
        .ends_with("strategy model"));
    let j = d
        .recctl(&["--json", "recommend", "ml:5", "-n", "3"])
        .ok()
        .json();
    assert_eq!(j["items"].as_array().unwrap().len(), 3);
    let movie = j["items"][0]["movie"].as_u64().unwrap().to_string();
    d.recctl(&["predict", "ml:5", &movie]).ok();
    d.recctl(&["similar", &movie, "-n", "2"]).ok();
    d.recctl(&["stats"]).ok();
    d.recctl(&["models"]).ok();
    let check = d.recctl(&["--json", "retrain", "check"]).ok().json();
    assert_eq!(check["verdict"], "not_needed");
    let r = d
        .recctl(&["--json", "retrain", "--epochs", "3", "--force"])
        .ok()
        .json();
    assert_eq!(r["state"], "succeeded");
    let v = r["outcome"]["version"].as_str().unwrap().to_owned();
    let job = d.recctl(&["--json", "job"]).ok().json();
    assert_eq!(job["outcome"]["version"], json!(v));
    let reload = d.recctl(&["--json", "reload", "--wait"]).ok().json();
    assert_eq!(reload["version"], json!(v));
    let models = d.recctl(&["--json", "models"]).ok().json();
    let old = models["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["current"] == false)
        .unwrap()["version"]
        .as_str()
        .unwrap()
        .to_owned();
    d.recctl(&["rollback", &old]).ok();
    assert_eq!(d.version().unwrap(), old);
    let e = d.recctl(&["recommend", "ml:999999"]);
    assert_eq!(e.code, 1);
    assert!(e.stderr.contains("unknown_user"), "{}", e.stderr);
    // With --json the error is the error object, on stdout.
    let e = d.recctl(&["--json", "recommend", "ml:999999"]);
    assert_eq!(e.code, 1);
    let err = e.json();
    assert_eq!(err["code"], "unknown_user", "{err}");
    assert!(err["message"].as_str().unwrap().contains("ml:999999"));
    // A user with no ratings is served by popularity, and the human output
    // says so.
    let pop = d.recctl(&["predict", "nobody", &movie]).ok();
    assert!(
        pop.stdout
            .lines()
            .next()
            .unwrap()
            .contains("strategy popularity"),
        "{}",
        pop.stdout
    );
    // Parameters print at their own precision (an f32 is not widened to
    // 0.007000000216066837).
    let health = d.recctl(&["--json", "health"]).ok();
    let lr = health.json()["model"]["params"]["lr_all"].as_f64().unwrap() as f32;
    assert!(
        health.stdout.contains(&format!("\"lr_all\": {lr},"))
            || health.stdout.contains(&format!("\"lr_all\": {lr}\n")),
        "{}",
        health.stdout
    );
    let e = d.recctl(&["job", "cancel"]);
    assert_eq!(e.code, 1);
    assert_eq!(d.recctl(&["recommend"]).code, 2, "usage error");
    let gone = std::process::Command::new(env!("CARGO_BIN_EXE_recctl"))
        .args(["--socket", "/nonexistent/recd.sock", "health"])
        .output()
        .unwrap();
    assert_eq!(gone.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&gone.stderr).contains("not running"));
    let b = d
        .recctl(&[
            "--json",
            "bench",
            "-c",
            "4",
            "-d",
            "0.5",
            "-m",
            "recommend,predict,similar,health",
        ])
        .ok()
        .json();
    for m in b["methods"].as_array().unwrap() {
        assert!(m["requests"].as_u64().unwrap() > 0, "{m}");
        assert_eq!(m["errors"], 0, "{m}");
    }
    // Paced: the schedule, not the replies, sets the count (2,000/s for
    // half a second), and every request is answered.
    let b = d
        .recctl(&["--json", "bench", "-c", "4", "-d", "0.5", "-r", "2000"])
        .ok()
        .json();
    let m = &b["methods"][0];
    let sent = m["requests"].as_u64().unwrap();
    assert!((950..=1050).contains(&sent), "{m}");
    assert_eq!(m["errors"], 0, "{m}");
    assert_eq!(d.recctl(&["bench", "-r", "-5"]).code, 2);
    // Output into a closed pipe (`recctl models | head -0`) ends recctl
    // quietly, as SIGPIPE ends any Unix tool, not with a panic.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_recctl"))
        .arg("--socket")
        .arg(d.socket())
        .arg("models")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{:?}", out.status);
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
fn idle_connections_are_closed_after_the_timeout() {
    let d = Daemon::start_with(true, &[], "idle_timeout_secs = 1");
    let mut s = UnixStream::connect(d.socket()).unwrap();
    s.write_all(b"{\"id\":1,\"method\":\"health\"}\n").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let started = Instant::now();
    let mut all = String::new();
    // The reply, then end of file once the connection has been idle 1 s.
    s.read_to_string(&mut all).unwrap();
    let idle = started.elapsed();
    assert!(all.contains("\"result\""), "{all}");
    assert!(
        idle >= Duration::from_millis(900) && idle < Duration::from_secs(5),
        "closed after {idle:?}"
    );
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
