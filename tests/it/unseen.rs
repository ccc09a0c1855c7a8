//! Users the model has not seen, through the real daemon: the strategy
//! each is served by (popularity, fold-in among related movies, fold-in),
//! and a horror fan on the real MovieLens data who gets horror.

use crate::helper;

use std::time::Duration;

use helper::code;
use helper::daemon::Daemon;
use recd::protocol::ErrorCode;
use serde_json::json;

use super::ratings::daemon;

#[test]
fn users_the_model_has_not_seen_get_a_strategy_that_says_so() {
    let d = daemon("[fold_in]\nmin_ratings = 5\nrelated_movies = 20");
    d.wait_db();
    // No ratings at all: the damped mean, best first.
    let r = d
        .call("recommend", json!({"user": "newcomer", "n": 5}))
        .unwrap();
    assert_eq!(r["strategy"], "popularity");
    assert!(r.get("degraded").is_none(), "{r}");
    let p = d
        .call("predict", json!({"user": "newcomer", "movie": 7}))
        .unwrap();
    assert_eq!(p["strategy"], "popularity");
    // A few ratings: related movies first, then the rest; rated movies
    // left out; the scores are the folded-in estimates.
    for m in [7, 8] {
        d.call("rate", json!({"user": "newcomer", "movie": m, "rating": 5}))
            .unwrap();
    }
    let r = d
        .call("recommend", json!({"user": "newcomer", "n": 200}))
        .unwrap();
    assert_eq!(r["strategy"], "fold_in_similar");
    let movies: Vec<u64> = r["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["movie"].as_u64().unwrap())
        .collect();
    assert!(!movies.contains(&7) && !movies.contains(&8), "{movies:?}");
    assert_eq!(movies.len(), 198);
    let mut unique = movies.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 198, "no movie twice");
    // predict gives the score recommend gave, under the same strategy.
    let agrees = |item: &serde_json::Value, strategy: &str| {
        let p = d
            .call(
                "predict",
                json!({"user": "newcomer", "movie": item["movie"]}),
            )
            .unwrap();
        assert_eq!(p["strategy"], strategy);
        assert!(
            (p["rating"].as_f64().unwrap() - item["score"].as_f64().unwrap()).abs() < 1e-3,
            "{p} {item}"
        );
    };
    for i in [0, 19, 20, 197] {
        agrees(&r["items"][i], "fold_in_similar");
    }
    // Each part is in the order of the estimate.
    let scores: Vec<f64> = r["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["score"].as_f64().unwrap())
        .collect();
    assert!(scores[..20].windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert!(scores[20..].windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    // Enough ratings: folded in alone; predict agrees with the ranking.
    for m in [9, 10, 11, 12] {
        d.call("rate", json!({"user": "newcomer", "movie": m, "rating": 1}))
            .unwrap();
    }
    let r = d
        .call("recommend", json!({"user": "newcomer", "n": 3}))
        .unwrap();
    assert_eq!(r["strategy"], "fold_in");
    agrees(&r["items"][0], "fold_in");
    // A dataset id the model lacks is still unknown.
    assert_eq!(
        code(d.call("recommend", json!({"user": "ml:999999"}))),
        ErrorCode::UnknownUser
    );
    // recctl bench can load one user: this one, and one that fails.
    for (user, ok) in [("newcomer", true), ("ml:999999", false)] {
        let b = d
            .recctl(&[
                "--json",
                "bench",
                "-c",
                "2",
                "-d",
                "0.3",
                "-m",
                "recommend,predict",
                "-u",
                user,
            ])
            .ok()
            .json();
        for m in b["methods"].as_array().unwrap() {
            assert!(m["requests"].as_u64().unwrap() > 0, "{m}");
            assert_eq!(m["errors"].as_u64() == Some(0), ok, "{user}: {m}");
        }
    }
    // Dataset users cannot be rated for: their namespace is the dataset's.
    assert_eq!(
        code(d.call("rate", json!({"user": "ml:3", "movie": 7, "rating": 2}))),
        ErrorCode::InvalidUser
    );
}

/// Movies of `ml-1m-part` whose genres include `genre`, by id.
pub(crate) fn movies_with(root: &std::path::Path, genre: &str) -> std::collections::HashSet<u64> {
    let movies = std::fs::read(root.join("ml-1m-part/movies.dat")).unwrap();
    String::from_utf8_lossy(&movies)
        .lines()
        .filter_map(|l| {
            let mut f = l.split("::");
            let id = f.next()?.parse().ok()?;
            let _title = f.next()?;
            f.next()?.split('|').any(|g| g == genre).then_some(id)
        })
        .collect()
}

#[test]
fn a_user_who_rates_only_horror_gets_horror() {
    let Some(root) = helper::datasets("a_user_who_rates_only_horror_gets_horror") else {
        return;
    };
    let root = root.canonicalize().unwrap();
    // The first model is trained on ml-1m-part at start.
    let d = Daemon::start_full(
        &format!(
            "dataset = \"{}\"\ndataset_url = \"\"",
            root.join("ml-1m-part").display()
        ),
        false,
        &[],
        "",
    );
    d.wait_first_model(Duration::from_secs(120));
    d.wait_db();
    let horror = movies_with(&root, "Horror");
    let children = movies_with(&root, "Children's");
    // Ten well-known horror films, five stars each: a new user.
    let picks = [1258, 1387, 1997, 2710, 1982, 1350, 2160, 1130, 1219, 1278];
    assert!(picks.iter().all(|m| horror.contains(m)));
    let top10 = |user: &str| -> Vec<u64> {
        let r = d.call("recommend", json!({"user": user, "n": 10})).unwrap();
        assert_eq!(r["strategy"], "fold_in_similar", "{r}");
        r["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["movie"].as_u64().unwrap())
            .collect()
    };
    for m in picks {
        d.call(
            "rate",
            json!({"user": "horror-fan", "movie": m, "rating": 5}),
        )
        .unwrap();
    }
    let got = top10("horror-fan");
    let hits = got.iter().filter(|m| horror.contains(m)).count();
    println!(
        "horror-fan: {hits} of 10 recommendations are horror (the catalogue: {} of 3883 movies)",
        horror.len()
    );
    assert!(hits >= 7, "{hits} horror films in {got:?}");
    assert!(got.iter().all(|m| !picks.contains(m)));
    // And the same for children's films, by the same rule.
    let kids = [1, 2355, 3114, 2081, 588, 364, 595, 2687, 1907, 2096];
    assert!(kids.iter().all(|m| children.contains(m)), "{kids:?}");
    for m in kids {
        d.call("rate", json!({"user": "parent", "movie": m, "rating": 5}))
            .unwrap();
    }
    let got = top10("parent");
    let hits = got.iter().filter(|m| children.contains(m)).count();
    println!("parent: {hits} of 10 recommendations are children's films");
    assert!(hits >= 7, "{hits} children's films in {got:?}");
}
