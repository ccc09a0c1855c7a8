//! The retrain pipeline through the library, on a synthetic dataset in a
//! temp dir: the quality gate against the model it would replace.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use recd::model::format::{self, Kind, ModelFile, Payload};
use recd::model::publish::ModelsDir;
use recd::model::{Metadata, Model};
use recd::numeric::{Metrics, Params};
use recd::train::pipeline::{self, Event, Options, Outcome, PipelineError, Stage};

const TOLERANCE: f64 = 0.02;

fn options(dir: &Path, params: Params, force: bool) -> Options {
    Options {
        dataset: dir.join("data"),
        dataset_cache: Some(dir.join("dataset.cache")),
        models_dir: dir.join("models"),
        params,
        holdout_fraction: 0.1,
        keep_backups: 10,
        backup: true,
        force,
        min_new_ratings: None,
        max_rmse_increase: TOLERANCE,
        database: None,
        protect: Vec::new(),
        trigger: recd::store::Trigger::Offline,
        run_id: None,
        cancel_reason: Default::default(),
    }
}

/// The dataset's binary copy is in the state directory unless the
/// configuration turns it off.
#[test]
fn the_dataset_copy_follows_the_configuration() {
    let config = |text: &str| {
        recd::config::Config::parse(text, Path::new("/etc/recd"), Path::new("recd.toml")).unwrap()
    };
    let on = Options::from_config(&config("[paths]\nstate_dir = \"st\"\n"));
    assert_eq!(
        on.dataset_cache,
        Some(PathBuf::from("/etc/recd/st/dataset.cache"))
    );
    let off = Options::from_config(&config("[training]\ndataset_cache = false\n"));
    assert_eq!(off.dataset_cache, None);
}

/// Well-fitted: the seed, and so the holdout, is the same for every
/// parameter set here.
fn good(epochs: usize) -> Params {
    Params {
        n_factors: 8,
        n_epochs: epochs,
        threads: 1,
        ..Params::default()
    }
}

/// One epoch from noisy starting factors at a crawl: clearly worse.
fn bad() -> Params {
    Params {
        n_epochs: 1,
        lr_all: 0.0001,
        init_std_dev: 0.5,
        ..good(1)
    }
}

/// Run the pipeline; its result and the Evaluate stage's line.
fn run(opts: &Options) -> (Result<Outcome, PipelineError>, String) {
    let mut evaluate = String::new();
    let result = pipeline::run(opts, &AtomicBool::new(false), &mut |e| {
        if let Event::Finished {
            stage: Stage::Evaluate,
            detail,
            ..
        } = e
        {
            evaluate = detail;
        }
    });
    (result, evaluate)
}

fn current(models: &ModelsDir) -> String {
    models.current_version().unwrap().unwrap()
}

/// Rewrite the model at `path` with `rmse` as the holdout RMSE its
/// metadata records, every other section as it was.
fn record_rmse(path: &Path, rmse: f64) {
    let file = ModelFile::open(path).unwrap();
    let mut meta: Metadata = serde_json::from_slice(file.bytes(Kind::Metadata)).unwrap();
    meta.metrics = Some(Metrics { rmse, mae: rmse });
    let kinds = recd::model::format::KINDS
        .into_iter()
        .filter(|k| *k != Kind::Metadata);
    let mut sections = vec![(
        Kind::Metadata,
        Payload::Owned(serde_json::to_vec(&meta).unwrap()),
    )];
    sections.extend(kinds.map(|k| (k, Payload::Bytes(file.bytes(k)))));
    let tmp = PathBuf::from(format!("{}.doctored", path.display()));
    format::write(&mut std::fs::File::create(&tmp).unwrap(), &sections).unwrap();
    drop(file);
    std::fs::rename(&tmp, path).unwrap();
    let reread = Model::open(path).unwrap().metadata().metrics.unwrap().rmse;
    assert_eq!(reread, rmse);
}

/// The gate scores the current model on the candidate's held-out ratings
/// instead of reading the RMSE the current model's file records.
///
/// How this pins it: before each candidate the current model's recorded
/// RMSE is rewritten so that a gate reading it would give the opposite
/// answer. Recorded as 9.0, a gate reading it would publish the badly
/// trained candidate; this one refuses it, with the current model's figure
/// equal to the RMSE the good model really scored on this holdout (the seed
/// and data are the same, so its holdout is the candidate's), not 9.0.
/// Recorded as 0.01, a gate reading it would refuse a normal candidate; this
/// one publishes it. `--force` still publishes a refused candidate.
#[test]
fn the_quality_gate_compares_both_models_on_the_same_held_out_ratings() {
    let dir = tempfile::tempdir().unwrap();
    let shape = recd::train::synth::Shape {
        users: 300,
        items: 150,
        ratings: 15_000,
        seed: 11,
    };
    recd::train::synth::generate(&shape, &dir.path().join("data"), 2).unwrap();
    let models = ModelsDir::new(dir.path().join("models"));

    let (first, line) = run(&options(dir.path(), good(30), false));
    let first = first.unwrap();
    assert!(
        line.contains("no current model: quality gate passed"),
        "{line}"
    );
    let v1 = first.version.unwrap();
    let v1_rmse = first.rmse.unwrap();
    let counts = Model::open(&models.version_path(&v1))
        .unwrap()
        .metadata()
        .counts;
    let held_out = counts.test_ratings;
    assert!(held_out > 1000, "{held_out}");
    assert_eq!(
        counts.train_ratings + held_out,
        counts.ratings,
        "{counts:?}"
    );

    // (a) A badly trained candidate is refused, on every held-out rating
    // (the current model knows every user and movie of the same data).
    record_rmse(&models.version_path(&v1), 9.0);
    let (refused, line) = run(&options(dir.path(), bad(), false));
    let err = refused.unwrap_err();
    let PipelineError::QualityGate {
        new,
        current: current_rmse,
        tolerance,
        ratings,
    } = err
    else {
        panic!("not the quality gate: {err}");
    };
    eprintln!("refused: candidate {new:.4}, current {current_rmse:.4} on {ratings} ratings");
    assert_eq!(ratings, held_out);
    assert_eq!(tolerance, TOLERANCE);
    assert!(
        (current_rmse - v1_rmse).abs() < 1e-6,
        "the current model scored {current_rmse}, its own holdout {v1_rmse}"
    );
    assert!(new > current_rmse + TOLERANCE, "{new} vs {current_rmse}");
    let message = err.to_string();
    for part in [
        format!("holdout RMSE {new:.4}"),
        format!("current model's {current_rmse:.4}"),
        format!("on the same {} held-out ratings", group(ratings)),
    ] {
        assert!(message.contains(&part), "no '{part}' in {message}");
    }
    assert!(
        line.contains(&format!(
            "current model {current_rmse:.4}, this one {new:.4}, on the {} it can predict",
            group(ratings)
        )),
        "{line}"
    );
    assert_eq!(current(&models), v1);
    assert_eq!(models.versions().unwrap(), std::slice::from_ref(&v1));

    // (c) A normal candidate is published.
    record_rmse(&models.version_path(&v1), 0.01);
    let (normal, line) = run(&options(dir.path(), good(25), false));
    let normal = normal.unwrap();
    eprintln!("normal: {line}");
    assert!(line.contains("it can predict"), "{line}");
    let v2 = normal.version.unwrap();
    assert_eq!(current(&models), v2);

    // (b) The bad candidate, forced, is published though the gate refuses it.
    let (forced, line) = run(&options(dir.path(), bad(), true));
    eprintln!("forced: {line}");
    assert!(
        line.contains("(worse by more than the quality gate allows)"),
        "{line}"
    );
    assert_eq!(current(&models), forced.unwrap().version.unwrap());
}

/// 60000 as the pipeline writes it: 60,000.
fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (k, c) in s.chars().enumerate() {
        if k > 0 && (s.len() - k).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A candidate trained on data with users and movies the current model has
/// never seen is compared on the held-out ratings the current model can
/// predict, and only those.
#[test]
fn the_quality_gate_compares_only_the_ratings_the_current_model_can_predict() {
    let dir = tempfile::tempdir().unwrap();
    let synth = |users, items, ratings, to: &str| {
        let shape = recd::train::synth::Shape {
            users,
            items,
            ratings,
            seed: 4,
        };
        recd::train::synth::generate(&shape, &dir.path().join(to), 2).unwrap();
    };
    synth(150, 80, 6_000, "data");
    synth(300, 160, 12_000, "larger");
    let (first, _) = run(&options(dir.path(), good(20), false));
    first.unwrap();

    let mut opts = options(dir.path(), good(20), false);
    opts.dataset = dir.path().join("larger");
    let (second, line) = run(&opts);
    let second = second.unwrap();
    eprintln!("{line}");
    let models = ModelsDir::new(dir.path().join("models"));
    let held_out = Model::open(&models.version_path(second.version.as_ref().unwrap()))
        .unwrap()
        .metadata()
        .counts
        .test_ratings;
    let compared: u64 = line
        .split("on the ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .map(|n| n.replace(',', "").parse().unwrap())
        .unwrap_or_else(|| panic!("no comparison in {line}"));
    assert!(
        0 < compared && compared < held_out,
        "{compared} of {held_out}"
    );
}
