//! The machine failing under the real daemon: a full disk (a small tmpfs),
//! a database file made read-only, its `-wal` deleted; and the modes of
//! the files it writes, whatever the umask. Each fault must answer
//! `db_unavailable` naming it, never `internal`, and must not outlast its
//! repair: writes come back by themselves, with no restart.
//!
//! Mounting and `chattr` need root (CI runs as root); without them a test
//! says it is skipped.

use crate::helper;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use helper::daemon::Daemon;
use recd::protocol::ErrorCode;
use recd::store::{Options, Store, Target};
use serde_json::json;

/// A tmpfs of `size` mounted on a fresh temp dir (or on `at`), unmounted
/// on drop.
struct Tmpfs {
    dir: PathBuf,
    _own: Option<tempfile::TempDir>,
}

impl Tmpfs {
    /// None (the test says it is skipped) when the mount is refused.
    fn mount(test: &str, size: &str, at: Option<&Path>) -> Option<Tmpfs> {
        let own = match at {
            Some(_) => None,
            None => Some(tempfile::tempdir().unwrap()),
        };
        let dir = at.map_or_else(|| own.as_ref().unwrap().path().to_owned(), Path::to_owned);
        std::fs::create_dir_all(&dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs { dir, _own: own }),
            Ok(o) => {
                let why = String::from_utf8_lossy(&o.stderr);
                println!("SKIPPED: {test}: cannot mount a tmpfs: {}", why.trim());
                None
            }
            Err(e) => {
                println!("SKIPPED: {test}: cannot run mount: {e}");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazily: a process still inside lets go of it when it exits.
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// Write zeros to `path` until the disk is full.
fn fill(path: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 16 << 10];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.sync_all();
}

fn rate(d: &Daemon, user: &str, movie: u32) -> Result<serde_json::Value, recd::client::CallError> {
    d.call("rate", json!({"user": user, "movie": movie, "rating": 4}))
}

/// Poll `rate` until it succeeds; how long that took.
fn until_rated(d: &Daemon, user: &str, movie: u32, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        match rate(d, user, movie) {
            Ok(_) => return start.elapsed(),
            Err(e) => {
                assert_eq!(e.code(), Some(ErrorCode::DbUnavailable), "{e}");
                assert!(
                    start.elapsed() < limit,
                    "writes did not come back within {limit:?}: {e}"
                );
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The movies `user` has rated in the SQLite database at `path`.
fn stored(path: &Path, user: &str) -> Vec<u32> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let options = Options {
            max_connections: 1,
            busy_timeout: Duration::from_secs(5),
        };
        let store = Store::open(&Target::Sqlite(path.to_owned()), options)
            .await
            .unwrap();
        let mut movies: Vec<u32> = store
            .user_ratings(user)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.movie)
            .collect();
        store.close().await;
        movies.sort();
        movies
    })
}

/// A daemon with a model, its database at `db`.
fn daemon_on(db: &Path) -> Daemon {
    crate::ratings::daemon(&format!("url = \"sqlite:{}\"", db.display()))
}

/// A full disk answered `internal` ("database or disk is full") and every
/// failed commit left a connection stuck "at non-zero transaction depth"
/// in the pool: once each had met the full disk, every write failed until
/// restart, even with the disk emptied.
#[test]
fn a_full_disk_fails_writes_as_unavailable_until_space_is_freed() {
    let test = "a_full_disk_fails_writes_as_unavailable_until_space_is_freed";
    let Some(disk) = Tmpfs::mount(test, "2m", None) else {
        return;
    };
    let db = disk.path().join("recd.db");
    let d = daemon_on(&db);
    d.wait_db();
    // The catalogue has movies 1 to 200: one user's ratings before the
    // fault, another's after.
    let mut before = Vec::new();
    for m in 1..=10 {
        rate(&d, "app-before", m).unwrap();
        before.push(m);
    }

    let filler = disk.path().join("filler");
    fill(&filler);
    // The log grows by a page or two a rating: it soon needs space there
    // is not.
    let mut failure = None;
    for m in 11..=200 {
        match rate(&d, "app-before", m) {
            Ok(_) => before.push(m),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let e = failure.expect("a rating failed on the full disk");
    assert_eq!(e.code(), Some(ErrorCode::DbUnavailable), "{e}");
    assert!(e.to_string().contains("disk is full"), "{e}");
    // More writes meanwhile: each fails the same way (no connection is
    // left mid-transaction to fail them otherwise).
    for m in 1..=5 {
        let e = rate(&d, "app-during", m).unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::DbUnavailable), "{e}");
        assert!(e.to_string().contains("disk is full"), "{e}");
    }

    std::fs::remove_file(&filler).unwrap();
    let took = until_rated(&d, "app-after", 1, Duration::from_secs(10));
    println!("writes came back {took:?} after the disk was emptied");
    let mut failed = 0;
    for m in 2..=21 {
        if rate(&d, "app-after", m).is_err() {
            failed += 1;
        }
    }
    assert_eq!(failed, 0, "writes failing after the space was freed");

    drop(d);
    assert_eq!(
        stored(&db, "app-before"),
        before,
        "every rating acknowledged"
    );
    assert_eq!(stored(&db, "app-after"), (1..=21).collect::<Vec<u32>>());
}

/// A publish on a full disk fails saying so, leaves `current` on the
/// previous model and no temp file behind.
#[test]
fn a_full_models_disk_fails_the_publish_and_keeps_current() {
    let test = "a_full_models_disk_fails_the_publish_and_keeps_current";
    let fixture = helper::Fixture::new();
    let Some(disk) = Tmpfs::mount(test, "1m", Some(&fixture.models())) else {
        return;
    };
    let first = fixture.train(&["--json"]).ok().json();
    let version = first["version"].as_str().unwrap().to_owned();

    fill(&disk.path().join("filler"));
    let r = fixture.train(&["--force", "--json"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stderr.contains("No space left on device"),
        "the error names the full disk: {}",
        r.stderr
    );
    assert!(
        r.stderr.contains("publishing the model failed"),
        "{}",
        r.stderr
    );

    let current = recd::model::Model::open(&fixture.models().join("current")).unwrap();
    assert_eq!(current.metadata().version, version);
    let names = fixture.model_files();
    assert!(
        !names.iter().any(|n| n.starts_with(".tmp-")),
        "no temp file left: {names:?}"
    );
    drop(disk);
}

/// Set or clear the immutable attribute, which refuses writes even to
/// root; false if the filesystem or the container will not.
fn immutable(path: &Path, on: bool) -> bool {
    Command::new("chattr")
        .arg(if on { "+i" } else { "-i" })
        .arg(path)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Started on a database it could not write, the daemon kept its
/// read-only SQLite handle after the file was repaired: writes failed
/// (`internal`) until restart.
#[test]
fn a_read_only_database_is_written_again_once_repaired() {
    let test = "a_read_only_database_is_written_again_once_repaired";
    let mut d = crate::ratings::daemon("");
    d.wait_db();
    rate(&d, "app-ro", 1).unwrap();
    assert_eq!(d.stop(), 0);
    let db = d.fixture.path().join("state/recd.db");
    if !immutable(&db, true) {
        println!("SKIPPED: {test}: chattr +i is refused here");
        return;
    }
    // Cleared however the test ends.
    struct Mutable<'a>(&'a Path);
    impl Drop for Mutable<'_> {
        fn drop(&mut self) {
            immutable(self.0, false);
        }
    }
    let guard = Mutable(&db);

    d.spawn(&[]);
    d.wait_ready();
    let r = d.call("recommend", json!({"user": "ml:3"})).unwrap();
    assert_eq!(r["strategy"], "model", "queries are served");
    let deadline = Instant::now() + Duration::from_secs(10);
    let e = loop {
        let e = rate(&d, "app-ro", 2).unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::DbUnavailable), "{e}");
        if e.to_string().contains("read-only") || Instant::now() > deadline {
            break e;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(e.to_string().contains("read-only"), "{e}");

    drop(guard);
    let took = until_rated(&d, "app-ro", 2, Duration::from_secs(20));
    println!("writes came back {took:?} after the file was made writable");
    rate(&d, "app-ro", 3).unwrap();
    drop(d);
}

/// The `-wal` deleted under the daemon: the open connections wrote to the
/// deleted file and a new one failed ("disk I/O error", `internal`). The
/// store notices, closes every connection (the last copies the deleted
/// log into the database) and opens new ones: no rating is lost.
#[test]
fn the_wal_deleted_under_the_daemon_loses_no_rating() {
    let mut d = crate::ratings::daemon("");
    d.wait_db();
    for m in 1..=5 {
        rate(&d, "app-wal", m).unwrap();
    }
    let db = d.fixture.path().join("state/recd.db");
    let wal = d.fixture.path().join("state/recd.db-wal");
    std::fs::remove_file(&wal).unwrap();
    for m in 6..=10 {
        if let Err(e) = rate(&d, "app-wal", m) {
            // At worst unavailable for a moment, never `internal`.
            assert_eq!(e.code(), Some(ErrorCode::DbUnavailable), "{e}");
            until_rated(&d, "app-wal", m, Duration::from_secs(10));
        }
    }
    assert!(wal.exists(), "a new -wal is in use");
    let stats = d.call("stats", json!({})).unwrap();
    assert_eq!(stats["database"]["ratings"], 10, "{}", stats["database"]);
    assert_eq!(d.stop(), 0);
    assert_eq!(stored(&db, "app-wal"), (1..=10).collect::<Vec<u32>>());
}

/// Run `cmd` with `mask` as its umask.
fn with_umask(cmd: &mut Command, mask: libc::mode_t) -> &mut Command {
    // SAFETY: umask(2) is async-signal-safe and touches no memory.
    unsafe {
        cmd.pre_exec(move || {
            libc::umask(mask);
            Ok(())
        })
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Under umask 000 the database was 0644 (SQLite's own choice, whatever
/// the umask), a model and a log file 0666; the database holds the users'
/// ratings, the logs name them.
#[test]
fn file_modes_do_not_depend_on_the_umask() {
    let mut d = Daemon {
        fixture: helper::Fixture::new(),
        child: None,
    };
    std::fs::write(d.config(), helper::daemon::Setup::default().config()).unwrap();
    // A model published under umask 077 and one under 000.
    for mask in [0o077, 0o000] {
        let (data, models) = (d.fixture.data(), d.models());
        let out = with_umask(&mut Command::new(env!("CARGO_BIN_EXE_recd")), mask)
            .args(["train", "--no-database", "--force", "--json"])
            .args(["--factors", "8", "--epochs", "2", "--threads", "2"])
            .arg("--dataset")
            .arg(&data)
            .arg("--models-dir")
            .arg(&models)
            .env_remove("RECD_CONFIG")
            .output()
            .unwrap();
        let run = helper::Run::from(out).ok().json();
        let path = models.join(format!("{}.recd", run["version"].as_str().unwrap()));
        assert_eq!(mode(&path), 0o640, "model under umask {mask:03o}");
    }

    let mut cmd = d.command(&[]);
    with_umask(&mut cmd, 0);
    d.child = Some(cmd.spawn().unwrap());
    d.wait_ready();
    d.wait_db();
    rate(&d, "app-modes", 1).unwrap();
    let state = d.fixture.path().join("state");
    for name in ["recd.db", "recd.db-wal", "recd.db-shm"] {
        assert_eq!(mode(&state.join(name)), 0o600, "{name}");
    }
    let logs: Vec<PathBuf> = std::fs::read_dir(d.fixture.path().join("logs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!logs.is_empty());
    for log in &logs {
        assert_eq!(mode(log), 0o640, "{}", log.display());
    }
}
