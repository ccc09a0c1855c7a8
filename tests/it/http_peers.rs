//! The HTTP API and its peers over raw TCP: heads and bodies that never
//! finish, idle kept-alive connections, several requests on one
//! connection.

use crate::http::start;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Raw bytes to the API; what comes back before the peer closes or
/// `limit` passes.
fn raw(base: &str, bytes: &[u8], limit: Duration) -> (String, Duration) {
    let address = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(address).unwrap();
    s.set_read_timeout(Some(limit)).unwrap();
    let started = Instant::now();
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    (
        String::from_utf8_lossy(&out).into_owned(),
        started.elapsed(),
    )
}

#[test]
fn slow_and_silent_peers_are_cut_off() {
    let (_d, base) = start(true, "", "idle_timeout_secs = 1\nwrite_timeout_secs = 1");
    // A head that never ends.
    let (reply, took) = raw(
        &base,
        b"GET /v1/health HTTP/1.1\r\nHost: x\r\n",
        Duration::from_secs(20),
    );
    assert!(
        took < Duration::from_secs(10),
        "closed after {took:?}: {reply}"
    );
    // A body that never comes.
    let head = b"POST /v1/recommend HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"user\"";
    let (reply, took) = raw(&base, head, Duration::from_secs(20));
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    assert!(reply.contains("did not arrive"), "{reply}");
    // An idle kept-alive connection.
    let (reply, took) = raw(
        &base,
        b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(20),
    );
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(
        took < Duration::from_secs(10),
        "an idle connection held {took:?}"
    );
}

#[test]
fn one_connection_serves_many_requests() {
    let (_d, base) = start(true, "", "");
    let address = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(address).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let one = "GET /v1/recommend?user=ml:2&n=2 HTTP/1.1\r\nHost: x\r\n\r\n";
    s.write_all(one.repeat(3).as_bytes()).unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while seen.matches("HTTP/1.1 200").count() < 3 || !seen.ends_with("}\n") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert_eq!(seen.matches("\"strategy\"").count(), 3, "{seen}");
}

#[test]
fn a_peer_that_never_reads_loses_its_connection() {
    let (d, base) = start(true, "", "write_timeout_secs = 1");
    let address = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(address).unwrap();
    // Far more reply bytes than the kernel's buffers hold, never read.
    let one = "GET /v1/similar?movie=1&n=1000 HTTP/1.1\r\nHost: x\r\n\r\n";
    s.write_all(one.repeat(2000).as_bytes()).unwrap();
    std::thread::sleep(Duration::from_secs(6));
    // Closed by then: what was sent is read to its end, which comes.
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut all = Vec::new();
    let ended = s.read_to_end(&mut all);
    // Closed with replies unread, the kernel may end it with a reset.
    let closed = match &ended {
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    };
    assert!(closed, "the connection is still open: {ended:?}");
    let replies = String::from_utf8_lossy(&all)
        .matches("HTTP/1.1 200")
        .count();
    assert!(replies < 2000, "every reply was written ({replies})");
    // The daemon serves on.
    assert_eq!(
        d.call("health", serde_json::json!({})).unwrap()["status"],
        "ok"
    );
}

#[test]
fn connections_past_the_limit_are_closed() {
    let (_d, base) = start(true, "", "max_connections = 2");
    let address = base.trim_start_matches("http://");
    let held: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(address).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let (reply, took) = raw(
        &base,
        b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(20),
    );
    assert!(reply.is_empty(), "a third connection was answered: {reply}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    drop(held);
    std::thread::sleep(Duration::from_millis(300));
    let (reply, _) = raw(
        &base,
        b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(20),
    );
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
}

#[test]
fn an_import_past_its_limit_is_refused_unread() {
    let (_d, base) = start(true, "", "max_import_bytes = 65536");
    let head = format!(
        "POST /v1/import HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: 100000000\r\n\r\nuserId,movieId",
        crate::http::ADMIN
    );
    let (reply, took) = raw(&base, head.as_bytes(), Duration::from_secs(20));
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert!(
        reply.contains("body_too_large") && reply.contains("max_import_bytes"),
        "{reply}"
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
}
