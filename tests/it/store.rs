//! The ratings store, the same suite on SQLite (a file) and on a real
//! PostgreSQL server (a private instance; skipped, saying so, where
//! PostgreSQL is not installed).

use crate::helper;

use std::time::Duration;

use recd::store::{
    Done, NewRating, Options, RunEnd, RunFilter, RunStatus, Store, Target, Trigger, Write,
};

fn options() -> Options {
    Options {
        max_connections: 4,
        busy_timeout: Duration::from_secs(5),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn rating(user: &str, movie: u32, rating: f32) -> NewRating {
    NewRating {
        user: user.into(),
        movie,
        rating,
        rated_at: 1_700_000_000,
    }
}

async fn suite(target: Target) {
    let store = Store::open(&target, options()).await.unwrap();
    let c = store.counts().await.unwrap();
    assert_eq!((c.ratings, c.users, c.max_seq), (0, 0, 0));
    assert!(store.last_run().await.unwrap().is_none());

    // The catalogue: added, then updated in place.
    let movies: Vec<(u32, String, String)> = (1..=1200)
        .map(|m| (m, format!("Movie {m} (1999)"), "Drama".to_string()))
        .collect();
    store.put_movies(&movies).await.unwrap();
    store
        .put_movies(&[(7, "Seven (1995)".into(), "Crime|Thriller".into())])
        .await
        .unwrap();
    let ids = store.movie_ids().await.unwrap();
    assert_eq!(ids.len(), 1200);
    assert_eq!(store.counts().await.unwrap().catalogue, 1200);

    // Rate, re-rate (replaces, with a newer sequence number), unrate.
    let done = store
        .write(&[
            Write::Rate(rating("alice", 1, 4.0)),
            Write::Rate(rating("alice", 2, 3.0)),
            Write::Rate(rating("bob", 1, 5.0)),
        ])
        .await
        .unwrap();
    let seqs: Vec<i64> = done
        .iter()
        .map(|d| match d {
            Done::Rated { seq } => *seq,
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let watermark = seqs[2];
    let again = store
        .write(&[Write::Rate(rating("alice", 1, 2.0))])
        .await
        .unwrap();
    let Done::Rated { seq } = again[0] else {
        panic!("{again:?}")
    };
    assert!(seq > watermark);
    assert_eq!(store.count_since(watermark).await.unwrap(), 1);
    let alice = store.user_ratings("alice").await.unwrap();
    assert_eq!(alice.len(), 2);
    assert_eq!((alice[1].movie, alice[1].rating), (1, 2.0));
    let gone = store
        .write(&[
            Write::Unrate {
                user: "bob".into(),
                movie: 1,
            },
            Write::Unrate {
                user: "bob".into(),
                movie: 1,
            },
        ])
        .await
        .unwrap();
    assert_eq!(
        gone,
        vec![
            Done::Unrated { removed: true },
            Done::Unrated { removed: false }
        ]
    );

    // Import: one transaction; later lines replace earlier ones and rows
    // already stored.
    let mut batch: Vec<NewRating> = (0..2_000)
        .map(|k| {
            rating(
                &format!("u{}", k % 100),
                1 + (k % 1000) as u32,
                1.0 + (k % 5) as f32,
            )
        })
        .collect();
    batch.push(rating("alice", 2, 5.0));
    batch.push(rating("u0", 1, 3.0));
    let written = store.import(&batch).await.unwrap();
    assert_eq!(written, 1_001, "distinct (user, movie) pairs written");
    let c = store.counts().await.unwrap();
    assert_eq!(c.ratings, 2 + 1_000);
    assert_eq!(c.users, 101);
    let all = store.all_ratings().await.unwrap();
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(all.last().unwrap().seq, c.max_seq);
    // The retrain's bulk read (SQLite's own stepping, PostgreSQL's binary
    // COPY) gives the same rows in the same order.
    let mut bulk = Vec::new();
    let n = store
        .each_rating(&mut |r| bulk.push((r.seq, r.user.to_owned(), r.movie, r.rating)))
        .await
        .unwrap();
    assert_eq!(n, all.len() as u64);
    let expected: Vec<_> = all
        .iter()
        .map(|r| (r.seq, r.user.clone(), r.movie, r.rating))
        .collect();
    assert_eq!(bulk, expected);
    let u0 = store.user_ratings("u0").await.unwrap();
    assert_eq!(u0.iter().find(|r| r.movie == 1).unwrap().rating, 3.0);
    assert_eq!(
        store
            .user_ratings("alice")
            .await
            .unwrap()
            .last()
            .unwrap()
            .rating,
        5.0
    );
    assert!(store.user_ratings("nobody").await.unwrap().is_empty());

    // Training runs: recorded at start, ended with a status, read back as
    // history (newest first, filtered by status and trigger).
    let id = store
        .start_run(
            1_700_000_100,
            Trigger::Scheduled,
            &serde_json::json!({"n_factors": 100}),
        )
        .await
        .unwrap();
    let run = store.last_run().await.unwrap().unwrap();
    assert_eq!(
        (run.id, run.status, run.trigger),
        (id, RunStatus::Running, Trigger::Scheduled)
    );
    store
        .finish_run(
            id,
            1_700_000_160,
            &RunEnd {
                status: RunStatus::Published,
                seconds: 60.25,
                metrics: Some(serde_json::json!({"rmse": 0.85})),
                counts: None,
                new_ratings: Some(120),
                watermark: c.max_seq,
                model_version: Some("v1".into()),
                reason: None,
            },
        )
        .await
        .unwrap();
    let run = store.last_run().await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Published);
    assert_eq!(run.watermark, c.max_seq);
    assert_eq!(run.metrics.unwrap()["rmse"], 0.85);
    assert_eq!(run.params["n_factors"], 100);
    assert_eq!((run.new_ratings, run.seconds), (Some(120), Some(60.25)));
    let skipped = store
        .start_run(1_700_000_200, Trigger::Manual, &serde_json::json!({}))
        .await
        .unwrap();
    store
        .finish_run(
            skipped,
            1_700_000_201,
            &RunEnd {
                status: RunStatus::Skipped,
                seconds: 0.5,
                metrics: None,
                counts: None,
                new_ratings: Some(3),
                watermark: 0,
                model_version: None,
                reason: Some("3 new ratings".into()),
            },
        )
        .await
        .unwrap();
    let all = store.runs(10, RunFilter::default()).await.unwrap();
    assert_eq!(all.iter().map(|r| r.id).collect::<Vec<_>>(), [skipped, id]);
    let only = |status, trigger| RunFilter { status, trigger };
    let published = store
        .runs(10, only(Some(RunStatus::Published), None))
        .await
        .unwrap();
    assert_eq!(published.iter().map(|r| r.id).collect::<Vec<_>>(), [id]);
    let manual = store
        .runs(10, only(None, Some(Trigger::Manual)))
        .await
        .unwrap();
    assert_eq!(manual[0].reason.as_deref(), Some("3 new ratings"));
    assert_eq!(store.runs(1, RunFilter::default()).await.unwrap().len(), 1);
    assert_eq!(
        store
            .run(id)
            .await
            .unwrap()
            .unwrap()
            .model_version
            .as_deref(),
        Some("v1")
    );
    assert!(store.run(id + 100).await.unwrap().is_none());

    // Runs an earlier daemon left running are ended as failed; an offline
    // one may still be going on and is left alone.
    let left = store
        .start_run(1_700_000_300, Trigger::Manual, &serde_json::json!({}))
        .await
        .unwrap();
    let offline = store
        .start_run(1_700_000_300, Trigger::Offline, &serde_json::json!({}))
        .await
        .unwrap();
    let ours = store
        .start_run(1_700_000_500, Trigger::Startup, &serde_json::json!({}))
        .await
        .unwrap();
    let ended = store
        .end_abandoned_runs(1_700_000_400, "interrupted")
        .await
        .unwrap();
    assert_eq!(ended, 1);
    let left = store.run(left).await.unwrap().unwrap();
    assert_eq!(
        (left.status, left.reason.as_deref(), left.finished_at),
        (RunStatus::Failed, Some("interrupted"), Some(1_700_000_300))
    );
    for id in [offline, ours] {
        assert_eq!(
            store.run(id).await.unwrap().unwrap().status,
            RunStatus::Running
        );
    }

    // The scheduler's durable state.
    assert_eq!(store.schedule_state("paused").await.unwrap(), None);
    store.set_schedule_state("paused", Some("a")).await.unwrap();
    store.set_schedule_state("paused", Some("b")).await.unwrap();
    assert_eq!(
        store.schedule_state("paused").await.unwrap().as_deref(),
        Some("b")
    );
    store.set_schedule_state("paused", None).await.unwrap();
    assert_eq!(store.schedule_state("paused").await.unwrap(), None);
    store.close().await;

    // Opening again applies nothing twice and finds everything.
    let store = Store::open(&target, options()).await.unwrap();
    assert_eq!(store.counts().await.unwrap().ratings, c.ratings);

    // Erasing a user: their ratings deleted and the erasure recorded, in
    // one transaction with the writes around it; an id with no ratings is
    // recorded too, with 0 deleted.
    assert_eq!(store.last_erasure().await.unwrap(), 0);
    let done = store
        .write(&[
            Write::Forget {
                user: "u1".into(),
                at: 1_700_000_600,
                by_uid: Some(1000),
                by_token: None,
            },
            Write::Rate(rating("u1", 3, 4.0)),
            Write::Forget {
                user: "never-rated".into(),
                at: 1_700_000_601,
                by_uid: None,
                by_token: Some("web".into()),
            },
        ])
        .await
        .unwrap();
    let (
        Done::Forgotten { erasure, deleted },
        Done::Forgotten {
            erasure: e2,
            deleted: 0,
        },
    ) = (done[0], done[2])
    else {
        panic!("{done:?}")
    };
    assert_eq!(deleted, 10, "u1's distinct movies in the import");
    assert!(e2 > erasure);
    let u1 = store.user_ratings("u1").await.unwrap();
    assert_eq!(u1.len(), 1, "rated again after the erasure: {u1:?}");
    assert_eq!(store.counts().await.unwrap().ratings, c.ratings - 10 + 1);
    assert_eq!(store.last_erasure().await.unwrap(), e2);
    let erasures = store.erasures_after(0).await.unwrap();
    assert_eq!(erasures.len(), 2);
    assert_eq!(
        (
            erasures[0].user.as_str(),
            erasures[0].ratings_deleted,
            erasures[0].erased_at,
            erasures[0].by_uid
        ),
        ("u1", 10, 1_700_000_600, Some(1000))
    );
    assert_eq!(erasures[1].by_uid, None);
    assert_eq!(erasures[1].by_token.as_deref(), Some("web"));
    assert_eq!(store.erasures_after(erasure).await.unwrap().len(), 1);
    store.close().await;
}

#[test]
fn the_store_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state/recd.db");
    runtime().block_on(suite(Target::Sqlite(path.clone())));
    let mode = std::fs::read(&path).unwrap();
    // WAL mode is recorded in the file header (bytes 18 and 19 are 2).
    assert_eq!((mode[18], mode[19]), (2, 2), "WAL mode");
}

#[test]
fn the_store_on_postgresql() {
    let Some(pg) = helper::pg::Postgres::start("the_store_on_postgresql") else {
        return;
    };
    let url = pg.new_database("suite");
    runtime().block_on(suite(Target::Postgres(url)));
}

#[test]
fn an_unreachable_postgresql_is_unavailable_not_fatal() {
    let Some(pg) =
        helper::pg::Postgres::start("an_unreachable_postgresql_is_unavailable_not_fatal")
    else {
        return;
    };
    let url = pg.new_database("gone");
    let rt = runtime();
    let target = Target::Postgres(url);
    let store = rt
        .block_on(Store::open(
            &target,
            Options {
                max_connections: 2,
                busy_timeout: Duration::from_millis(500),
            },
        ))
        .unwrap();
    pg.stop();
    let e = rt
        .block_on(store.write(&[Write::Rate(rating("a", 1, 4.0))]))
        .unwrap_err();
    assert!(
        matches!(e, recd::store::StoreError::Unavailable(_)),
        "{e:?}"
    );
    // Back again: the same pool reconnects by itself.
    pg.pg_ctl_start();
    let mut ok = false;
    for _ in 0..50 {
        if rt.block_on(store.counts()).is_ok() {
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(ok, "the store reconnects");
}
