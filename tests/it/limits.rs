//! Resource limits and peers that misbehave, against the real daemon: a
//! test per limit (line length, `n`, user ids, import size, the write-side
//! timeout; the connection limit is in `daemon`), trickling peers, and
//! `import`, whose bytes come from the caller, never from a path.

use crate::helper;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use helper::daemon::{raw_exchange, Daemon};
use helper::{as_nobody, code};
use recd::protocol::ErrorCode;
use serde_json::{json, Value};

fn open_connections(d: &Daemon) -> u64 {
    d.call("stats", json!({})).unwrap()["connections"]["open"]
        .as_u64()
        .unwrap()
}

/// Wait until only the asking connection is open.
fn wait_alone(d: &Daemon, limit: Duration) -> Duration {
    let started = Instant::now();
    while open_connections(d) != 1 {
        assert!(
            started.elapsed() < limit,
            "{} connections still open after {limit:?}",
            open_connections(d)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    started.elapsed()
}

#[test]
fn a_peer_that_never_reads_its_replies_loses_its_slot() {
    let d = Daemon::start_with(true, &[], "max_connections = 4\nwrite_timeout_secs = 1");
    wait_alone(&d, Duration::from_secs(10));
    // Three peers pipeline big replies and never read one: the daemon's
    // writes block once the socket buffers are full.
    let request =
        b"{\"id\":1,\"method\":\"recommend\",\"params\":{\"user\":\"ml:1\",\"n\":1000}}\n";
    let started = Instant::now();
    let hogs: Vec<UnixStream> = (0..3)
        .map(|_| {
            let mut s = UnixStream::connect(d.socket()).unwrap();
            s.set_write_timeout(Some(Duration::from_secs(3))).unwrap();
            for _ in 0..2000 {
                if s.write_all(request).is_err() {
                    break;
                }
            }
            s
        })
        .collect();
    // The write timeout frees their slots: only the asking connection stays.
    wait_alone(&d, Duration::from_secs(15));
    println!(
        "three peers that never read (write timeout 1 s) were cut off within {:?} of their first request",
        started.elapsed()
    );
    for mut h in hogs {
        // Their replies end: the connection was closed, not left hanging.
        h.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut sink = Vec::new();
        let _ = h.read_to_end(&mut sink);
    }
    let r = d.call("recommend", json!({"user": "ml:1"})).unwrap();
    assert_eq!(r["items"].as_array().unwrap().len(), 10);
}

#[test]
fn peers_trickling_a_byte_a_second_starve_no_one() {
    let d = Daemon::start_with(true, &[], "max_connections = 64\nidle_timeout_secs = 3");
    wait_alone(&d, Duration::from_secs(10));
    let socket = d.socket();
    let tricklers: Vec<_> = (0..40)
        .map(|_| {
            let socket = socket.clone();
            std::thread::spawn(move || {
                let mut s = UnixStream::connect(&socket).unwrap();
                let started = Instant::now();
                for b in b"{\"id\":1,\"method\":\"health\"}\n" {
                    if s.write_all(&[*b]).is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
                started.elapsed()
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    // Everyone else is answered at once meanwhile.
    let mut slowest = Duration::ZERO;
    let mut c = d.client();
    for _ in 0..100 {
        let t = Instant::now();
        c.call_json("recommend", json!({"user": "ml:2"})).unwrap();
        slowest = slowest.max(t.elapsed());
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("slowest of 100 requests beside 40 trickling peers: {slowest:?}");
    assert!(slowest < Duration::from_secs(1), "{slowest:?}");
    // A request line that takes longer than the idle timeout is cut off:
    // the tricklers' writes fail long before their 28 bytes are sent.
    for t in tricklers {
        let lasted = t.join().unwrap();
        assert!(lasted < Duration::from_secs(15), "trickled for {lasted:?}");
    }
    wait_alone(&d, Duration::from_secs(10));
}

#[test]
fn each_limit_is_enforced_with_its_code() {
    let d = Daemon::start_with(true, &[], "max_line_bytes = 1024");
    d.wait_db();
    let r = raw_exchange(&d.socket(), &[b'x'; 2000], 1);
    assert_eq!(r[0]["error"]["code"], "line_too_long");
    for n in [0, 1001] {
        assert_eq!(
            code(d.call("recommend", json!({"user": "ml:1", "n": n}))),
            ErrorCode::InvalidParams
        );
        assert_eq!(
            code(d.call("similar", json!({"movie": 1, "n": n}))),
            ErrorCode::InvalidParams
        );
    }
    // The same user-id rules for every method that names a user.
    let long = "u".repeat(129);
    for user in ["", "  ", "a\u{7}b", long.as_str()] {
        for (method, params) in [
            ("recommend", json!({"user": user})),
            ("predict", json!({"user": user, "movie": 1})),
            ("rate", json!({"user": user, "movie": 1, "rating": 4})),
            ("unrate", json!({"user": user, "movie": 1})),
        ] {
            let e = d.call(method, params).unwrap_err();
            assert_eq!(e.code(), Some(ErrorCode::InvalidUser), "{method} {user:?}");
            assert!(e.to_string().contains("user id"), "{e}");
        }
    }
    // A rating JSON cannot carry says what is wrong.
    let e = d
        .call("rate", json!({"user": "u", "movie": 1, "rating": null}))
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::InvalidParams));
    assert!(e.to_string().contains("finite number"), "{e}");
    for bad in ["nan", "inf", "-inf", "NaN"] {
        let out = d.recctl(&["rate", "u", "1", bad]);
        assert_eq!(out.code, 2, "{bad}: {}", out.stderr);
        assert!(out.stderr.contains("finite number"), "{}", out.stderr);
    }
}

fn import_line(bytes: u64) -> String {
    format!("{{\"id\":7,\"method\":\"import\",\"params\":{{\"bytes\":{bytes}}}}}\n")
}

#[test]
fn an_import_past_its_limit_is_refused_unread() {
    let d = Daemon::start_with(true, &[], "max_import_bytes = 1024");
    d.wait_db();
    let file = d.fixture.path().join("big.csv");
    let line = "limit-user,1,4\n";
    std::fs::write(&file, line.repeat(100)).unwrap();
    let out = d.recctl(&["import", file.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("1500 bytes") && out.stderr.contains("daemon.max_import_bytes"),
        "{}",
        out.stderr
    );
    // Announced and never sent: refused at once, and the connection closes
    // rather than read what follows as requests.
    let mut s = UnixStream::connect(d.socket()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(import_line(1 << 40).as_bytes()).unwrap();
    let mut all = String::new();
    s.read_to_string(&mut all).unwrap();
    assert!(
        all.contains("invalid_params") && all.lines().count() == 1,
        "{all}"
    );
    // Within the limit, it is imported.
    std::fs::write(&file, line.repeat(60)).unwrap();
    let out = d.recctl(&["--json", "import", file.to_str().unwrap()]).ok();
    assert_eq!(out.json()["accepted"], 60);
    assert_eq!(out.json()["bytes"], 900);
}

#[test]
fn an_import_is_the_callers_bytes_never_a_path() {
    let d = Daemon::start_with(true, &[], "idle_timeout_secs = 2");
    d.wait_db();
    // The daemon opens no file a peer names.
    let e = d
        .call("import", json!({"path": "/etc/shadow"}))
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::InvalidParams));
    assert!(e.to_string().contains("does not read files"), "{e}");
    // recctl sends only regular files, and says so at once for the rest.
    let fifo = d.fixture.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    for path in ["/dev/zero", fifo.to_str().unwrap(), "/"] {
        let t = Instant::now();
        let out = d.recctl(&["import", path]);
        assert_eq!(out.code, 2, "{path}: {}", out.stderr);
        assert!(out.stderr.contains("not a regular file"), "{}", out.stderr);
        assert!(t.elapsed() < Duration::from_secs(5));
    }
    // Bytes that stop arriving: the import ends with an error once the idle
    // timeout passes, naming how far it got.
    let mut s = UnixStream::connect(d.socket()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(import_line(100).as_bytes()).unwrap();
    s.write_all(b"stall-user,1,4\n").unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut reply = String::new();
    r.read_line(&mut reply).unwrap();
    let v: Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(v["error"]["code"], "invalid_params", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("after 15 of the 100 bytes"),
        "{v}"
    );
    // Several imports and requests on one connection, in order.
    let body = b"pipe-user,1,4\npipe-user,2,5\n";
    let mut bytes = import_line(body.len() as u64).into_bytes();
    bytes.extend_from_slice(body);
    bytes.extend_from_slice(
        b"{\"id\":8,\"method\":\"predict\",\"params\":{\"user\":\"pipe-user\",\"movie\":3}}\n",
    );
    let r = raw_exchange(&d.socket(), &bytes, 2);
    assert_eq!(r[0]["result"]["accepted"], 2, "{}", r[0]);
    assert_eq!(r[1]["id"], 8, "{}", r[1]);
}

#[test]
fn a_file_only_the_daemon_may_read_is_never_echoed() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("SKIPPED a_file_only_the_daemon_may_read_is_never_echoed: needs root to switch to user nobody");
        return;
    }
    // nobody's own group is the admin group: admin methods are allowed it.
    let d = Daemon::start_with(true, &[], "admin_group = \"nogroup\"");
    d.wait_db();
    use std::os::unix::fs::PermissionsExt;
    let secret = d.fixture.path().join("secret.toml");
    std::fs::write(&secret, "alice,1,S3cretPassw0rd\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::set_permissions(d.fixture.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(d.socket(), std::fs::Permissions::from_mode(0o666)).unwrap();
    let out: helper::Run = std::process::Command::new(env!("CARGO_BIN_EXE_recctl"))
        .uid(65534)
        .gid(65534)
        .arg("--socket")
        .arg(d.socket())
        .arg("import")
        .arg(&secret)
        .output()
        .unwrap()
        .into();
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("Permission denied"), "{}", out.stderr);
    assert!(!format!("{}{}", out.stdout, out.stderr).contains("S3cret"));
    // Nor by naming the path itself; and a refused import's bytes are
    // skipped, so the request after them is answered.
    let socket = d.socket();
    let path = secret.to_str().unwrap().to_owned();
    assert!(as_nobody(move || {
        let Ok(mut c) = recd::client::Client::connect(&socket) else {
            return false;
        };
        let named = c.call_json("import", json!({ "path": path }));
        let refused = named.is_err_and(|e| {
            e.code() == Some(ErrorCode::InvalidParams) && !e.to_string().contains("S3cret")
        });
        refused && c.call_json("health", json!({})).is_ok()
    }));
    // A peer outside the admin group: the bytes it announced are skipped.
    let d = Daemon::start();
    d.wait_db();
    std::fs::set_permissions(d.fixture.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(d.socket(), std::fs::Permissions::from_mode(0o666)).unwrap();
    let socket = d.socket();
    assert!(as_nobody(move || {
        let body = b"skip-user,1,4\n{\"id\":99,\"method\":\"stats\"}\n";
        let mut bytes = import_line(body.len() as u64).into_bytes();
        bytes.extend_from_slice(body);
        bytes.extend_from_slice(b"{\"id\":8,\"method\":\"health\"}\n");
        // No panics in the forked child: any failure is a false.
        let Ok(mut s) = UnixStream::connect(&socket) else {
            return false;
        };
        if s.write_all(&bytes).is_err() {
            return false;
        }
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        let replies: Vec<Value> = BufReader::new(s)
            .lines()
            .take(2)
            .map_while(Result::ok)
            .filter_map(|l| serde_json::from_str(&l).ok())
            .collect();
        replies.len() == 2
            && replies[0]["error"]["code"] == "permission_denied"
            && replies[1]["id"] == 8
    }));
}
