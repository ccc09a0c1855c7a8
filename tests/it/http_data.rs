//! What HTTP carries as bodies, and the erasure route: an import (the
//! file is the request's body), a backup (the copy is the reply's), and
//! `DELETE /v1/users/{id}`.

use crate::http::{agent, error_code, post, send, start, ADMIN, RATER, READER};

use serde_json::{json, Value};

#[test]
fn an_import_and_a_backup_are_bodies() {
    let (d, base) = start(true, "", "");
    d.wait_db();
    let agent = agent();
    // An import: the file is the body, its name in the query.
    let file = "userId,movieId,rating,timestamp\nhttp-a,1,4,1700000000\nhttp-a,2,5,1700000000\nhttp-b,999999,3,1\n";
    let mut r = agent
        .post(format!("{base}/v1/import?name=mine.csv"))
        .header("Authorization", format!("Bearer {ADMIN}"))
        .send(file)
        .unwrap();
    let got: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(r.status(), 200, "{got}");
    assert_eq!(
        (got["accepted"].as_u64(), got["written"].as_u64()),
        (Some(2), Some(2)),
        "{got}"
    );
    assert_eq!(got["name"], "mine.csv");
    assert_eq!(got["rejected_count"], 1);
    // What was imported serves at once: the user is folded in from it.
    let (_, rec) = post(
        &base,
        "/v1/recommend",
        None,
        json!({"user": "http-a", "n": 3}),
    );
    assert_ne!(rec["strategy"], "popularity", "{rec}");
    let movies: Vec<u64> = rec["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["movie"].as_u64().unwrap())
        .collect();
    assert!(
        !movies.contains(&1) && !movies.contains(&2),
        "recommended what they rated: {rec}"
    );
    // A backup: the copy is the body, what it holds in a header.
    let mut r = agent
        .post(format!("{base}/v1/backup"))
        .header("Authorization", format!("Bearer {ADMIN}"))
        .send_empty()
        .unwrap();
    assert_eq!(r.status(), 200);
    let info: Value = serde_json::from_str(r.headers()["x-recd-backup"].to_str().unwrap()).unwrap();
    let copy = r
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_vec()
        .unwrap();
    assert!(copy.starts_with(b"SQLite format 3\0"));
    assert_eq!(info["bytes"].as_u64(), Some(copy.len() as u64), "{info}");
    assert_eq!(
        info["ratings"],
        d.wait_db()["database"]["ratings"],
        "{info}"
    );
}

#[test]
fn a_user_is_erased_with_delete() {
    let (d, base) = start(true, "", "");
    d.wait_db();
    for movie in [1, 2, 3] {
        let rate = json!({"user": "app-erased", "movie": movie, "rating": 5});
        assert_eq!(post(&base, "/v1/rate", Some(RATER), rate).0, 200);
    }
    let agent = agent();
    let url = format!("{base}/v1/users/app-erased");
    let (status, got) = send(&agent, "DELETE", &url, Some(READER), None);
    assert_eq!(
        (status, error_code(&got)),
        (403, "permission_denied"),
        "{got}"
    );
    let (status, got) = send(&agent, "DELETE", &url, Some(ADMIN), None);
    assert_eq!(status, 200, "{got}");
    assert_eq!(
        (got["user"].as_str(), got["deleted"].as_u64()),
        (Some("app-erased"), Some(3))
    );
    let history = d.call("history", json!({})).unwrap();
    let e = &history["erasures"][0];
    assert_eq!(
        (e["user"].as_str(), e["by_token"].as_str()),
        (Some("app-erased"), Some("ops")),
        "{history}"
    );
    assert!(e["by_uid"].is_null());
    let stats = d.call("stats", json!({})).unwrap();
    assert_eq!(stats["database"]["ratings"], 0, "{stats}");
    let (status, got) = send(
        &agent,
        "DELETE",
        &format!("{base}/v1/users/ml%3A1"),
        Some(ADMIN),
        None,
    );
    assert_eq!(
        (status, error_code(&got)),
        (400, "base_dataset_user"),
        "{got}"
    );
}
