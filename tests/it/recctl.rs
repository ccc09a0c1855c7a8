//! `recctl` against the real daemon: every command, its human and JSON
//! output, its exit codes, and its load generator.

use crate::helper;

use helper::daemon::Daemon;
use serde_json::json;

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
    assert_eq!(r["state"], "published");
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
