//! The daemon as the real binary, serving: every method and error code,
//! pipelining, hostile input, the connection limit, authorization, idle
//! connections.

use crate::helper;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use helper::daemon::{raw_exchange, Daemon};
use helper::{as_nobody, code};
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
    // Counted like every other error reply.
    let stats = d.call("stats", json!({})).unwrap();
    assert_eq!(stats["errors"]["too_many_connections"], 1, "{stats}");
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
