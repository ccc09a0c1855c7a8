//! `recd train`, `eval`, `synth` and `model inspect`, run as the real binary.

use crate::helper;

use helper::{recd, Fixture};

fn sorted<const N: usize>(names: [String; N]) -> Vec<String> {
    let mut v = names.to_vec();
    v.sort();
    v
}

#[test]
fn train_publishes_and_reports_every_json_field() {
    let f = Fixture::new();
    let out = f.train(&["--json"]).ok();
    let j = out.json();
    for key in [
        "version",
        "path",
        "rmse",
        "mae",
        "training_seconds",
        "total_seconds",
        "ratings",
        "users",
        "items",
        "backup",
        "published",
    ] {
        assert!(j.get(key).is_some(), "missing {key} in {j}");
    }
    assert_eq!(j["published"], true);
    assert_eq!(j["ratings"], 15000);
    assert_eq!(j["users"], 300);
    assert_eq!(j["backup"], serde_json::Value::Null);
    assert!(j["rmse"].as_f64().unwrap() < 1.2);
    let version = j["version"].as_str().unwrap();
    assert_eq!(
        f.model_files(),
        sorted([format!("{version}.recd"), "current".into()])
    );
    // The steps went to stderr, so stdout stayed one JSON object.
    for step in [
        "load dataset",
        "load database ratings",
        "combine",
        "train",
        "evaluate",
        "export",
    ] {
        assert!(
            out.stderr.contains(step),
            "no '{step}' step in {}",
            out.stderr
        );
    }
    assert!(out.stderr.contains("epoch  10/10"), "{}", out.stderr);
}

#[test]
fn human_output_shows_steps_with_timings_and_a_summary() {
    let f = Fixture::new();
    let out = f.train(&[]).ok();
    assert!(out.stdout.contains("[1/6] load dataset"), "{}", out.stdout);
    assert!(
        out.stdout.contains("[2/6] load database ratings"),
        "{}",
        out.stdout
    );
    assert!(out
        .stdout
        .contains("skipped: no ratings database configured"));
    assert!(out.stdout.contains("[6/6] export"));
    assert!(out.stdout.contains("published "));
    assert!(out.stdout.contains("holdout    RMSE "));
}

#[test]
fn backups_and_no_backup() {
    let f = Fixture::new();
    let first = f.train(&["--json"]).ok().json();
    let second = f.train(&["--json"]).ok().json();
    assert_eq!(second["backup"], first["path"]);
    assert_eq!(f.model_files().len(), 3);
    let third = f.train(&["--json", "--no-backup"]).ok().json();
    assert_eq!(third["backup"], serde_json::Value::Null);
    // The first stays as a backup; the second, current until now, is gone.
    let v1 = first["version"].as_str().unwrap();
    let v3 = third["version"].as_str().unwrap();
    assert_eq!(
        f.model_files(),
        sorted([format!("{v1}.recd"), format!("{v3}.recd"), "current".into()])
    );
}

#[test]
fn check_only_reports_the_verdict_and_trains_nothing() {
    let f = Fixture::new();
    // Exit 0: retraining is due (there is no model yet), and the verdict
    // says so too (it used to say `not_needed` beside `retrain: true`).
    let j = f.train(&["--check-only", "--json"]).ok().json();
    assert_eq!(j["new_ratings"], 0);
    assert_eq!(j["threshold"], 100);
    assert_eq!(j["verdict"], "necessary");
    assert_eq!(j["retrain"], true, "no model yet: retraining is due");
    assert!(f.model_files().is_empty());
    f.train(&[]).ok();
    // Exit 3: not due.
    let not_due = f.train(&["--check-only", "--json", "--min-ratings", "500"]);
    assert_eq!(not_due.code, 3, "{}", not_due.stderr);
    let j = not_due.json();
    assert_eq!(j["threshold"], 500);
    assert_eq!(j["retrain"], false);
    assert_eq!(j["verdict"], "not_needed");
    assert!(j["current_version"].is_string());
    let human = f.train(&["--check-only"]);
    assert_eq!(human.code, 3);
    assert!(
        human
            .stdout
            .contains("retraining not needed (under 100 new ratings)"),
        "{}",
        human.stdout
    );
}

#[test]
fn min_ratings_skips_training_unless_forced() {
    let f = Fixture::new();
    // No model yet: trains regardless.
    f.train(&["--min-ratings", "100"]).ok();
    let before = f.model_files();
    let out = f.train(&["--min-ratings", "100"]).ok();
    assert!(
        out.stdout.contains(
            "not retrained: 0 new ratings since the current model, below the threshold of 100"
        ),
        "{}",
        out.stdout
    );
    assert_eq!(f.model_files(), before);
    let j = f.train(&["--min-ratings", "100", "--json"]).ok().json();
    assert_eq!(j["published"], false);
    f.train(&["--min-ratings", "100", "--force"]).ok();
    assert_eq!(f.model_files().len(), before.len() + 1);
}

#[test]
fn quality_gate_refuses_a_worse_model_unless_forced() {
    let f = Fixture::new();
    f.train(&["--epochs", "30"]).ok();
    let before = f.model_files();
    let bad = f.train(&["--epochs", "1", "--lr", "0.0001", "--init-std-dev", "0.5"]);
    assert_eq!(bad.code, 1, "{}", bad.stdout);
    assert!(
        bad.stderr
            .starts_with("recd: error: quality gate: holdout RMSE"),
        "{}",
        bad.stderr
    );
    assert_eq!(f.model_files(), before);
    f.train(&[
        "--epochs",
        "1",
        "--lr",
        "0.0001",
        "--init-std-dev",
        "0.5",
        "--force",
    ])
    .ok();
}

#[test]
fn bad_input_exits_nonzero_with_one_line_naming_it() {
    let f = Fixture::new();
    let out = f.train(&["--factors", "0"]);
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr.trim(),
        "recd: error: --factors (or training.n_factors): must be between 1 and 1024, got 0"
    );
    let out = f.train(&["--lr", "nan"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("--lr"), "{}", out.stderr);
    let out = recd(&[
        "train",
        "--dataset",
        "/nonexistent/ml",
        "--models-dir",
        f.models().to_str().unwrap(),
        "--no-database",
    ]);
    assert_eq!(out.code, 1);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("/nonexistent/ml"), "{}", out.stderr);
    assert!(f.model_files().is_empty());
    let out = f.train(&["--no-such-flag"]);
    assert_eq!(out.code, 2, "usage errors exit 2");
    std::fs::write(f.data().join("ratings.dat"), "1::1::5::1\n1::2::five::2\n").unwrap();
    let out = f.train(&[]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("ratings.dat:2: rating 'five' is not a number"),
        "{}",
        out.stderr
    );
}

/// `recd train` with a database records its run (trigger `offline`) and
/// tells the `[notify]` command how it ended, before it exits.
#[test]
fn an_offline_run_is_recorded_and_notified() {
    let f = Fixture::new();
    let cfg = f.path().join("recd.toml");
    let out = f.path().join("notified.json");
    std::fs::write(
        &cfg,
        format!(
            "[paths]\nmodels_dir = \"models\"\nstate_dir = \"state\"\ndataset = \"data\"\n\
             [training]\nn_factors = 6\nn_epochs = 3\n\
             [notify]\ncommand = [\"/bin/sh\", \"-c\", \"cat > {}\"]\n",
            out.display()
        ),
    )
    .unwrap();
    let run = recd(&["train", "--config", cfg.to_str().unwrap()]).ok();
    let id_line = run
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("run "))
        .unwrap_or_else(|| panic!("no run line: {}", run.stdout));
    let id: i64 = id_line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let told: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(told["id"], id);
    assert_eq!(told["trigger"], "offline");
    assert_eq!(told["status"], "published");
    assert!(
        told["text"]
            .as_str()
            .unwrap()
            .contains("(offline) published"),
        "{told}"
    );
    // A failing run is announced too.
    let bad = recd(&[
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--dataset",
        "/nonexistent",
    ]);
    assert_ne!(bad.code, 0);
    let told: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(
        (told["id"].as_i64(), &told["status"]),
        (Some(id + 1), &"failed".into())
    );
}

/// SIGTERM (a stopped unit) or Ctrl-C during `recd train` ends the run as
/// `cancelled` in the history, not `running` for ever.
#[test]
fn a_signal_cancels_an_offline_run_and_it_is_recorded() {
    use std::io::BufRead;
    let f = Fixture::new();
    let cfg = f.path().join("recd.toml");
    std::fs::write(
        &cfg,
        "[paths]\nmodels_dir = \"models\"\nstate_dir = \"state\"\ndataset = \"data\"\n\
         [training]\nn_factors = 32\nn_epochs = 10000\nthreads = 1\n",
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_recd"))
        .args(["train", "--config", cfg.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Training begins once the ratings are combined (step 3 of 6).
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let begun = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.starts_with("[3/6]"));
    assert!(begun, "no combine line");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_ne!(status.code(), Some(0));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let runs = runtime.block_on(async {
        let store = recd::store::Store::open(
            &recd::store::Target::Sqlite(f.path().join("state/recd.db")),
            recd::store::Options {
                max_connections: 1,
                busy_timeout: std::time::Duration::from_secs(5),
            },
        )
        .await
        .unwrap();
        store.runs(10, Default::default()).await.unwrap()
    });
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(
        runs[0].status,
        recd::store::RunStatus::Cancelled,
        "{runs:?}"
    );
    assert_eq!(runs[0].trigger, recd::store::Trigger::Offline);
}

#[test]
fn config_file_is_read_and_its_errors_name_the_key() {
    let f = Fixture::new();
    let cfg = f.path().join("recd.toml");
    std::fs::write(&cfg, "[paths]\nmodels_dir = \"models\"\nstate_dir = \"state\"\ndataset = \"data\"\n[training]\nn_factors = 6\nn_epochs = 3\n[models]\nkeep_backups = 0\n").unwrap();
    let j = recd(&["train", "--config", cfg.to_str().unwrap(), "--json"])
        .ok()
        .json();
    assert_eq!(j["published"], true);
    recd(&["train", "--config", cfg.to_str().unwrap()]).ok();
    assert_eq!(
        f.model_files().len(),
        2,
        "keep_backups = 0 keeps the current model only"
    );
    let inspect = recd(&["model", "inspect", f.models().to_str().unwrap(), "--json"])
        .ok()
        .json();
    assert_eq!(inspect["factors"], 6);
    assert_eq!(inspect["metadata"]["params"]["n_epochs"], 3);

    std::fs::write(&cfg, "[training]\nn_epochs = -3\n").unwrap();
    let out = recd(&["train", "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("n_epochs"), "{}", out.stderr);
    std::fs::write(&cfg, "[models]\nkeep = 3\n").unwrap();
    let out = recd(&["train", "--config", cfg.to_str().unwrap()]);
    assert!(
        out.stderr.contains("unknown field `keep`"),
        "{}",
        out.stderr
    );
}

#[test]
fn leftover_temp_files_are_removed_by_the_next_train() {
    let f = Fixture::new();
    f.train(&[]).ok();
    std::fs::write(f.models().join(".tmp-20260101T000000Z-dead.recd"), b"half").unwrap();
    let j = f.train(&["--json"]).ok().json();
    let removed = j["removed"].as_array().unwrap();
    assert!(removed.iter().any(|p| p
        .as_str()
        .unwrap()
        .ends_with(".tmp-20260101T000000Z-dead.recd")));
    assert!(f.model_files().iter().all(|n| !n.starts_with(".tmp")));
}

#[test]
fn inspect_verifies_and_refuses_corrupt_files() {
    let f = Fixture::new();
    let j = f.train(&["--json"]).ok().json();
    let path = j["path"].as_str().unwrap().to_string();
    let out = recd(&["model", "inspect", &path]).ok();
    assert!(
        out.stdout.contains(": ok (checksum and structure verified"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains(j["version"].as_str().unwrap()));
    let ij = recd(&["model", "inspect", &path, "--json"]).ok().json();
    assert_eq!(ij["verified"], true);
    assert_eq!(ij["metadata"]["version"], j["version"]);
    assert_eq!(ij["metadata"]["counts"]["ratings"], 15000);
    assert_eq!(ij["metadata"]["db_watermark"], 0);

    let bad = f.path().join("bad.recd");
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&bad, &bytes).unwrap();
    let out = recd(&["model", "inspect", bad.to_str().unwrap()]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("checksum mismatch"), "{}", out.stderr);
    std::fs::write(&bad, &bytes[..1000]).unwrap();
    assert!(recd(&["model", "inspect", bad.to_str().unwrap()])
        .stderr
        .contains("truncated model file"));
    let out = recd(&[
        "model",
        "inspect",
        f.data().join("ratings.dat").to_str().unwrap(),
    ]);
    assert!(
        out.stderr.contains("not a recd model file"),
        "{}",
        out.stderr
    );
}

#[test]
fn eval_prints_the_metrics() {
    let f = Fixture::new();
    let all = std::fs::read_to_string(f.data().join("ratings.dat")).unwrap();
    let (mut train, mut test) = (String::new(), String::new());
    for (n, line) in all.lines().enumerate() {
        let side = if n % 10 == 0 { &mut test } else { &mut train };
        side.push_str(line);
        side.push('\n');
    }
    let (tr, te) = (f.path().join("train.dat"), f.path().join("test.csv"));
    std::fs::write(&tr, train).unwrap();
    // The test file in another layout: CSV with a header.
    let csv: String = std::iter::once("userId,movieId,rating,timestamp\n".to_string())
        .chain(test.lines().map(|l| l.replace("::", ",") + "\n"))
        .collect();
    std::fs::write(&te, csv).unwrap();
    let j = recd(&[
        "eval",
        "--train",
        tr.to_str().unwrap(),
        "--test",
        te.to_str().unwrap(),
        "--factors",
        "8",
        "--epochs",
        "10",
        "--json",
    ])
    .ok()
    .json();
    for key in [
        "rmse",
        "mae",
        "fit_seconds",
        "train_ratings",
        "test_ratings",
    ] {
        assert!(j.get(key).is_some(), "missing {key} in {j}");
    }
    assert_eq!(j["train_ratings"], 13500);
    assert_eq!(j["test_ratings"], 1500);
    assert!(j["rmse"].as_f64().unwrap() > j["mae"].as_f64().unwrap());
    let human = recd(&[
        "eval",
        "--train",
        tr.to_str().unwrap(),
        "--test",
        te.to_str().unwrap(),
        "--epochs",
        "2",
    ])
    .ok();
    assert!(human.stdout.starts_with("rmse "), "{}", human.stdout);
}

#[test]
fn synth_refuses_impossible_shapes() {
    let f = Fixture::new();
    let out = recd(&[
        "synth",
        "--users",
        "5",
        "--items",
        "5",
        "--ratings",
        "100",
        "--out",
        f.path().join("x").to_str().unwrap(),
    ]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("do not fit"), "{}", out.stderr);
}

#[test]
fn recctl_prints_its_usage() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_recctl"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let usage = String::from_utf8_lossy(&out.stdout);
    assert!(usage.contains("Usage: recctl"), "{usage}");
    assert!(usage.contains("recommend"), "{usage}");
}
