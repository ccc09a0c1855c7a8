//! First start with no model and no dataset: the daemon downloads the
//! archive (here from an HTTP server on loopback), checks its MD5 and
//! unpacks it, or says where to put the files.

use crate::helper;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use helper::daemon::Daemon;
use md5::{Digest, Md5};
use serde_json::json;

/// Serve `body` to every GET on 127.0.0.1 until the test ends; returns the URL.
fn serve(body: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/ml-1m.zip", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(20) {
            let Ok(mut s) = stream else { continue };
            let mut req = [0u8; 4096];
            let _ = s.read(&mut req);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/zip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
        }
    });
    url
}

/// A zip laid out like ml-1m.zip, from a synthetic set.
fn archive() -> Vec<u8> {
    let fx = helper::Fixture::new();
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.add_directory("ml-1m/", opts).unwrap();
    for name in ["ratings.dat", "movies.dat", "users.dat"] {
        zip.start_file(format!("ml-1m/{name}"), opts).unwrap();
        zip.write_all(&std::fs::read(fx.data().join(name)).unwrap())
            .unwrap();
    }
    // An entry that tries to escape is never written outside.
    zip.start_file("../../escape.txt", opts).unwrap();
    zip.write_all(b"nope").unwrap();
    zip.finish().unwrap();
    out.into_inner()
}

fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn wait_for(d: &Daemon, what: &str, mut done: impl FnMut(&Daemon) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done(d) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; log:\n{}",
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_good_archive_is_checked_unpacked_and_trained_on() {
    let zip = archive();
    let url = serve(zip.clone());
    let keys = format!(
        "dataset = \"ml-1m\"\ndataset_url = \"{url}\"\ndataset_md5 = \"{}\"",
        md5_hex(&zip)
    );
    let d = Daemon::start_full(&keys, false, &[], "");
    wait_for(&d, "a model", |d| d.version().is_some());
    let dataset = d.fixture.path().join("ml-1m");
    assert!(dataset.join("ratings.dat").is_file());
    assert!(dataset.join("movies.dat").is_file());
    assert!(!dataset.join("escape.txt").exists());
    assert!(!d.fixture.path().join("escape.txt").exists());
    let leftovers: Vec<_> = std::fs::read_dir(d.fixture.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".recd-download")
        })
        .collect();
    assert!(leftovers.is_empty());
    d.call("recommend", json!({ "user": "ml:1" })).unwrap();
    wait_for(&d, "the download log lines", |d| {
        d.log_text().contains("downloading the dataset:")
            && d.log_text().contains("dataset ready in")
    });
}

#[test]
fn a_wrong_checksum_discards_the_archive() {
    let url = serve(archive());
    let keys = format!(
        "dataset = \"ml-1m\"\ndataset_url = \"{url}\"\ndataset_md5 = \"{}\"",
        "0".repeat(32)
    );
    let d = Daemon::start_full(&keys, false, &[], "");
    wait_for(&d, "the checksum error", |d| {
        d.log_text().contains("does not match the expected")
    });
    wait_for(&d, "status no_model", |d| {
        d.call("health", json!({})).unwrap()["status"] == "no_model"
    });
    assert!(!d.fixture.path().join("ml-1m").exists());
    let log = d.log_text();
    assert!(
        log.contains("put the MovieLens 1M files (ratings.dat, movies.dat"),
        "{log}"
    );
}

#[test]
fn a_server_that_is_gone_is_reported_with_where_to_put_the_files() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let keys = format!("dataset = \"ml-1m\"\ndataset_url = \"http://127.0.0.1:{port}/ml-1m.zip\"");
    let d = Daemon::start_full(&keys, false, &[], "");
    wait_for(&d, "the download error", |d| {
        d.log_text().contains("failed")
    });
    wait_for(&d, "status no_model", |d| {
        d.call("health", json!({})).unwrap()["status"] == "no_model"
    });
    let log = d.log_text();
    assert!(
        log.contains(&format!(
            "downloading http://127.0.0.1:{port}/ml-1m.zip failed"
        )),
        "{log}"
    );
    assert!(
        log.contains("in the directory paths.dataset names"),
        "{log}"
    );
    assert!(!d.fixture.path().join("ml-1m").exists());
}
