//! The webhook against a real HTTP server on 127.0.0.1, answering by hand.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::*;

/// One request as the server read it.
struct Received {
    /// The request line and headers, as sent.
    head: String,
    body: Vec<u8>,
}

/// A server on 127.0.0.1 that answers its n-th connection with the n-th
/// status of `answers` (None: it reads the request and never answers),
/// then stops accepting. Returns its URL, with a secret path, and the
/// requests it read.
fn serve(answers: Vec<Option<u16>>) -> (String, mpsc::Receiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/services/T0/B0/SECRET?token=TOKEN",
        listener.local_addr().unwrap()
    );
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut held = Vec::new();
        for answer in answers {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let Some(received) = read_request(&stream) else {
                continue;
            };
            let _ = tx.send(received);
            match answer {
                Some(code) => {
                    let _ = (&stream).write_all(
                        format!(
                            "HTTP/1.1 {code} Whatever\r\nContent-Length: 12\r\nConnection: close\r\n\r\nsaid {code} ok"
                        )
                        .as_bytes(),
                    );
                }
                None => held.push(stream),
            }
        }
        // Connections never answered stay open until the test is over.
        thread::sleep(Duration::from_secs(30));
        drop(held);
    });
    (url, rx)
}

fn read_request(stream: &TcpStream) -> Option<Received> {
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Received { head, body })
}

fn notifier(url: &str, timeout_secs: u64, retries: u32) -> Notifier {
    Notifier::new(&Settings {
        webhook: Some(url.into()),
        timeout: Duration::from_secs(timeout_secs),
        retries,
        ..Settings::default()
    })
    .with_host("box")
    .with_backoff(Duration::from_millis(10))
}

fn deliver(n: &Notifier) -> Attempt {
    let delivery = n.send(event("published")).unwrap().join().unwrap();
    assert_eq!(delivery.targets.len(), 1);
    let attempt = delivery.targets.into_iter().next().unwrap();
    let shown = format!("{attempt:?}");
    assert!(
        !shown.contains("SECRET") && !shown.contains("TOKEN"),
        "{shown}"
    );
    attempt
}

#[test]
fn a_200_receives_the_json_body() {
    let (url, requests) = serve(vec![Some(200)]);
    let n = notifier(&url, 5, 3);
    let attempt = deliver(&n);
    assert_eq!((attempt.attempts, &attempt.result), (1, &Ok(())));
    assert!(attempt.target.starts_with("http://127.0.0.1:"));
    assert!(attempt.target.ends_with("/…"));
    let r = requests.recv().unwrap();
    assert!(
        r.head
            .starts_with("POST /services/T0/B0/SECRET?token=TOKEN HTTP/1.1\r\n"),
        "{}",
        r.head
    );
    assert!(
        r.head
            .to_ascii_lowercase()
            .contains("\r\ncontent-type: application/json\r\n"),
        "{}",
        r.head
    );
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body, n.body(&event("published")));
    assert!(body["text"]
        .as_str()
        .unwrap()
        .starts_with("recd on box: retrain 42 published"));
    assert_eq!(body["version"], "20261130T020000Z");
}

#[test]
fn a_500_is_retried_and_the_retry_delivers() {
    let (url, requests) = serve(vec![Some(500), Some(200)]);
    let attempt = deliver(&notifier(&url, 5, 3));
    assert_eq!((attempt.attempts, &attempt.result), (2, &Ok(())));
    assert_eq!(requests.try_iter().count(), 2);
}

#[test]
fn a_4xx_is_not_retried() {
    let (url, requests) = serve(vec![Some(404), Some(200)]);
    let attempt = deliver(&notifier(&url, 5, 3));
    assert_eq!(attempt.attempts, 1);
    assert_eq!(
        attempt.result,
        Err(Failure::Status {
            code: 404,
            body: "said 404 ok".into()
        })
    );
    assert_eq!(requests.try_iter().count(), 1);
}

#[test]
fn a_server_that_never_answers_fails_after_the_timeout_and_retries() {
    let (url, requests) = serve(vec![None, None]);
    let started = Instant::now();
    let attempt = deliver(&notifier(&url, 1, 1));
    let took = started.elapsed();
    assert_eq!(attempt.attempts, 2);
    assert!(
        matches!(attempt.result, Err(Failure::TimedOut(_))),
        "{:?}",
        attempt.result
    );
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(8),
        "{took:?}"
    );
    assert_eq!(requests.try_iter().count(), 2);
}

#[test]
fn a_refused_connection_is_retried_then_reported() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/services/SECRET?token=TOKEN");
    let started = Instant::now();
    let attempt = deliver(&notifier(&url, 5, 2));
    assert_eq!(attempt.attempts, 3);
    assert!(
        matches!(attempt.result, Err(Failure::Transport(_))),
        "{:?}",
        attempt.result
    );
    // 10 ms, then 20 ms, between the attempts.
    assert!(started.elapsed() >= Duration::from_millis(30));
    assert!(started.elapsed() < Duration::from_secs(5));
}
