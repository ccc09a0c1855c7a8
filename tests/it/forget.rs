//! `forget` through the real daemon, on SQLite and on a real PostgreSQL
//! server: the user's ratings leave the database, every model trained
//! before stops answering for them at once and after a restart, the next
//! model has no row for them, and nobody else's answers change.

use crate::helper;

use std::time::Duration;

use helper::code;
use helper::daemon::Daemon;
use recd::protocol::ErrorCode;
use recd::store::{Store, Target};
use serde_json::{json, Value};

fn rate_many(d: &Daemon, user: &str, shift: u32) {
    for m in 1..=20u32 {
        d.call(
            "rate",
            json!({"user": user, "movie": m, "rating": 1 + (m + shift) % 5}),
        )
        .unwrap();
    }
}

fn recommend(d: &Daemon, user: &str) -> Value {
    d.call("recommend", json!({"user": user, "n": 20})).unwrap()
}

fn retrain(d: &Daemon) {
    let r = d.call("retrain", json!({"force": true})).unwrap();
    assert_eq!(r["state"], "published", "{r}");
}

/// The database's view, through a store of the test's own.
fn in_database(target: &Target, user: &str) -> (usize, Vec<recd::store::Erasure>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let options = recd::store::Options {
            max_connections: 1,
            busy_timeout: Duration::from_secs(5),
        };
        let store = Store::open(target, options).await.unwrap();
        let ratings = store.user_ratings(user).await.unwrap().len();
        let erasures = store.erasures_after(0).await.unwrap();
        store.close().await;
        (ratings, erasures)
    })
}

fn current_model(d: &Daemon) -> recd::model::Model {
    recd::model::publish::ModelsDir::new(d.models())
        .open_current()
        .unwrap()
        .expect("a current model")
}

fn forget_suite(mut d: Daemon, target: Target) {
    d.wait_db();
    rate_many(&d, "app-alice", 0);
    rate_many(&d, "app-bob", 2);
    retrain(&d);
    assert_eq!(recommend(&d, "app-alice")["strategy"], "model");
    let bob = recommend(&d, "app-bob");
    assert_eq!(bob["strategy"], "model");
    let stranger = recommend(&d, "app-never-seen");
    assert_eq!(stranger["strategy"], "popularity");

    let out = d.recctl(&["--json", "forget", "app-alice"]).ok().json();
    assert_eq!(
        (out["user"].as_str(), out["deleted"].as_u64()),
        (Some("app-alice"), Some(20))
    );
    let erasure = out["erasure"].as_i64().unwrap();

    // At once: served as a user the model has not seen, with no ratings.
    let alice = recommend(&d, "app-alice");
    assert_eq!(alice["strategy"], "popularity", "{alice}");
    assert_eq!(alice["items"], stranger["items"]);
    let p = d
        .call("predict", json!({"user": "app-alice", "movie": 30}))
        .unwrap();
    assert_eq!(p["strategy"], "popularity");
    assert_eq!(recommend(&d, "app-bob"), bob, "others are unchanged");

    // Gone from the database; the erasure is recorded, without ratings.
    let (left, erasures) = in_database(&target, "app-alice");
    assert_eq!(left, 0);
    let e = erasures.iter().find(|e| e.id == erasure).unwrap();
    assert_eq!((e.user.as_str(), e.ratings_deleted), ("app-alice", 20));
    let uid = i64::from(nix::unistd::geteuid().as_raw());
    assert_eq!(e.by_uid, Some(uid));
    assert!(d.wait_log("erased a user's ratings"), "{}", d.log_text());
    // And in the history, which never holds the ratings.
    let history = d.call("history", json!({"limit": 5})).unwrap();
    let listed = &history["erasures"][0];
    assert_eq!(listed["id"].as_i64(), Some(erasure), "{history}");
    assert_eq!(
        (listed["user"].as_str(), listed["ratings_deleted"].as_i64()),
        (Some("app-alice"), Some(20))
    );
    assert!(
        listed["erased_at"].as_str().unwrap().ends_with('Z'),
        "{listed}"
    );
    let shown = d.recctl(&["history"]).ok().stdout;
    assert!(
        shown.contains("erasure") && shown.contains("app-alice"),
        "{shown}"
    );

    // An id with no ratings: not an error, 0 deleted, still recorded.
    let again = d.call("forget", json!({"user": "app-nobody"})).unwrap();
    assert_eq!(again["deleted"], 0);
    // The base dataset's users are not the application's to erase.
    let refused = d.recctl(&["forget", "ml:1"]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("base_dataset_user"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        code(d.call("forget", json!({"user": "ml:1"}))),
        ErrorCode::BaseDatasetUser
    );

    // The tombstone survives a restart.
    assert_eq!(d.stop(), 0);
    d.spawn(&[]);
    d.wait_ready();
    d.wait_db();
    assert_eq!(recommend(&d, "app-alice")["strategy"], "popularity");
    assert_eq!(recommend(&d, "app-bob"), bob);

    // The next model was trained without them: no row for them at all.
    retrain(&d);
    let model = current_model(&d);
    assert_eq!(model.user_index("app-alice"), None);
    assert!(model.user_index("app-bob").is_some());
    assert!(model.metadata().erased_through >= erasure);
    assert_eq!(recommend(&d, "app-alice")["strategy"], "popularity");

    // Rating again after being forgotten: a new user.
    for m in 40..=42 {
        d.call(
            "rate",
            json!({"user": "app-alice", "movie": m, "rating": 5}),
        )
        .unwrap();
    }
    assert_eq!(recommend(&d, "app-alice")["strategy"], "fold_in_similar");
}

#[test]
fn forget_erases_a_user_on_sqlite() {
    let d = crate::ratings::daemon("");
    let target = Target::Sqlite(d.fixture.path().join("state/recd.db"));
    forget_suite(d, target);
}

#[test]
fn forget_erases_a_user_on_postgresql() {
    let Some(pg) = helper::pg::Postgres::start("forget_erases_a_user_on_postgresql") else {
        return;
    };
    let url = pg.new_database("forget");
    let d = crate::ratings::daemon(&format!("url = \"{url}\""));
    forget_suite(d, Target::Postgres(url));
}

#[test]
fn forget_is_an_admin_method() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("SKIPPED forget_is_an_admin_method: needs root to switch to user nobody");
        return;
    }
    let d = Daemon::start();
    d.wait_db();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(d.fixture.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(d.socket(), std::fs::Permissions::from_mode(0o666)).unwrap();
    let s = d.socket();
    assert!(helper::as_nobody(move || {
        let Ok(mut c) = recd::client::Client::connect(&s) else {
            return false;
        };
        let forget = c.call_json("forget", json!({"user": "app-x"}));
        let backup = c.call_json("backup", json!({}));
        [forget, backup]
            .into_iter()
            .all(|r| r.err().and_then(|e| e.code()) == Some(ErrorCode::PermissionDenied))
    }));
}
