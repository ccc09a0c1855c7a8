//! Live ratings through the real daemon, on SQLite and on a real
//! PostgreSQL server: `rate`, `unrate`, `import`, their error codes,
//! `stats`, and two processes writing one SQLite file at once.

use crate::helper;

use std::time::{Duration, Instant};

use helper::code;
use helper::daemon::Daemon;
use recd::protocol::ErrorCode;
use serde_json::json;

/// A daemon with a model, on the database `[database]` keys name.
pub(crate) fn daemon(database_keys: &str) -> Daemon {
    Daemon::start_full(
        &format!("dataset = \"data\"\ndataset_url = \"\"\n[database]\n{database_keys}"),
        true,
        &[],
        "",
    )
}

fn ingest_suite(d: &Daemon) {
    let stats = d.wait_db();
    assert_eq!(stats["database"]["ratings"], 0);
    assert_eq!(stats["database"]["catalogue"], 200, "the dataset's movies");

    let r = d
        .call(
            "rate",
            json!({"user": "app-alice", "movie": 7, "rating": 4}),
        )
        .unwrap();
    assert_eq!(
        (r["movie"].as_u64(), r["rating"].as_f64()),
        (Some(7), Some(4.0))
    );
    let first = r["seq"].as_i64().unwrap();
    let again = d
        .call(
            "rate",
            json!({"user": "app-alice", "movie": 7, "rating": 2}),
        )
        .unwrap();
    assert!(
        again["seq"].as_i64().unwrap() > first,
        "a re-rating is newer"
    );
    d.call(
        "rate",
        json!({"user": "app-alice", "movie": 8, "rating": 5}),
    )
    .unwrap();

    // Every refusal has its own code, and nothing is written.
    for (params, want) in [
        (
            json!({"user": "a", "movie": 7, "rating": 6}),
            ErrorCode::InvalidRating,
        ),
        (
            json!({"user": "a", "movie": 7, "rating": 0}),
            ErrorCode::InvalidRating,
        ),
        (
            json!({"user": "a", "movie": 7, "rating": 3.5}),
            ErrorCode::InvalidRating,
        ),
        (
            json!({"user": "a", "movie": 999_999, "rating": 3}),
            ErrorCode::UnknownMovie,
        ),
        (
            json!({"user": "", "movie": 7, "rating": 3}),
            ErrorCode::InvalidUser,
        ),
        (
            json!({"user": "x".repeat(129), "movie": 7, "rating": 3}),
            ErrorCode::InvalidUser,
        ),
        (json!({"user": "a", "movie": 7}), ErrorCode::InvalidParams),
        (
            json!({"user": "a", "movie": "seven", "rating": 3}),
            ErrorCode::InvalidParams,
        ),
    ] {
        assert_eq!(code(d.call("rate", params.clone())), want, "{params}");
    }
    let stats = d.call("stats", json!({})).unwrap();
    let db = &stats["database"];
    assert_eq!(
        (db["ratings"].as_i64(), db["users"].as_i64()),
        (Some(2), Some(1))
    );
    assert_eq!(
        db["since_watermark"], 2,
        "the model has no database ratings"
    );

    let gone = d
        .call("unrate", json!({"user": "app-alice", "movie": 8}))
        .unwrap();
    assert_eq!(gone["removed"], true);
    let gone = d
        .call("unrate", json!({"user": "app-alice", "movie": 8}))
        .unwrap();
    assert_eq!(gone["removed"], false);
    assert_eq!(
        code(d.call("unrate", json!({"user": "", "movie": 8}))),
        ErrorCode::InvalidUser
    );

    // Import through recctl: good lines in, bad ones named.
    let file = d.fixture.path().join("import.csv");
    let mut text = String::from("userId,movieId,rating,timestamp\n");
    for k in 0..500 {
        text.push_str(&format!(
            "imp{},{},{},1700000000\n",
            k % 50,
            1 + k % 200,
            1 + k % 5
        ));
    }
    text.push_str("imp1,424242,3,1\nimp2,5,9,1\n,5,3,1\nimp3,5\n");
    std::fs::write(&file, text).unwrap();
    let out = d
        .recctl(&["--json", "import", file.to_str().unwrap()])
        .ok()
        .json();
    assert_eq!(out["accepted"], 500);
    // (k % 50, 1 + k % 200) repeats every 200 lines: a later line replaces
    // an earlier one.
    assert_eq!(out["written"], 200);
    assert_eq!(out["rejected_count"], 4);
    let codes: Vec<&str> = out["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "unknown_movie",
            "invalid_rating",
            "invalid_user",
            "invalid_params"
        ]
    );
    assert_eq!(out["rejected"][0]["line"], 502);
    let human = d.recctl(&["import", file.to_str().unwrap()]).ok();
    assert!(
        human.stdout.contains("rejected         4"),
        "{}",
        human.stdout
    );
    let stats = d.call("stats", json!({})).unwrap();
    assert_eq!(stats["database"]["ratings"], 1 + 200);
    let missing = d.recctl(&["import", "/nonexistent/ratings.csv"]);
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert_eq!(
        code(d.call("import", json!({"path": "/nonexistent/ratings.csv"}))),
        ErrorCode::InvalidParams
    );

    // recctl speaks for rate and unrate.
    let out = d.recctl(&["rate", "app-bob", "7", "5"]).ok();
    assert!(out.stdout.contains("seq"), "{}", out.stdout);
    let e = d.recctl(&["rate", "app-bob", "7", "7"]);
    assert_eq!(e.code, 1);
    assert!(e.stderr.contains("invalid_rating"), "{}", e.stderr);
    d.recctl(&["unrate", "app-bob", "7"]).ok();
    let human = d.recctl(&["stats"]).ok();
    assert!(human.stdout.contains("database "), "{}", human.stdout);
}

#[test]
fn ratings_on_sqlite() {
    let d = daemon("");
    ingest_suite(&d);
    assert!(d.fixture.path().join("state/recd.db").is_file());
}

#[test]
fn ratings_on_postgresql() {
    let Some(pg) = helper::pg::Postgres::start("ratings_on_postgresql") else {
        return;
    };
    let url = pg.new_database("ratings");
    let d = daemon(&format!("url = \"{url}\""));
    ingest_suite(&d);
    let stats = d.call("stats", json!({})).unwrap();
    assert_eq!(stats["database"]["backend"], "postgresql");
}

/// Rate through `d` from `threads` connections until `until`; every rating
/// is a new (user, movie) pair. Returns (acknowledged, failed, failures).
fn hammer(d: &Daemon, tag: &str, threads: usize, until: Instant) -> (u64, u64, Vec<String>) {
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mut c = d.client();
                    let (mut ok, mut failed, mut why) = (0u64, 0u64, Vec::new());
                    let mut k = 0u32;
                    while Instant::now() < until {
                        let user = format!("{tag}-{t}-{}", k / 200);
                        let movie = 1 + k % 200;
                        k += 1;
                        match c
                            .call_json("rate", json!({"user": user, "movie": movie, "rating": 3}))
                        {
                            Ok(_) => ok += 1,
                            Err(e) => {
                                failed += 1;
                                if why.len() < 5 {
                                    why.push(e.to_string());
                                }
                            }
                        }
                    }
                    (ok, failed, why)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).fold(
            (0, 0, Vec::new()),
            |(a, b, mut w), (x, y, z)| {
                w.extend(z);
                (a + x, b + y, w)
            },
        )
    })
}

#[test]
fn two_processes_write_one_sqlite_file_without_locking_errors() {
    let a = daemon("");
    let db = a.fixture.path().join("state/recd.db");
    let b = daemon(&format!("url = \"sqlite:{}\"", db.display()));
    a.wait_db();
    b.wait_db();
    let until = Instant::now() + Duration::from_secs(4);
    let ((ok_a, failed_a, why_a), (ok_b, failed_b, why_b)) = std::thread::scope(|s| {
        let ha = s.spawn(|| hammer(&a, "a", 4, until));
        let hb = s.spawn(|| hammer(&b, "b", 4, until));
        (ha.join().unwrap(), hb.join().unwrap())
    });
    println!("two processes, 4 s: {ok_a} + {ok_b} ratings acknowledged");
    assert_eq!((failed_a, failed_b), (0, 0), "{why_a:?} {why_b:?}");
    assert!(ok_a > 100 && ok_b > 100, "{ok_a} {ok_b}");
    // Every acknowledged rating is there, seen from either process.
    for d in [&a, &b] {
        let stats = d.call("stats", json!({})).unwrap();
        assert_eq!(stats["database"]["ratings"], json!(ok_a + ok_b));
    }
}

#[test]
fn a_retrain_takes_database_ratings_on_sqlite() {
    retrain_suite(&daemon(""), "recd.db");
}

#[test]
fn a_retrain_takes_database_ratings_on_postgresql() {
    let Some(pg) = helper::pg::Postgres::start("a_retrain_takes_database_ratings_on_postgresql")
    else {
        return;
    };
    let url = pg.new_database("retrain");
    retrain_suite(&daemon(&format!("url = \"{url}\"")), "postgresql");
}

/// Database ratings join a retrain, which records its run and moves the
/// watermark; `retrain.check` counts only what came after.
fn retrain_suite(d: &Daemon, target: &str) {
    d.wait_db();
    for k in 0..150u32 {
        d.call(
            "rate",
            json!({"user": format!("app-{}", k % 10), "movie": 1 + k % 200, "rating": 1 + k % 5}),
        )
        .unwrap();
    }
    let check = d.call("retrain.check", json!({})).unwrap();
    assert_eq!(check["new_ratings"], 150, "{check}");
    assert_eq!(check["verdict"], "consider");
    assert_eq!(check["watermark"], 0);
    assert!(
        check["database"].as_str().unwrap().contains(target),
        "{check}"
    );

    let r = d
        .recctl(&["--json", "retrain", "--epochs", "5", "--force"])
        .ok()
        .json();
    assert_eq!(r["state"], "published", "{r}");
    let watermark = r["outcome"]["watermark"].as_i64().unwrap();
    assert_eq!(r["outcome"]["database_ratings"], 150);
    let h = d.call("health", json!({})).unwrap();
    assert_eq!(h["model"]["db_watermark"], watermark);
    assert_eq!(h["model"]["counts"]["database_ratings"], 150);
    // Ten of the model's users are the database's: bench asks only for the
    // dataset's (it used to ask for ml:1 to ml:N, N counting all users, and
    // count the misses as the daemon's errors).
    let users = h["model"]["users"].as_u64().unwrap();
    assert_eq!(h["model"]["dataset_users"].as_u64().unwrap(), users - 10);
    let b = d
        .recctl(&["--json", "bench", "-c", "2", "-d", "0.3"])
        .ok()
        .json();
    let m = &b["methods"][0];
    assert!(m["requests"].as_u64().unwrap() > 0, "{m}");
    assert_eq!(m["errors"], 0, "{m}");

    // Only ratings after the watermark count now.
    let check = d.call("retrain.check", json!({})).unwrap();
    assert_eq!(
        (check["new_ratings"].as_u64(), check["watermark"].as_i64()),
        (Some(0), Some(watermark))
    );
    for m in [3, 4, 5] {
        d.call("rate", json!({"user": "app-late", "movie": m, "rating": 4}))
            .unwrap();
    }
    assert_eq!(
        d.call("retrain.check", json!({})).unwrap()["new_ratings"],
        3
    );
    let offline = |min: &str| {
        helper::recd(&[
            "train",
            "--config",
            d.config().to_str().unwrap(),
            "--check-only",
            "--json",
            "--min-ratings",
            min,
        ])
    };
    let out = offline("100");
    assert_eq!(out.code, 3, "not due: {}", out.stderr);
    assert_eq!(
        out.json()["new_ratings"],
        3,
        "the offline check reads the same database"
    );
    // The verdict follows the threshold given, never contradicting it (it
    // used to say `not_needed` beside `retrain: true`).
    let out = offline("2").ok().json();
    assert_eq!(
        (out["verdict"].as_str(), out["retrain"].as_bool()),
        (Some("consider"), Some(true))
    );
    let out = offline("4");
    assert_eq!(out.code, 3);
    assert_eq!(
        (
            out.json()["verdict"].as_str(),
            out.json()["retrain"].as_bool()
        ),
        (Some("not_needed"), Some(false))
    );
    let check = d
        .recctl(&["--json", "retrain", "check", "--min-ratings", "2"])
        .ok()
        .json();
    assert_eq!(
        (check["verdict"].as_str(), check["retrain"].as_bool()),
        (Some("consider"), Some(true))
    );
    let human = helper::recd(&[
        "train",
        "--config",
        d.config().to_str().unwrap(),
        "--check-only",
        "--min-ratings",
        "4",
    ]);
    assert!(
        human.stdout.contains("(under 4 new ratings)"),
        "{}",
        human.stdout
    );

    // The run is on record, and the application's users are in the model
    // under their own ids, their rated movies left out.
    let stats = d.call("stats", json!({})).unwrap();
    let run = &stats["database"]["last_run"];
    assert_eq!(run["status"], "published", "{run}");
    assert_eq!(run["watermark"], watermark);
    assert_eq!(run["model_version"], h["model"]["version"]);
    let rec = d
        .call("recommend", json!({"user": "app-0", "n": 200}))
        .unwrap();
    let rated: Vec<u64> = (0..150u64)
        .filter(|k| k % 10 == 0)
        .map(|k| 1 + k % 200)
        .collect();
    for item in rec["items"].as_array().unwrap() {
        assert!(!rated.contains(&item["movie"].as_u64().unwrap()), "{item}");
    }
    assert_eq!(rec["strategy"], "model");
    // A rating newer than the model is left out at once, before a retrain.
    let top = rec["items"][0]["movie"].as_u64().unwrap();
    d.call("rate", json!({"user": "app-0", "movie": top, "rating": 3}))
        .unwrap();
    let rec = d
        .call("recommend", json!({"user": "app-0", "n": 200}))
        .unwrap();
    assert!(
        rec["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["movie"].as_u64() != Some(top)),
        "{top} is rated now"
    );
}

#[test]
fn the_database_killed_under_the_daemon() {
    let Some(pg) = helper::pg::Postgres::start("the_database_killed_under_the_daemon") else {
        return;
    };
    let url = pg.new_database("killed");
    let mut d = daemon(&format!("url = \"{url}\"\nbusy_timeout_ms = 500"));
    d.wait_db();
    for m in 1..=6 {
        d.call("rate", json!({"user": "app-z", "movie": m, "rating": 4}))
            .unwrap();
    }
    let version = d.version();
    pg.stop();

    // Queries keep flowing from the model (and the ratings already in
    // memory); ratings fail with their own code; a retrain fails cleanly.
    for _ in 0..20 {
        let r = d.call("recommend", json!({"user": "ml:3"})).unwrap();
        assert_eq!(r["strategy"], "model");
    }
    let r = d.call("recommend", json!({"user": "app-z"})).unwrap();
    assert_eq!(r["strategy"], "fold_in_similar");
    d.call("similar", json!({"movie": 7})).unwrap();
    assert_eq!(
        code(d.call("rate", json!({"user": "app-z", "movie": 9, "rating": 4}))),
        ErrorCode::DbUnavailable
    );
    let stats = d.call("stats", json!({})).unwrap();
    assert_eq!(
        stats["database"]["available"], false,
        "{}",
        stats["database"]
    );
    // It cannot even be recorded: the database is unavailable.
    assert_eq!(
        code(d.call("retrain", json!({"epochs": 2, "force": true}))),
        ErrorCode::DbUnavailable
    );
    assert_eq!(d.version(), version, "the served model is unchanged");

    // Restarted while the database is down: users it cannot read fall back
    // to popularity, and the reply says why.
    assert_eq!(d.stop(), 0);
    d.spawn(&[]);
    d.wait_ready();
    let r = d.call("recommend", json!({"user": "app-z"})).unwrap();
    assert_eq!(r["strategy"], "popularity");
    assert!(r["degraded"].as_str().unwrap().contains("not ready"), "{r}");

    // Back: the daemon reconnects by itself.
    pg.pg_ctl_start();
    d.wait_db();
    d.call("rate", json!({"user": "app-z", "movie": 9, "rating": 4}))
        .unwrap();
    let r = d.call("recommend", json!({"user": "app-z"})).unwrap();
    assert_eq!(r["strategy"], "fold_in_similar");
}
