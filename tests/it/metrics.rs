//! The metrics endpoint against the real daemon over real TCP: what
//! `/metrics` counts and exports, `/healthz` with and without a model, the
//! paths and methods refused, a bad or taken `metrics.listen`, peers that
//! stall or send garbage, and `promtool check metrics` on a real scrape
//! (`$RECD_PROMTOOL`, else `promtool` on the PATH; skipped without either).

use crate::helper;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use helper::daemon::{raw_exchange, Daemon, Setup};
use recd::protocol::{ErrorCode, HealthStatus, Method};
use serde_json::{json, Value};
use strum::IntoEnumIterator;

/// A port free a moment ago on loopback.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A daemon with the endpoint on a free port, and its address.
fn start(trained: bool, dataset_keys: &str, more: &str) -> (Daemon, SocketAddr) {
    let address: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let sections = format!("[metrics]\nlisten = \"{address}\"\n{more}");
    let d = Daemon::start_setup(&Setup {
        dataset_keys,
        trained,
        sections: &sections,
        ..Setup::default()
    });
    d.wait_serving();
    (d, address)
}

fn start_trained() -> (Daemon, SocketAddr) {
    start(true, Setup::default().dataset_keys, "")
}

/// One HTTP exchange: `request` sent as it is, the reply read to the
/// connection's end (the endpoint closes after each reply).
fn exchange(address: SocketAddr, request: &[u8]) -> Reply {
    let mut s = TcpStream::connect(address).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    Reply::parse(&raw)
}

fn get(address: SocketAddr, path: &str) -> Reply {
    let request = format!("GET {path} HTTP/1.1\r\nHost: recd\r\n\r\n");
    exchange(address, request.as_bytes())
}

struct Reply {
    status: u16,
    /// Header names lower-cased.
    headers: BTreeMap<String, String>,
    body: String,
}

impl Reply {
    fn parse(raw: &[u8]) -> Reply {
        let text = String::from_utf8_lossy(raw);
        let (head, body) = text
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("no HTTP head in {text:?}"));
        let mut lines = head.lines();
        let status = lines.next().unwrap().split(' ').nth(1).unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Reply {
            status: status.parse().unwrap(),
            headers,
            body: body.to_owned(),
        }
    }
}

/// A scrape's samples: the series as written (name and labels) → value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            (series.to_owned(), value.parse().unwrap())
        })
        .collect()
}

fn scrape(address: SocketAddr) -> (String, BTreeMap<String, f64>) {
    let r = get(address, "/metrics");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let s = samples(&r.body);
    (r.body, s)
}

fn value(s: &BTreeMap<String, f64>, series: &str) -> f64 {
    *s.get(series)
        .unwrap_or_else(|| panic!("no {series} in the scrape"))
}

#[test]
fn metrics_count_requests_errors_and_latency_for_every_method_and_code() {
    let (d, address) = start_trained();
    d.wait_db();
    for _ in 0..7 {
        d.call("recommend", json!({"user": "ml:1", "n": 5}))
            .unwrap();
    }
    d.call("rate", json!({"user": "alice", "movie": 1, "rating": 4}))
        .unwrap();
    raw_exchange(&d.socket(), b"{\"id\":1,\"method\":\"dance\"}\n", 1);
    let (text, s) = scrape(address);

    assert_eq!(value(&s, "recd_requests_total{method=\"recommend\"}"), 7.0);
    assert_eq!(value(&s, "recd_requests_total{method=\"rate\"}"), 1.0);
    let recommend = "recd_request_duration_seconds";
    assert_eq!(
        value(&s, &format!("{recommend}_count{{method=\"recommend\"}}")),
        7.0
    );
    assert_eq!(
        value(
            &s,
            &format!("{recommend}_bucket{{method=\"recommend\",le=\"+Inf\"}}")
        ),
        7.0
    );
    // Each took well under a second.
    assert_eq!(
        value(
            &s,
            &format!("{recommend}_bucket{{method=\"recommend\",le=\"1\"}}")
        ),
        7.0
    );
    assert!(value(&s, &format!("{recommend}_sum{{method=\"recommend\"}}")) > 0.0);
    assert_eq!(value(&s, "recd_errors_total{code=\"unknown_method\"}"), 1.0);
    assert_eq!(value(&s, "recd_ratings_written_total"), 1.0);
    assert!(value(&s, "recd_connections_total") >= 10.0);
    assert_eq!(value(&s, "recd_connections_rejected_total"), 0.0);
    assert_eq!(value(&s, "recd_database_up"), 1.0);
    assert_eq!(value(&s, "recd_health_status{status=\"ok\"}"), 1.0);
    assert_eq!(value(&s, "recd_health_status{status=\"no_model\"}"), 0.0);
    let version = d.version().unwrap();
    assert_eq!(
        value(&s, &format!("recd_model_info{{version=\"{version}\"}}")),
        1.0
    );
    let age = value(&s, "recd_model_age_seconds");
    assert!((0.0..600.0).contains(&age), "{age}");
    assert!(value(&s, "recd_model_holdout_rmse") > 0.0);

    // Every method and code has its series, counted or not.
    for m in Method::iter() {
        let name = m.name();
        value(&s, &format!("recd_requests_total{{method=\"{name}\"}}"));
        value(&s, &format!("{recommend}_count{{method=\"{name}\"}}"));
    }
    for c in ErrorCode::iter() {
        value(&s, &format!("recd_errors_total{{code=\"{}\"}}", c.as_str()));
    }
    for status in HealthStatus::iter() {
        let status: &str = status.into();
        value(&s, &format!("recd_health_status{{status=\"{status}\"}}"));
    }
    // Every family has its help and its type, and docs/metrics.md lists it.
    let docs = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/metrics.md"),
    )
    .unwrap();
    let types: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .collect();
    assert!(types.len() >= 15, "{types:?}");
    for t in types {
        let name = t.split(' ').next().unwrap();
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "{name} has no help"
        );
        assert!(
            docs.contains(&format!("`{name}`")),
            "docs/metrics.md does not list {name}"
        );
    }
}

/// Run a retrain through the daemon, with a schedule on; wait until the
/// schedule has worked out its next run.
fn daemon_with_a_run() -> (Daemon, SocketAddr) {
    let (d, address) = start(
        true,
        Setup::default().dataset_keys,
        "[schedule]\nmode = \"daily\"\nat = \"03:00\"\ntimezone = \"UTC\"\ncatch_up = false\n",
    );
    d.wait_db();
    let r = d.call("retrain", json!({"force": true})).unwrap();
    assert_eq!(r["state"], "published", "{r}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while d.call("health", json!({})).unwrap()["next_run"].is_null() {
        assert!(Instant::now() < deadline, "no next run");
        std::thread::sleep(Duration::from_millis(50));
    }
    (d, address)
}

#[test]
fn a_retrain_is_counted_with_its_duration_and_rmse() {
    let (d, address) = daemon_with_a_run();
    let (_, s) = scrape(address);
    assert_eq!(
        value(&s, "recd_training_runs_total{status=\"published\"}"),
        1.0
    );
    assert_eq!(
        value(&s, "recd_training_runs_total{status=\"failed\"}"),
        0.0
    );
    assert!(!s.contains_key("recd_training_runs_total{status=\"running\"}"));
    assert_eq!(value(&s, "recd_training_in_progress"), 0.0);
    assert_eq!(
        value(&s, "recd_training_last_run_status{status=\"published\"}"),
        1.0
    );
    assert_eq!(
        value(&s, "recd_training_last_run_status{status=\"rejected\"}"),
        0.0
    );
    assert!(value(&s, "recd_training_last_run_duration_seconds") > 0.0);
    assert!(value(&s, "recd_training_last_run_holdout_rmse") > 0.0);
    let ended = value(&s, "recd_training_last_run_end_timestamp_seconds");
    let next = value(&s, "recd_schedule_next_run_timestamp_seconds");
    assert!(next > ended && next - ended <= 86_400.0, "{ended} {next}");
    // The model the run published serves.
    let version = d.version().unwrap();
    assert_eq!(
        value(&s, &format!("recd_model_info{{version=\"{version}\"}}")),
        1.0
    );
    assert_eq!(value(&s, "recd_requests_total{method=\"retrain\"}"), 1.0);
    assert_eq!(
        value(
            &s,
            "recd_request_duration_seconds_count{method=\"retrain\"}"
        ),
        1.0
    );
}

#[test]
fn healthz_is_200_while_a_model_serves_and_503_without_one() {
    let (d, address) = start_trained();
    let r = get(address, "/healthz");
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "application/json");
    let body: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body, json!({"status": "ok", "model": d.version().unwrap()}));

    // No model and no dataset to train one from.
    let (_d, address) = start(false, "dataset = \"nowhere\"\ndataset_url = \"\"", "");
    let r = get(address, "/healthz");
    assert_eq!(r.status, 503);
    let body: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body, json!({"status": "no_model"}));
    let (_, s) = scrape(address);
    assert_eq!(value(&s, "recd_health_status{status=\"no_model\"}"), 1.0);
    assert!(!s.keys().any(|k| k.starts_with("recd_model_")), "{s:?}");
}

#[test]
fn other_paths_and_methods_are_refused_and_head_has_no_body() {
    let (_d, address) = start_trained();
    for path in ["/", "/metric", "/metrics/x", "/healthz/"] {
        assert_eq!(get(address, path).status, 404, "{path}");
    }
    for method in ["POST", "PUT", "DELETE"] {
        let r = exchange(
            address,
            format!("{method} /metrics HTTP/1.1\r\nHost: recd\r\nContent-Length: 0\r\n\r\n")
                .as_bytes(),
        );
        assert_eq!(r.status, 405, "{method}");
        assert_eq!(r.headers["allow"], "GET, HEAD");
    }
    let r = exchange(address, b"HEAD /metrics HTTP/1.1\r\nHost: recd\r\n\r\n");
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty(), "{}", r.body);
    assert!(r.headers["content-length"].parse::<u64>().unwrap() > 1000);
    // A query string is not part of the path; HTTP/1.0 is served too.
    assert_eq!(get(address, "/healthz?verbose=1").status, 200);
    assert_eq!(
        exchange(address, b"GET /healthz HTTP/1.0\r\n\r\n").status,
        200
    );
}

/// Start `recd` on `config` expecting it to fail at once: its exit code
/// and stderr.
fn failed_start(d: &Daemon) -> (i32, String) {
    let mut child = d
        .command(&[])
        .stderr(Stdio::piped())
        .spawn()
        .expect("recd starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("recd did not stop on a bad metrics.listen");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.code().unwrap_or(-1), err)
}

#[test]
fn a_bad_or_taken_listen_address_stops_the_start_naming_the_key() {
    let (mut d, address) = start_trained();
    d.stop();
    let config = std::fs::read_to_string(d.config()).unwrap();

    let bad = config.replace(&address.to_string(), "localhost:9464");
    std::fs::write(d.config(), bad).unwrap();
    let (code, err) = failed_start(&d);
    assert_eq!(code, 1);
    assert!(
        err.contains("metrics.listen: must be \"\" (no endpoint) or an IP address and a port")
            && err.contains("got 'localhost:9464'"),
        "{err}"
    );

    // The address taken by another listener: the start fails, named, and
    // leaves no socket behind.
    std::fs::write(d.config(), &config).unwrap();
    let taken = TcpListener::bind(address).unwrap();
    let (code, err) = failed_start(&d);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("metrics.listen: cannot listen on {address}: ")),
        "{err}"
    );
    assert!(!d.socket().exists());
    drop(taken);
}

#[test]
fn peers_that_stall_or_send_garbage_never_hang_the_endpoint_or_the_daemon() {
    let (mut d, address) = start_trained();
    // Garbage, a head past the limit, and a body that is never read.
    let garbage = exchange(address, b"\x00\x01\xff garbage \r\n\r\n");
    assert_eq!(garbage.status, 400);
    let long = format!(
        "GET /metrics HTTP/1.1\r\nX-Long: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let mut s = TcpStream::connect(address).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let _ = s.write_all(long.as_bytes());
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let head = String::from_utf8_lossy(&raw);
    assert!(raw.is_empty() || head.starts_with("HTTP/1.1 431"), "{head}");
    let r = exchange(
        address,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\nsome",
    );
    assert_eq!(r.status, 200);

    let started = Instant::now();
    // A peer trickling its request line a byte a second.
    let trickler = std::thread::spawn(move || {
        let mut s = TcpStream::connect(address).unwrap();
        for b in b"GET /metrics HTTP/1.1\r\nHost: x\r\n" {
            if s.write_all(&[*b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        panic!("a trickling peer was served for {:?}", started.elapsed());
    });
    // Silent peers, more than the endpoint serves at once: those past the
    // limit are closed at once, the others when their head has not come
    // within the timeout.
    let silent: Vec<TcpStream> = (0..recd::metrics::MAX_CONNECTIONS + 16)
        .map(|_| TcpStream::connect(address).unwrap())
        .collect();
    // The socket is not the endpoint's: it answers meanwhile.
    d.call("health", json!({})).unwrap();
    for mut s in silent {
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
        assert!(sink.is_empty() || sink.starts_with(b"HTTP/1.1 408"));
    }
    trickler.join().unwrap();
    let took = started.elapsed();
    println!(
        "{} silent peers and a trickling one were closed within {took:?}",
        recd::metrics::MAX_CONNECTIONS + 16
    );
    assert!(took < Duration::from_secs(15), "{took:?}");
    // Served again, and the daemon never stopped.
    assert_eq!(get(address, "/healthz").status, 200);
    assert!(d.child.as_mut().unwrap().try_wait().unwrap().is_none());
    d.call("recommend", json!({"user": "ml:1"})).unwrap();

    // A peer still connected at shutdown does not hold the daemon up.
    let _open = TcpStream::connect(address).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let stopping = Instant::now();
    assert_eq!(d.stop(), 0);
    let took = stopping.elapsed();
    assert!(took < Duration::from_secs(4), "{took:?}");
}

/// promtool to check a scrape with: `$RECD_PROMTOOL`, else one on the PATH.
fn promtool() -> Option<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("RECD_PROMTOOL").filter(|p| !p.is_empty()) {
        return Some(p.into());
    }
    let found = Command::new("promtool")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    found.then(|| "promtool".into())
}

#[test]
fn promtool_accepts_a_real_scrape() {
    let Some(promtool) = promtool() else {
        println!(
            "SKIPPED promtool_accepts_a_real_scrape: no promtool (set RECD_PROMTOOL, as .ci/run does, or install Debian's prometheus)"
        );
        return;
    };
    // Every family there is: a run recorded, a schedule, requests, an error.
    let (d, address) = daemon_with_a_run();
    d.call("recommend", json!({"user": "ml:1"})).unwrap();
    raw_exchange(&d.socket(), b"not json\n", 1);
    let (text, _) = scrape(address);
    let mut child = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", promtool.display()));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool: {said}"
    );
    println!(
        "promtool check metrics: {} lines accepted without a remark",
        text.lines().count()
    );
}
