//! Every rating the daemon acknowledged survives a SIGKILL under concurrent
//! writers, on SQLite and on PostgreSQL: writer threads record each `rate`
//! that was answered, the daemon is killed at a random moment, restarted,
//! and every acknowledged (user, movie, rating) is read back from the
//! database itself.
//!
//! Three kills per backend in CI, thirty with `RECD_LONG_TESTS=1`.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use recd::client::Client;
use recd::rng::Rng;
use recd::store::{Options, Store, Target};
use serde_json::json;

use crate::helper::daemon::Daemon;
use crate::helper::{self, long_tests, seed};

const WRITERS: usize = 8;

/// (user, movie, rating) of each acknowledged `rate`.
type Acked = Vec<(String, u32, f32)>;

/// Rate new (user, movie) pairs until the daemon stops answering.
fn write_until_killed(socket: &Path, tag: &str) -> Acked {
    let mut acked = Vec::new();
    let Ok(mut c) = Client::connect(socket) else {
        return acked;
    };
    for k in 0u32.. {
        let (user, movie, rating) = (format!("{tag}-{}", k / 200), 1 + k % 200, 1 + k % 5);
        let params = json!({"user": user, "movie": movie, "rating": rating});
        if c.call_json("rate", params).is_err() {
            break;
        }
        acked.push((user, movie, rating as f32));
    }
    acked
}

/// Kill the daemon under `WRITERS` writers `rounds` times; returns what was
/// acknowledged.
fn kill_under_writers(d: &mut Daemon, rng: &mut Rng, rounds: usize) -> Acked {
    let mut all = Acked::new();
    for round in 0..rounds {
        d.wait_db();
        let socket = d.socket();
        let acked: Vec<Acked> = std::thread::scope(|s| {
            let writers: Vec<_> = (0..WRITERS)
                .map(|t| {
                    let socket = &socket;
                    s.spawn(move || write_until_killed(socket, &format!("w{round}-{t}")))
                })
                .collect();
            std::thread::sleep(Duration::from_millis(300 + rng.below(900)));
            d.signal(libc::SIGKILL);
            writers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        d.wait_exit(Duration::from_secs(10));
        assert!(
            acked.iter().all(|a| !a.is_empty()),
            "round {round}: a writer had no rating acknowledged: {:?}",
            acked.iter().map(Vec::len).collect::<Vec<_>>()
        );
        all.extend(acked.into_iter().flatten());
        d.spawn(&[]);
        d.wait_ready();
    }
    d.wait_db();
    all
}

/// The acknowledged ratings missing from (or different in) the database.
fn lost(target: Target, acked: &Acked) -> Vec<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stored = runtime.block_on(async {
        let options = Options {
            max_connections: 2,
            busy_timeout: Duration::from_secs(10),
        };
        let store = Store::open(&target, options).await.unwrap();
        let all = store.all_ratings().await.unwrap();
        store.close().await;
        all
    });
    let stored: HashMap<(&str, u32), f32> = stored
        .iter()
        .map(|r| ((r.user.as_str(), r.movie), r.rating))
        .collect();
    acked
        .iter()
        .filter(|(u, m, r)| stored.get(&(u.as_str(), *m)) != Some(r))
        .map(|(u, m, r)| format!("{u} {m} {r}: stored {:?}", stored.get(&(u.as_str(), *m))))
        .collect()
}

fn suite(test: &str, database_keys: &str, target: Target) {
    let rounds = if long_tests() { 30 } else { 3 };
    let mut rng = Rng::new(seed(test));
    let mut d = crate::ratings::daemon(database_keys);
    let acked = kill_under_writers(&mut d, &mut rng, rounds);
    let lost = lost(target, &acked);
    println!(
        "{test}: {rounds} SIGKILLs under {WRITERS} writers, {} ratings acknowledged, {} lost",
        acked.len(),
        lost.len()
    );
    assert!(lost.is_empty(), "{:#?}", &lost[..lost.len().min(20)]);
}

#[test]
fn crash_acknowledged_ratings_survive_sigkill_on_sqlite() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("ratings.db");
    suite(
        "crash_acknowledged_ratings_survive_sigkill_on_sqlite",
        &format!("url = \"sqlite:{}\"", db.display()),
        Target::Sqlite(db),
    );
}

#[test]
fn crash_acknowledged_ratings_survive_sigkill_on_postgresql() {
    let test = "crash_acknowledged_ratings_survive_sigkill_on_postgresql";
    let Some(pg) = helper::pg::Postgres::start(test) else {
        return;
    };
    let url = pg.new_database("crash");
    suite(
        test,
        &format!("url = \"{url}\""),
        Target::Postgres(url.clone()),
    );
}
