//! The HTTP API against the real daemon over real TCP: every method at its
//! `/v1` route answering as on the socket, error codes and their statuses,
//! tokens and scopes, the loopback default, bodies past their limit, and
//! a retrain streamed to its end. Imports, backups and erasures are in
//! `http_data`; slow peers and keep-alive in `http_peers`; TLS and the old system's
//! endpoints in `http_compat`.

use crate::helper;

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use helper::daemon::{Daemon, Setup};
use recd::protocol::{ErrorCode, Method, Scope};
use serde_json::{json, Value};
use strum::IntoEnumIterator;

pub const ADMIN: &str = "admin-s3cret";
pub const READER: &str = "reader-s3cret";
pub const RATER: &str = "rater-s3cret";

/// A port free a moment ago on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `[http]` section: listening on `address`, three tokens, and `more`.
pub fn section(address: SocketAddr, more: &str) -> String {
    let hash = recd::http::auth::hash;
    format!(
        "[http]\nlisten = \"{address}\"\n{more}\n\
         [[http.tokens]]\nname = \"ops\"\nsha256 = \"{}\"\nscopes = [\"read\", \"rate\", \"admin\"]\n\
         [[http.tokens]]\nname = \"web\"\nsha256 = \"{}\"\nscopes = [\"read\"]\n\
         [[http.tokens]]\nname = \"ingest\"\nsha256 = \"{}\"\nscopes = [\"rate\"]\n",
        hash(ADMIN),
        hash(READER),
        hash(RATER)
    )
}

/// A daemon with the API on a free loopback port, and the API's base URL.
pub fn start(trained: bool, http_keys: &str, daemon_keys: &str) -> (Daemon, String) {
    let address: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let sections = section(address, http_keys);
    let d = Daemon::start_setup(&Setup {
        trained,
        daemon_keys,
        sections: &sections,
        ..Setup::default()
    });
    d.wait_serving();
    (d, format!("http://{address}"))
}

pub fn agent() -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build();
    ureq::Agent::new_with_config(config)
}

/// One call: its status, its body as JSON.
pub fn send(
    agent: &ureq::Agent,
    verb: &str,
    url: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let request = ureq::http::Request::builder().method(verb).uri(url);
    let request = match token {
        Some(t) => request.header("Authorization", format!("Bearer {t}")),
        None => request,
    };
    let mut response = match body {
        Some(b) => agent.run(
            request
                .header("Content-Type", "application/json")
                .body(b.to_string())
                .unwrap(),
        ),
        None => agent.run(request.body(()).unwrap()),
    }
    .unwrap_or_else(|e| panic!("{verb} {url}: {e}"));
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

pub fn post(base: &str, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    send(
        &agent(),
        "POST",
        &format!("{base}{path}"),
        token,
        Some(&body),
    )
}

pub fn error_code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("(none)")
}

/// The params each method is called with here: the match is exhaustive,
/// so a new method cannot go untested.
fn params_of(m: Method) -> Value {
    match m {
        Method::Health | Method::Stats | Method::Models => json!({}),
        Method::SchedulePause | Method::ScheduleResume => json!({}),
        Method::Recommend => json!({"user": "ml:1", "n": 3}),
        Method::Predict => json!({"user": "ml:1", "movie": 1}),
        Method::Similar => json!({"movie": 1, "n": 3}),
        Method::Rate => json!({"user": "app-h", "movie": 2, "rating": 4}),
        Method::Unrate => json!({"user": "app-h", "movie": 2}),
        Method::Import | Method::Backup => json!(null),
        Method::Forget => json!({"user": "app-gone"}),
        Method::RetrainCheck => json!({"min_ratings": 1}),
        Method::Retrain => json!({"epochs": 2, "force": true}),
        Method::JobStatus => json!({}),
        Method::JobCancel => json!({}),
        Method::Reload => json!({}),
        Method::Rollback => json!({"version": "no-such-version"}),
        Method::History => json!({"limit": 2}),
        Method::Schedule => json!({"next": 2}),
    }
}

#[test]
fn every_method_answers_at_its_route_as_on_the_socket() {
    let (d, base) = start(true, "", "");
    d.wait_db();
    let agent = agent();
    for m in Method::iter() {
        let url = format!("{base}{}", m.route());
        if m == Method::Import || m == Method::Backup {
            continue; // below: their bodies are files
        }
        let params = params_of(m);
        let (status, body) = send(&agent, "POST", &url, Some(ADMIN), Some(&params));
        let socket = d.call(m.name(), params.clone());
        match (socket, m) {
            (_, Method::Retrain) => {
                assert_eq!(status, 200, "{url}: {body}");
                let text = body.as_str().expect("JSON lines");
                let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
                assert_eq!(last["result"]["state"], "published", "{text}");
            }
            (Ok(want), _) => {
                assert_eq!(status, 200, "{url}: {body}");
                let same = [
                    Method::Recommend,
                    Method::Predict,
                    Method::Similar,
                    Method::Models,
                ];
                if same.contains(&m) {
                    assert_eq!(body, want, "{url}");
                } else {
                    assert!(body.is_object(), "{url}: {body}");
                }
            }
            (Err(e), _) => {
                let want = e.code().expect("an error code");
                assert_eq!(error_code(&body), want.as_str(), "{url}: {body}");
                assert_eq!(status, want.http_status(), "{url}");
            }
        }
        if m.scope() == Scope::Read {
            let query = serde_urlencoded::to_string(
                params
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().map_or(v.to_string(), str::to_owned)))
                    .collect::<Vec<_>>(),
            )
            .unwrap();
            let (status, got) = send(&agent, "GET", &format!("{url}?{query}"), Some(READER), None);
            assert_eq!(status, 200, "GET {url}?{query}: {got}");
        }
    }
}

#[test]
fn errors_carry_their_codes_and_statuses() {
    let (d, base) = start(true, "", "max_line_bytes = 4096");
    d.wait_db();
    let a = Some(ADMIN);
    let cases: Vec<(&str, &str, Value, ErrorCode)> = vec![
        (
            "POST",
            "/v1/recommend",
            json!({"user": "ml:999999"}),
            ErrorCode::UnknownUser,
        ),
        (
            "POST",
            "/v1/predict",
            json!({"user": "ml:1", "movie": 999999}),
            ErrorCode::UnknownMovie,
        ),
        (
            "POST",
            "/v1/recommend",
            json!({"usr": "ml:1"}),
            ErrorCode::InvalidParams,
        ),
        (
            "POST",
            "/v1/recommend",
            json!({"user": "ml:1", "n": 100000}),
            ErrorCode::InvalidParams,
        ),
        (
            "POST",
            "/v1/rate",
            json!({"user": "app-x", "movie": 1, "rating": 9}),
            ErrorCode::InvalidRating,
        ),
        (
            "POST",
            "/v1/rate",
            json!({"user": "", "movie": 1, "rating": 3}),
            ErrorCode::InvalidUser,
        ),
        (
            "POST",
            "/v1/job/status",
            json!({"job": 987654}),
            ErrorCode::UnknownJob,
        ),
        (
            "POST",
            "/v1/rollback",
            json!({"version": "nope"}),
            ErrorCode::UnknownVersion,
        ),
        ("POST", "/v1/fly", json!({}), ErrorCode::UnknownMethod),
        (
            "POST",
            "/v1/health",
            json!({"a": 1}),
            ErrorCode::InvalidParams,
        ),
        (
            "POST",
            "/v1/recommend",
            json!([1]),
            ErrorCode::InvalidParams,
        ),
        (
            "GET",
            "/v1/recommend?user=ml:1&n=many",
            Value::Null,
            ErrorCode::InvalidParams,
        ),
        (
            "POST",
            "/v1/recommend",
            json!({"user": "x".repeat(5000)}),
            ErrorCode::BodyTooLarge,
        ),
    ];
    let agent = agent();
    for (verb, path, body, want) in cases {
        let body = (!body.is_null()).then_some(body);
        let (status, got) = send(&agent, verb, &format!("{base}{path}"), a, body.as_ref());
        assert_eq!(error_code(&got), want.as_str(), "{verb} {path}: {got}");
        assert_eq!(status, want.http_status(), "{verb} {path}");
        assert!(!got["error"]["message"].as_str().unwrap().is_empty());
    }
    // Not JSON at all.
    let mut r = agent
        .post(format!("{base}/v1/recommend"))
        .header("Authorization", format!("Bearer {ADMIN}"))
        .send("{not json")
        .unwrap();
    assert_eq!(r.status(), 400);
    let got: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(error_code(&got), "parse_error");
    // A write method has no GET; an unknown path is 404.
    let (status, got) = send(&agent, "GET", &format!("{base}/v1/rate"), a, None);
    assert_eq!((status, error_code(&got)), (405, "invalid_request"));
    let (status, _) = send(&agent, "GET", &format!("{base}/nothing"), a, None);
    assert_eq!(status, 404);
    // A retrain while one runs: busy, 409.
    let long = d.long_retrain();
    let started = Instant::now();
    while d.call("health", json!({})).unwrap()["job"].is_null() {
        assert!(started.elapsed() < Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(20));
    }
    let (status, got) = post(&base, "/v1/retrain", a, json!({"force": true}));
    assert_eq!((status, error_code(&got)), (409, "busy"), "{got}");
    let (status, got) = post(&base, "/v1/job/cancel", a, json!({}));
    assert_eq!(status, 200, "{got}");
    let _ = long.join();
}

#[test]
fn no_model_is_a_503() {
    let (_d, base) = start(false, "", "");
    let (status, got) = post(
        &base,
        "/v1/recommend",
        Some(READER),
        json!({"user": "ml:1"}),
    );
    assert_eq!((status, error_code(&got)), (503, "no_model"), "{got}");
}

#[test]
fn tokens_give_their_scopes_and_loopback_gets_read() {
    let (d, base) = start(true, "", "");
    d.wait_db();
    let rate = json!({"user": "app-t", "movie": 3, "rating": 4});
    let rec = json!({"user": "ml:1"});
    // Loopback without a token: read, nothing else.
    assert_eq!(post(&base, "/v1/recommend", None, rec.clone()).0, 200);
    let (status, got) = post(&base, "/v1/rate", None, rate.clone());
    assert_eq!(
        (status, error_code(&got)),
        (403, "permission_denied"),
        "{got}"
    );
    assert!(
        got["error"]["message"].as_str().unwrap().contains("'rate'"),
        "{got}"
    );
    // A wrong token is refused, even on loopback, and never echoed.
    let (status, got) = post(&base, "/v1/recommend", Some("guess"), rec.clone());
    assert_eq!((status, error_code(&got)), (401, "unauthorized"), "{got}");
    assert!(!got.to_string().contains("guess"));
    // Each token its scopes.
    assert_eq!(post(&base, "/v1/rate", Some(RATER), rate.clone()).0, 200);
    let (status, _) = post(&base, "/v1/recommend", Some(RATER), rec.clone());
    assert_eq!(status, 403, "ingest has only rate");
    let (status, got) = post(&base, "/v1/rate", Some(READER), rate.clone());
    assert_eq!((status, error_code(&got)), (403, "permission_denied"));
    assert!(
        got["error"]["message"]
            .as_str()
            .unwrap()
            .contains("token 'web'"),
        "{got}"
    );
    let (status, _) = post(&base, "/v1/reload", Some(READER), json!({}));
    assert_eq!(status, 403);
    assert_eq!(post(&base, "/v1/reload", Some(ADMIN), json!({})).0, 200);
    // A malformed header.
    let (status, got) = send(&agent(), "POST", &format!("{base}/v1/health"), None, None);
    assert_eq!(status, 200, "{got}");
    let mut r = agent()
        .post(format!("{base}/v1/health"))
        .header("Authorization", "Basic b3BzOnNlY3JldA==")
        .send_empty()
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("www-authenticate").is_some());
    let _ = r.body_mut().read_to_string();
    // The log names the token, never its secret (the log is written in
    // the background: wait for the line).
    let deadline = Instant::now() + Duration::from_secs(10);
    let named = |l: &str| l.contains("admin request") && l.contains("reload") && l.contains("ops");
    let log = loop {
        let log = d.log_text();
        if log.lines().any(named) || Instant::now() > deadline {
            break log;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        log.lines().any(named),
        "no admin request logged with its token:\n{log}"
    );
    assert!(
        !log.contains(ADMIN) && !log.contains(READER),
        "a secret in the log"
    );
}

#[test]
fn loopback_may_be_given_nothing() {
    let (_d, base) = start(true, "loopback_scopes = []", "");
    let (status, got) = post(&base, "/v1/health", None, json!({}));
    assert_eq!((status, error_code(&got)), (401, "unauthorized"), "{got}");
    assert_eq!(post(&base, "/v1/health", Some(READER), json!({})).0, 200);
}

#[test]
fn a_retrain_streams_its_progress_to_the_end() {
    let (d, base) = start(true, "", "");
    d.wait_db();
    let before = d.version();
    let mut r = agent()
        .post(format!("{base}/v1/retrain"))
        .header("Authorization", format!("Bearer {ADMIN}"))
        .header("Content-Type", "application/json")
        .send(json!({"epochs": 5, "force": true}).to_string())
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    let text = r.body_mut().read_to_string().unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (last, progress) = lines.split_last().unwrap();
    assert!(progress.len() >= 5, "progress lines: {text}");
    assert!(progress.iter().all(|l| l["progress"].is_object()), "{text}");
    assert!(
        progress.iter().any(|l| l["progress"]["stage"] == "train"),
        "{text}"
    );
    assert_eq!(last["result"]["state"], "published", "{text}");
    assert_ne!(d.version(), before);
    assert_eq!(
        last["result"]["outcome"]["version"].as_str(),
        d.version().as_deref()
    );
}
