//! A trained user's ratings given after training, under a `bayes_svdpp`
//! model, through the real daemon on the real MovieLens data: they move the
//! user's vector at once, before the next retrain.

use crate::helper;

use std::time::Duration;

use helper::daemon::{Daemon, Setup};
use serde_json::json;

use super::unseen::movies_with;

fn top10(d: &Daemon, user: &str) -> (String, Vec<u64>) {
    let r = d.call("recommend", json!({"user": user, "n": 10})).unwrap();
    let movies = r["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["movie"].as_u64().unwrap())
        .collect();
    (r["strategy"].as_str().unwrap().to_owned(), movies)
}

/// Alice's predicted rating of each movie of `movies` the model has.
fn predictions(d: &Daemon, movies: &[u64]) -> Vec<f64> {
    movies
        .iter()
        .filter_map(|&m| {
            let p = d
                .call("predict", json!({"user": "alice", "movie": m}))
                .ok()?;
            p["rating"].as_f64()
        })
        .collect()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// The mean absolute difference of two lists of predictions.
fn distance(a: &[f64], b: &[f64]) -> f64 {
    mean(
        &a.iter()
            .zip(b)
            .map(|(a, b)| (a - b).abs())
            .collect::<Vec<_>>(),
    )
}

#[test]
fn a_trained_users_new_ratings_move_their_recommendations_at_once() {
    let Some(root) =
        helper::datasets("a_trained_users_new_ratings_move_their_recommendations_at_once")
    else {
        return;
    };
    let root = root.canonicalize().unwrap();
    let dataset = format!(
        "dataset = \"{}\"\ndataset_url = \"\"",
        root.join("ml-1m-part").display()
    );
    let d = Daemon::start_setup(&Setup {
        dataset_keys: &dataset,
        trained: false,
        training_keys: "algorithm = \"bayes_svdpp\"\nn_factors = 16\nn_epochs = 24",
        ..Setup::default()
    });
    d.wait_first_model(Duration::from_secs(180));
    d.wait_db();
    let horror = movies_with(&root, "Horror");
    // An application user of well-known films, none of them horror, trained
    // into the next model.
    let films = [
        2858, 260, 1196, 1210, 480, 2028, 589, 2571, 1270, 1580, 1198, 608, 110, 2396, 1197, 527,
        1617, 1265, 1097, 318, 858, 356, 296, 1240, 1, 34, 2791, 3114, 1136, 912,
    ];
    assert!(films.iter().all(|m| !horror.contains(m)));
    for (k, m) in films.iter().enumerate() {
        let rating = 3 + k % 3;
        d.call(
            "rate",
            json!({"user": "alice", "movie": m, "rating": rating}),
        )
        .unwrap();
    }
    let retrain = || {
        let r = d.call("retrain", json!({"force": true})).unwrap();
        assert_eq!(r["state"], "published", "{r}");
    };
    retrain();
    let (strategy, before) = top10(&d, "alice");
    assert_eq!(strategy, "model");
    let p = d
        .call("predict", json!({"user": "alice", "movie": 2716}))
        .unwrap();
    assert_eq!(p["strategy"], "model");
    let sd = p["std_dev"].as_f64().expect("a standard deviation");
    assert!(sd > 0.0 && sd < 1.5, "{p}");

    // Then she rates horror films, five stars each.
    let picks = [1258, 1387, 1997, 2710, 1982, 1350, 2160, 1130];
    assert!(picks.iter().all(|m| horror.contains(m)));
    let mut scary: Vec<u64> = horror
        .iter()
        .copied()
        .filter(|m| !picks.contains(m))
        .collect();
    scary.sort_unstable();
    let others: Vec<u64> = (1..4000)
        .filter(|m| !horror.contains(m) && !films.contains(m))
        .step_by(10)
        .collect();
    let (horror_before, others_before) = (predictions(&d, &scary), predictions(&d, &others));
    for m in picks {
        d.call("rate", json!({"user": "alice", "movie": m, "rating": 5}))
            .unwrap();
    }
    let (strategy, after) = top10(&d, "alice");
    assert_eq!(strategy, "model_updated");
    let p = d
        .call("predict", json!({"user": "alice", "movie": 2716}))
        .unwrap();
    assert_eq!(p["strategy"], "model_updated");
    assert!(p["std_dev"].as_f64().is_some(), "{p}");
    assert!(after.iter().all(|m| !picks.contains(m)), "{after:?}");
    let kept: Vec<u64> = before
        .iter()
        .copied()
        .filter(|m| !picks.contains(m))
        .collect();
    assert_ne!(
        after[..kept.len()],
        kept[..],
        "more than the rated films dropped"
    );
    let (horror_after, others_after) = (predictions(&d, &scary), predictions(&d, &others));
    let horror_rise = mean(&horror_after) - mean(&horror_before);
    let others_rise = mean(&others_after) - mean(&others_before);
    // And what the next retrain makes of the same ratings.
    retrain();
    assert_eq!(top10(&d, "alice").0, "model");
    let horror_retrained = predictions(&d, &scary);
    println!(
        "alice, over {} horror films she has not rated: mean prediction {:.3} before, {:.3} at once, {:.3} retrained; over {} other films {:.3} -> {:.3}; top 10 {before:?} -> {after:?}",
        scary.len(),
        mean(&horror_before),
        mean(&horror_after),
        mean(&horror_retrained),
        others.len(),
        mean(&others_before),
        mean(&others_after),
    );
    assert!(
        horror_rise > others_rise + 0.1,
        "horror {horror_rise:+.3}, others {others_rise:+.3}"
    );
    let (was, now) = (
        distance(&horror_before, &horror_retrained),
        distance(&horror_after, &horror_retrained),
    );
    println!(
        "distance to the retrained predictions of horror films: {was:.3} before, {now:.3} at once"
    );
    assert!(now < was, "{now} >= {was}");
}
