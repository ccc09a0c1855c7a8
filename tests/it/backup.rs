//! `recctl backup` and `recd restore` with the real binaries: a consistent
//! copy while ratings pour in, a restore the restarted daemon serves, the
//! files a restore refuses, and PostgreSQL's documented pg_dump/pg_restore.

use crate::helper;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use helper::daemon::Daemon;
use recd::store::snapshot::inspect;
use serde_json::json;

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// `lines` ratings of `users` users in CSV, written to `path`.
fn ratings_file(path: &Path, users: u32, lines: u32) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for k in 0..lines {
        writeln!(
            out,
            "bulk-{},{},{}",
            k % users,
            1 + (k / users) % 200,
            1 + k % 5
        )
        .unwrap();
    }
}

fn restore(d: &Daemon, file: &Path) -> helper::Run {
    helper::recd(&[
        "--config",
        d.config().to_str().unwrap(),
        "restore",
        file.to_str().unwrap(),
    ])
}

fn state_files(d: &Daemon) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(d.fixture.path().join("state"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_backup_is_consistent_while_ratings_pour_in() {
    let d = crate::ratings::daemon("");
    d.wait_db();
    let file = d.fixture.path().join("bulk.csv");
    ratings_file(&file, 1000, 100_000);
    d.recctl(&["import", file.to_str().unwrap()]).ok();

    // One client rating without pause: each rating a new row.
    let acked = Arc::new(AtomicU64::new(100_000));
    let stop = Arc::new(AtomicBool::new(false));
    let rater = {
        let (acked, stop, socket) = (acked.clone(), stop.clone(), d.socket());
        std::thread::spawn(move || {
            let mut c = recd::client::Client::connect(&socket).unwrap();
            let mut k = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let user = format!("live-{}", k / 200);
                c.call_json(
                    "rate",
                    json!({"user": user, "movie": 1 + k % 200, "rating": 3}),
                )
                .unwrap();
                acked.fetch_add(1, Ordering::SeqCst);
                k += 1;
            }
        })
    };
    while acked.load(Ordering::SeqCst) < 100_050 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let dest = d.fixture.path().join("out/recd-backup.db");
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    let before = acked.load(Ordering::SeqCst);
    let out = d
        .recctl(&["--json", "backup", dest.to_str().unwrap()])
        .ok()
        .json();
    // The rating in flight when the backup ended may be in the copy, not yet acknowledged.
    let after = acked.load(Ordering::SeqCst) + 1;
    stop.store(true, Ordering::Relaxed);
    rater.join().unwrap();

    let info = block_on(inspect(&dest, true)).unwrap();
    let n = info.ratings as u64;
    assert!(before <= n && n <= after, "{before} <= {n} <= {after}");
    assert_eq!(out["ratings"].as_u64(), Some(n));
    assert_eq!(
        out["bytes"].as_u64(),
        Some(std::fs::metadata(&dest).unwrap().len())
    );
    assert_eq!(info.schema_version, out["schema_version"].as_i64().unwrap());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "it holds every user's ratings");
    // Nothing left behind, beside the copy or in the daemon's state dir.
    assert_eq!(
        std::fs::read_dir(dest.parent().unwrap()).unwrap().count(),
        1
    );
    let state = state_files(&d);
    assert!(state.iter().all(|f| f.starts_with("recd.db")), "{state:?}");

    // The human output names the file and its figures.
    let text = d.recctl(&["backup", dest.to_str().unwrap()]).ok().stdout;
    assert!(
        text.contains("ratings") && text.contains(dest.to_str().unwrap()),
        "{text}"
    );
}

#[test]
fn a_restored_backup_is_what_the_restarted_daemon_serves() {
    let mut d = crate::ratings::daemon("");
    d.wait_db();
    for m in 1..=5 {
        d.call("rate", json!({"user": "app-kept", "movie": m, "rating": 4}))
            .unwrap();
    }
    d.call("rate", json!({"user": "app-gone", "movie": 1, "rating": 3}))
        .unwrap();
    let dest = d.fixture.path().join("kept.db");
    d.recctl(&["backup", dest.to_str().unwrap()]).ok();
    for m in 1..=7 {
        d.call(
            "rate",
            json!({"user": "app-later", "movie": m, "rating": 2}),
        )
        .unwrap();
    }
    // Erased after the backup: a restore must not bring them back.
    let erased = d.call("forget", json!({"user": "app-gone"})).unwrap();
    let last_seq = d
        .call(
            "rate",
            json!({"user": "app-later", "movie": 8, "rating": 2}),
        )
        .unwrap()["seq"]
        .as_i64()
        .unwrap();

    let running = restore(&d, &dest);
    assert_eq!(running.code, 1);
    assert!(
        running.stderr.contains("a daemon answers"),
        "{}",
        running.stderr
    );

    assert_eq!(d.stop(), 0);
    let done = restore(&d, &dest).ok();
    assert!(
        done.stdout.contains("5 ratings of 1 users"),
        "{}",
        done.stdout
    );
    assert!(
        done.stdout.contains("1 users erased after the backup"),
        "{}",
        done.stdout
    );
    let state = state_files(&d);
    assert!(
        state.contains(&"recd.db.before-restore".to_string()),
        "{state:?}"
    );
    assert!(!state.iter().any(|f| f.ends_with(".tmp")), "{state:?}");
    // The copy of the replaced database has what was written after the backup.
    let before = block_on(inspect(
        &d.fixture.path().join("state/recd.db.before-restore"),
        true,
    ));
    assert_eq!(before.unwrap().ratings, 13);

    d.spawn(&[]);
    d.wait_ready();
    let stats = d.wait_db();
    assert_eq!(stats["database"]["ratings"], 5);
    assert_eq!(stats["database"]["users"], 1);
    let history = d.call("history", json!({})).unwrap();
    assert_eq!(history["erasures"][0]["id"], erased["erasure"], "{history}");
    // The counters go on from the replaced database's, never back.
    let seq = d
        .call("rate", json!({"user": "app-new", "movie": 1, "rating": 2}))
        .unwrap()["seq"]
        .as_i64()
        .unwrap();
    assert!(seq > last_seq, "seq {seq} after {last_seq}");
    let again = d.call("forget", json!({"user": "app-new"})).unwrap();
    assert!(
        again["erasure"].as_i64() > erased["erasure"].as_i64(),
        "{again}"
    );
}

#[test]
fn a_restore_refuses_what_is_not_a_whole_recd_database() {
    let mut d = crate::ratings::daemon("");
    d.wait_db();
    d.call("rate", json!({"user": "app-a", "movie": 1, "rating": 4}))
        .unwrap();
    let good = d.fixture.path().join("good.db");
    d.recctl(&["backup", good.to_str().unwrap()]).ok();
    assert_eq!(d.stop(), 0);
    let dir = d.fixture.path();
    let bad = |name: &str| -> PathBuf { dir.join(name) };

    std::fs::write(bad("notes.txt"), "user,movie,rating\n1,2,3\n").unwrap();
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(bad("half.db"), &bytes[..bytes.len() / 2]).unwrap();
    block_on(async {
        use sqlx::{Connection, Executor};
        let url = format!("sqlite://{}?mode=rwc", bad("foreign.db").display());
        let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
        c.execute("CREATE TABLE t (x INTEGER)").await.unwrap();
        c.close().await.unwrap();
        std::fs::copy(&good, bad("newer.db")).unwrap();
        let url = format!("sqlite://{}", bad("newer.db").display());
        let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
        c.execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (9999, 'from the future', 1, x'00', 0)",
        )
        .await
        .unwrap();
        c.close().await.unwrap();
    });
    let fifo = bad("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();

    for (file, says) in [
        ("notes.txt", "not an SQLite database: it is text"),
        ("half.db", "truncated"),
        (
            "foreign.db",
            "not one recd wrote: it has no _sqlx_migrations table",
        ),
        ("newer.db", "newer recd: its schema version is 9999"),
        ("fifo", "not a regular file"),
        ("missing.db", "No such file"),
    ] {
        let r = restore(&d, &bad(file));
        assert_eq!(r.code, 1, "{file}: {}", r.stdout);
        assert!(r.stderr.contains(says), "{file}: {}", r.stderr);
    }
    // Nothing was touched.
    let state = state_files(&d);
    assert!(
        !state
            .iter()
            .any(|f| f.contains("before-restore") || f.ends_with(".tmp")),
        "{state:?}"
    );
    restore(&d, &good).ok();
}

#[test]
fn backup_of_postgresql_names_pg_dump() {
    let Some(pg) = helper::pg::Postgres::start("backup_of_postgresql_names_pg_dump") else {
        return;
    };
    let url = pg.new_database("nobackup");
    let d = crate::ratings::daemon(&format!("url = \"{url}\""));
    d.wait_db();
    let dest = d.fixture.path().join("pg.db");
    let r = d.recctl(&["backup", dest.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("unsupported") && r.stderr.contains("pg_dump --format=custom"),
        "{}",
        r.stderr
    );
    assert!(!dest.exists());
    assert!(std::fs::read_dir(d.fixture.path())
        .unwrap()
        .all(|e| { !e.unwrap().file_name().to_string_lossy().ends_with(".tmp") }));
}

/// The lines of docs/operations.md that start with `tool `.
fn documented(tool: &str) -> String {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/operations.md"))
            .unwrap();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with(&format!("{tool} ")))
        .collect();
    assert_eq!(lines.len(), 1, "one documented {tool} command: {lines:?}");
    lines[0].to_owned()
}

#[test]
fn the_documented_pg_dump_and_pg_restore_commands_work() {
    let Some(pg) =
        helper::pg::Postgres::start("the_documented_pg_dump_and_pg_restore_commands_work")
    else {
        return;
    };
    let url = pg.new_database("dumped");
    let target = recd::store::Target::Postgres(url.clone());
    let options = recd::store::Options {
        max_connections: 2,
        busy_timeout: std::time::Duration::from_secs(5),
    };
    let rating = |user: &str, movie| recd::store::NewRating {
        user: user.into(),
        movie,
        rating: 4.0,
        rated_at: 1_700_000_000,
    };
    let store = block_on(recd::store::Store::open(&target, options)).unwrap();
    let ratings: Vec<_> = (1..=50).map(|m| rating("app-a", m)).collect();
    block_on(store.import(&ratings)).unwrap();
    block_on(store.close());

    let dir = tempfile::tempdir().unwrap();
    let run = |line: String| {
        let path = format!(
            "{}:{}",
            pg.bin().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&line)
            .current_dir(dir.path())
            .env("PATH", path)
            .env("RECD_DATABASE_URL", &url)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{line}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(documented("pg_dump"));
    // Lost since: one rating deleted, one added.
    let store = block_on(recd::store::Store::open(&target, options)).unwrap();
    block_on(store.write(&[
        recd::store::Write::Unrate {
            user: "app-a".into(),
            movie: 1,
        },
        recd::store::Write::Rate(rating("app-b", 1)),
    ]))
    .unwrap();
    block_on(store.close());
    run(documented("pg_restore"));

    let store = block_on(recd::store::Store::open(&target, options)).unwrap();
    let c = block_on(store.counts()).unwrap();
    assert_eq!((c.ratings, c.users), (50, 1), "as dumped");
    block_on(store.close());
}
