//! The HTTP API's other faces: the endpoints of the system recd replaces
//! (every `curl` command of its operators' guide, as docs/http.md quotes
//! it, run against the daemon), and TLS with a test certificate.

use crate::helper;
use crate::http::{agent, free_port, section, send, ADMIN};

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;

use helper::daemon::{Daemon, Setup};
use serde_json::{json, Value};

/// The commands of docs/http.md's block of the old guide, each with its
/// continuation lines.
fn guide_commands() -> Vec<String> {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/http.md"),
    )
    .unwrap();
    let start = text
        .find("The operators' guide's commands")
        .expect("the guide block");
    let block = &text[start..];
    let block = &block[block.find("```sh\n").unwrap() + 6..];
    let block = &block[..block.find("```").unwrap()];
    let mut commands: Vec<String> = Vec::new();
    for line in block.lines() {
        if line.starts_with("curl") {
            commands.push(String::new());
        }
        if let Some(c) = commands.last_mut() {
            if !line.trim().is_empty() {
                c.push_str(line);
                c.push('\n');
            }
        }
    }
    commands
}

fn curl(command: &str, port: u16) -> Value {
    let command = command.replace("localhost:8000", &format!("localhost:{port}"));
    let out = Command::new("sh")
        .args([
            "-c",
            &format!("{} --silent --show-error", command.trim_end()),
        ])
        .output()
        .expect("sh runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{command}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{command}: {e}: {text}"))
}

#[test]
fn the_old_guides_curl_commands_work_unchanged() {
    if Command::new("curl").arg("--version").output().is_err() {
        println!("SKIPPED: no curl on this machine (CI installs it)");
        return;
    }
    let port = free_port();
    let address: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let sections = section(address, "loopback_scopes = [\"read\", \"rate\", \"admin\"]");
    let d = Daemon::start_setup(&Setup {
        sections: &sections,
        ..Setup::default()
    });
    d.wait_db();
    // Enough new ratings for the guide's gate (100).
    for k in 0..120u32 {
        let user = format!("app-{}", k % 12);
        d.call(
            "rate",
            json!({"user": user, "movie": 1 + k % 150, "rating": 1 + k % 5}),
        )
        .unwrap();
    }
    let commands = guide_commands();
    assert_eq!(commands.len(), 6, "{commands:?}");
    let mut retrains = 0;
    for command in &commands {
        let reply = curl(command, port);
        let path = command
            .split_whitespace()
            .find(|w| w.contains("localhost:8000"))
            .unwrap();
        let path = path
            .trim_matches('"')
            .trim_start_matches("http://localhost:8000");
        let has = |keys: &[&str]| {
            for k in keys {
                assert!(reply.get(*k).is_some(), "{path}: no `{k}` in {reply}");
            }
        };
        has(&["timestamp"]);
        match path {
            "/admin/retrain/check" => {
                has(&[
                    "needs_retrain",
                    "database_stats",
                    "current_model",
                    "recommendation",
                ]);
                assert_eq!(reply["database_stats"]["total_ratings"], 120, "{reply}");
                assert_eq!(reply["needs_retrain"], true, "{reply}");
                assert_eq!(
                    reply["current_model"]["version"].as_str(),
                    d.version().as_deref()
                );
            }
            "/admin/retrain" => {
                has(&[
                    "success",
                    "message",
                    "training_time",
                    "metrics",
                    "db_ratings_count",
                ]);
                retrains += 1;
                if retrains == 1 {
                    assert_eq!(reply["success"], true, "{reply}");
                    assert!(reply["metrics"]["rmse"].as_f64().unwrap() > 0.0, "{reply}");
                    assert!(reply["metrics"]["mae"].as_f64().unwrap() > 0.0, "{reply}");
                    assert!(reply["training_time"].as_f64().unwrap() > 0.0);
                    assert_eq!(reply["db_ratings_count"], 120);
                    let health = d.call("health", json!({})).unwrap();
                    assert_eq!(
                        health["model"]["factors"], 100,
                        "n_factors reached the trainer"
                    );
                } else {
                    // Nothing new since the retrain above: the gate says no.
                    assert_eq!(reply["success"], false, "{reply}");
                    assert!(reply["message"]
                        .as_str()
                        .unwrap()
                        .contains("No retrain needed"));
                }
            }
            "/recommendations/from-db" => {
                has(&["user_id", "recommendations", "count"]);
                assert_eq!(reply["user_id"], "user_nuevo");
                assert_eq!(reply["count"], 5);
                let first = &reply["recommendations"][0];
                assert!(first["movie_id"].is_string(), "{reply}");
                assert!(first["predicted_rating"].is_number() && first["title"].is_string());
                assert_eq!(first["rank"], 1);
            }
            "/database/stats" => {
                has(&["total_ratings", "total_users", "total_movies_rated"]);
                assert_eq!(reply["total_ratings"], 120);
                assert_eq!(reply["total_users"], 12);
            }
            "/health" => {
                has(&[
                    "status",
                    "model_loaded",
                    "database_connected",
                    "total_ratings_in_db",
                ]);
                has(&["n_users", "n_items", "global_mean"]);
                assert_eq!(reply["status"], "healthy");
                assert_eq!(reply["database_connected"], true);
            }
            other => panic!("a command of the guide not checked: {other}"),
        }
    }
    assert_eq!(retrains, 2);
}

#[test]
fn old_endpoints_refuse_as_the_old_system_did() {
    let port = free_port();
    let address: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let sections = section(address, "");
    let d = Daemon::start_setup(&Setup {
        sections: &sections,
        ..Setup::default()
    });
    d.wait_serving();
    let base = format!("http://{address}");
    let a = agent();
    let post = |path: &str, token: Option<&str>, body: Value| {
        send(&a, "POST", &format!("{base}{path}"), token, Some(&body))
    };
    // Validation: 422 with a detail.
    let (status, got) = post(
        "/recommendations/from-db",
        None,
        json!({"user_id": "u", "n": 51}),
    );
    assert_eq!(status, 422, "{got}");
    assert!(got["detail"]
        .as_str()
        .unwrap()
        .contains("n must be between 1 and 50"));
    let (status, _) = post("/recommendations/from-db", None, json!({"n": 5}));
    assert_eq!(status, 422);
    let (status, got) = post("/admin/retrain", Some(ADMIN), json!({"n_factors": 5}));
    assert_eq!(status, 422, "{got}");
    // Retraining is admin: the default loopback scope is read.
    let (status, got) = post("/admin/retrain", None, json!({}));
    assert_eq!(status, 403, "{got}");
    assert!(got["detail"].is_string());
    let (status, _) = send(&a, "GET", &format!("{base}/admin/retrain"), None, None);
    assert_eq!(status, 405);
    drop(d);
}

#[test]
fn tls_serves_https_with_the_configured_certificate() {
    let key = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let f = tempfile::tempdir().unwrap();
    let (cert_pem, key_pem) = (f.path().join("cert.pem"), f.path().join("key.pem"));
    std::fs::write(&cert_pem, key.cert.pem()).unwrap();
    std::fs::write(&key_pem, key.key_pair.serialize_pem()).unwrap();
    let port = free_port();
    let address: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let tls = format!(
        "tls_cert = \"{}\"\ntls_key = \"{}\"",
        cert_pem.display(),
        key_pem.display()
    );
    let sections = section(address, &tls);
    let d = Daemon::start_setup(&Setup {
        sections: &sections,
        ..Setup::default()
    });
    d.wait_serving();
    let roots = vec![ureq::tls::Certificate::from_der(key.cert.der()).to_owned()];
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::Specific(Arc::new(roots)))
                .build(),
        )
        .build();
    let tls_agent = ureq::Agent::new_with_config(config);
    let (status, got) = send(
        &tls_agent,
        "POST",
        &format!("https://{address}/v1/recommend"),
        Some(ADMIN),
        Some(&json!({"user": "ml:1", "n": 2})),
    );
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["items"].as_array().unwrap().len(), 2);
    // Plain HTTP to the TLS port gets no answer.
    let plain = agent().get(format!("http://{address}/v1/health")).call();
    assert!(plain.is_err(), "plain HTTP answered: {plain:?}");
    // A client that does not trust the certificate fails its handshake.
    let untrusting = agent().get(format!("https://{address}/v1/health")).call();
    assert!(untrusting.is_err());
    drop(d);

    // A key that is not a key stops the start, naming the key.
    std::fs::write(&key_pem, "not a key\n").unwrap();
    let d = Daemon {
        fixture: helper::Fixture::new(),
        child: None,
    };
    let config = d.fixture.path().join("recd.toml");
    std::fs::write(
        &config,
        Setup {
            sections: &sections,
            ..Setup::default()
        }
        .config(),
    )
    .unwrap();
    let out = d
        .command(&[])
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("http.tls_key") && stderr.contains("key.pem"),
        "{stderr}"
    );
    let check = helper::recd(&["--config", config.to_str().unwrap(), "check-config"]);
    assert!(
        check.stdout.contains("http.tls_key"),
        "check-config: {}",
        check.stdout
    );
}
