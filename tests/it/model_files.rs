//! Model files a hostile or broken hand put in the models directory: the
//! daemon refuses each at once with `reload_failed`, keeps serving, and
//! `recd model inspect` reports it without a panic.

use crate::helper;

use std::time::{Duration, Instant};

use helper::daemon::Daemon;
use recd::protocol::ErrorCode;
use serde_json::json;

/// Make `current` point at `name` (a file in the models dir), atomically.
fn point_current(d: &Daemon, name: &str) {
    let models = d.models();
    let _ = std::fs::remove_file(models.join(".tmp-link"));
    std::os::unix::fs::symlink(name, models.join(".tmp-link")).unwrap();
    std::fs::rename(models.join(".tmp-link"), models.join("current")).unwrap();
}

/// A model file whose rated-items section claims a length that is not a
/// whole number of items, with its checksum made valid again (as a forger,
/// or a bug, would): only the structure checks can refuse it.
fn odd_rated_items(good: &[u8]) -> Vec<u8> {
    const RATED_ITEMS: u32 = recd::model::format::Kind::RatedItems as u32;
    let mut bad = good.to_vec();
    let count = u32::from_le_bytes(bad[12..16].try_into().unwrap()) as usize;
    let entry = (0..count)
        .map(|n| 64 + n * 24)
        .find(|&e| u32::from_le_bytes(bad[e..e + 4].try_into().unwrap()) == RATED_ITEMS)
        .expect("a rated-items section");
    let len = u64::from_le_bytes(bad[entry + 16..entry + 24].try_into().unwrap());
    bad[entry + 16..entry + 24].copy_from_slice(&(len - 2).to_le_bytes());
    bad[24..28].fill(0);
    let crc = crc32fast::hash(&bad);
    bad[24..28].copy_from_slice(&crc.to_le_bytes());
    bad
}

/// Bugs: a CRC-valid file with a rated-items section of odd length
/// panicked the opener (`internal`, and `recd model inspect` exited 101); a
/// version that is a symlink to /dev/zero was read until memory ran out; a
/// FIFO hung `reload` under the swap lock, and a fresh daemon never served.
#[test]
fn hostile_model_files_are_refused_with_reload_failed() {
    let mut d = Daemon::start();
    let good = d.version().unwrap();
    let models = d.models();
    let bytes = std::fs::read(models.join(format!("{good}.recd"))).unwrap();
    let odd = "20991231T000000Z-odd0";
    std::fs::write(models.join(format!("{odd}.recd")), odd_rated_items(&bytes)).unwrap();
    let zero = "20991231T000001Z-zero";
    std::os::unix::fs::symlink("/dev/zero", models.join(format!("{zero}.recd"))).unwrap();
    let fifo = "20991231T000002Z-fifo";
    nix::unistd::mkfifo(
        &models.join(format!("{fifo}.recd")),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    for (version, why) in [
        (odd, "not a whole number of items"),
        (zero, "not a regular file (a character device)"),
        (fifo, "not a regular file (a FIFO)"),
    ] {
        point_current(&d, &format!("{version}.recd"));
        let started = Instant::now();
        let e = d.call("reload", json!({})).unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::ReloadFailed), "{version}: {e}");
        assert!(e.to_string().contains(why), "{version}: {e}");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(d.version().unwrap(), good);
        d.call("recommend", json!({ "user": "ml:1" })).unwrap();
        let inspect = helper::recd(&[
            "model",
            "inspect",
            models.join(format!("{version}.recd")).to_str().unwrap(),
        ]);
        assert_eq!(inspect.code, 1, "{version}: {}", inspect.stderr);
        assert!(inspect.stderr.contains(why), "{}", inspect.stderr);
    }
    // `models` lists each as invalid (and answers at all).
    let m = d.call("models", json!({})).unwrap();
    for version in [odd, zero, fifo] {
        let entry = m["versions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["version"] == version)
            .unwrap_or_else(|| panic!("{version} in {m}"));
        assert_eq!(entry["valid"], false, "{entry}");
    }
    // A fresh daemon whose `current` is the FIFO serves the newest valid
    // version, degraded, at once.
    assert_eq!(d.stop(), 0);
    d.spawn(&[]);
    d.wait_ready();
    let h = d.call("health", json!({})).unwrap();
    assert_eq!(h["status"], "degraded", "{h}");
    assert_eq!(h["model"]["version"], good.as_str());
}
