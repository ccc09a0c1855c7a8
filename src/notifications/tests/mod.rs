//! The message, the events filter, redaction and the settings; the
//! webhook against a real local HTTP server, the command as a real
//! process.

mod command;
mod webhook;

use std::time::Duration;

use serde_json::json;

use super::*;

/// A run as the daemon reports it.
fn event(status: &str) -> RunEvent {
    RunEvent {
        status: status.into(),
        text: "retrain 42 published model 20261130T020000Z, RMSE 0.8512 (was 0.8530), 1,234 new ratings, 12.3 s".into(),
        fields: json!({ "job": 42, "version": "20261130T020000Z", "rmse": 0.8512, "new_ratings": 1234 }),
    }
}

fn settings() -> Settings {
    Settings {
        timeout: Duration::from_secs(5),
        ..Settings::default()
    }
}

#[test]
fn the_body_is_the_text_line_beside_the_runs_fields() {
    let n = Notifier::new(&settings()).with_host("box");
    let body = n.body(&event("published"));
    assert_eq!(
        body,
        json!({
            "text": "recd on box: retrain 42 published model 20261130T020000Z, RMSE 0.8512 (was 0.8530), 1,234 new ratings, 12.3 s",
            "status": "published",
            "host": "box",
            "job": 42,
            "version": "20261130T020000Z",
            "rmse": 0.8512,
            "new_ratings": 1234,
        })
    );
}

#[test]
fn nothing_is_sent_without_a_target_or_for_a_filtered_status() {
    let n = Notifier::new(&Settings::default());
    assert!(!n.is_enabled());
    assert!(n.send(event("failed")).is_none());

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sent");
    let n = Notifier::new(&Settings {
        command: Some(vec![
            "/bin/sh".into(),
            "-c".into(),
            format!("cat > '{}'", file.display()),
        ]),
        events: vec!["failed".into(), "cancelled".into()],
        ..settings()
    });
    assert!(n.is_enabled());
    assert!(n.send(event("published")).is_none());
    assert!(n.send(event("skipped")).is_none());
    assert!(!file.exists());
    let delivery = n.send(event("failed")).unwrap().join().unwrap();
    assert!(delivery.is_ok(), "{delivery:?}");
    assert!(file.exists());
}

#[test]
fn redact_url_keeps_only_scheme_host_and_port() {
    for (url, want) in [
        (
            "https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXX",
            "https://hooks.slack.com/…",
        ),
        ("https://user:pass@host/x?token=y", "https://…@host/…"),
        ("http://127.0.0.1:8080/hook", "http://127.0.0.1:8080/…"),
        ("https://example.org/?token=y", "https://example.org/…"),
        ("https://example.org/", "https://example.org"),
        ("https://example.org", "https://example.org"),
        ("not a url at all", "(not a URL)"),
        ("/relative/SECRET", "(not a URL)"),
    ] {
        assert_eq!(redact_url(url), want, "{url}");
    }
}

#[test]
fn debug_and_describe_hide_the_secrets() {
    let s = Settings {
        webhook: Some("https://user:pass@hooks.slack.com/services/T0/B0/SECRET?token=TOKEN".into()),
        command: Some(vec!["/usr/bin/curl".into(), "-u".into(), "api:KEY".into()]),
        ..Settings::default()
    };
    let n = Notifier::new(&s);
    for shown in [format!("{s:?}"), format!("{n:?}"), n.describe().to_string()] {
        for secret in ["pass", "user", "SECRET", "TOKEN", "KEY", "/services"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("https://…@hooks.slack.com/…"), "{shown}");
        assert!(shown.contains("curl"), "{shown}");
    }
    assert_eq!(
        n.describe(),
        json!({
            "targets": [
                { "webhook": "https://…@hooks.slack.com/…" },
                { "command": "curl" },
            ],
            "events": ["published", "skipped", "rejected", "failed", "cancelled"],
            "timeout_secs": 10,
            "retries": 3,
        })
    );
}

#[test]
fn settings_name_the_bad_key() {
    let bad = |s: Settings| s.validate().unwrap_err().key;
    assert_eq!(
        bad(Settings {
            webhook: Some("mailto:ops@example.org".into()),
            ..settings()
        }),
        "notify.webhook"
    );
    assert_eq!(
        bad(Settings {
            command: Some(vec![]),
            ..settings()
        }),
        "notify.command"
    );
    assert_eq!(
        bad(Settings {
            events: vec!["succeeded".into()],
            ..settings()
        }),
        "notify.events"
    );
    assert_eq!(
        bad(Settings {
            timeout: Duration::ZERO,
            ..settings()
        }),
        "notify.timeout_secs"
    );
    assert_eq!(
        bad(Settings {
            retries: 100,
            ..settings()
        }),
        "notify.retries"
    );
    assert_eq!(
        bad(Settings {
            events: vec!["running".into()],
            ..settings()
        }),
        "notify.events"
    );
    assert_eq!(Settings::default().validate(), Ok(()));
    assert_eq!(
        statuses(),
        ["published", "skipped", "rejected", "failed", "cancelled"]
    );
}
