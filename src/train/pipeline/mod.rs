//! The retrain pipeline: load the base dataset, load database ratings,
//! combine, train, evaluate, export.
//!
//! It owns the order of the steps and the rule that a run failing at any step
//! leaves the models directory as it was. It reports through a callback and
//! never prints: `recd train` and the daemon each present the events their
//! own way.

mod check;
mod combine;
mod eval_files;
mod gate;
mod record;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::{Instant, SystemTime};

use serde::{Deserialize, Serialize};

use check::judge;
pub use check::{check, Check, Verdict};
use combine::Combiner;
pub use eval_files::{eval_files, EvalReport};
pub use record::{record_start, run_end, status_of};

use super::dataset::Dataset;
use super::eval;
use super::export::{new_version, ItemStats, Tables};
use super::sgd::{Cancelled, EpochReport, TrainData};
use crate::model::format::ModelError;
use crate::model::publish::{ModelsDir, PublishError};
use crate::model::{Counts, Metadata};
use crate::movielens::DatasetError;
use crate::numeric::{Params, Scale};
use crate::store::{RunStatus, Trigger};

/// What a retrain is asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    pub dataset: PathBuf,
    /// The base dataset's binary copy (`training.dataset_cache`): None
    /// parses the text every time.
    pub dataset_cache: Option<PathBuf>,
    pub models_dir: PathBuf,
    pub params: Params,
    /// Share of ratings held out for evaluation (0 trains on everything).
    pub holdout_fraction: f64,
    pub keep_backups: usize,
    /// Keep the previous model as a backup.
    pub backup: bool,
    /// Publish even past the quality gate or the new-ratings threshold.
    pub force: bool,
    /// Train only with at least this many new ratings (when a model exists).
    pub min_new_ratings: Option<u64>,
    /// The quality gate: refuse a model whose RMSE exceeds the current one's,
    /// both scored on the same held-out ratings, by more than this.
    pub max_rmse_increase: f64,
    /// The ratings database: its ratings join the dataset's, and each run
    /// is recorded in it. None trains on the dataset alone.
    pub database: Option<crate::store::Blocking>,
    /// Versions never removed by `backup: false` or by pruning: the one a
    /// daemon serves.
    pub protect: Vec<String>,
    /// What started the run, as recorded.
    pub trigger: Trigger,
    /// The run's id when the caller has recorded its start already (the
    /// daemon, whose job ids are run ids); None records it here.
    pub run_id: Option<i64>,
    /// Why the run was cancelled, when it is: set by whoever raises the
    /// cancel flag, recorded as the run's reason.
    pub cancel_reason: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl Options {
    /// What the configuration says: its paths and training keys, a backup
    /// kept, the gates in force, no new-ratings threshold.
    pub fn from_config(c: &crate::config::Config) -> Options {
        Options {
            dataset: c.paths.dataset.clone(),
            dataset_cache: c
                .training
                .dataset_cache
                .then(|| c.paths.state_dir.join("dataset.cache")),
            models_dir: c.paths.models_dir.clone(),
            params: c.training.params.clone(),
            holdout_fraction: c.training.holdout_fraction,
            keep_backups: c.models.keep_backups,
            backup: true,
            force: false,
            min_new_ratings: None,
            max_rmse_increase: c.training.max_rmse_increase,
            database: None,
            protect: Vec::new(),
            trigger: Trigger::Manual,
            run_id: None,
            cancel_reason: Default::default(),
        }
    }
}

/// The pipeline's steps, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    LoadDataset,
    LoadDatabase,
    Combine,
    Train,
    Evaluate,
    Export,
}

impl Stage {
    pub fn label(self) -> &'static str {
        match self {
            Stage::LoadDataset => "load dataset",
            Stage::LoadDatabase => "load database ratings",
            Stage::Combine => "combine",
            Stage::Train => "train",
            Stage::Evaluate => "evaluate",
            Stage::Export => "export",
        }
    }
}

/// Progress as the pipeline runs.
#[derive(Debug, Clone)]
pub enum Event {
    Started(Stage),
    Finished {
        stage: Stage,
        seconds: f64,
        detail: String,
    },
    Epoch(EpochReport),
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("loading the dataset: {0}")]
    Dataset(#[from] DatasetError),
    #[error(transparent)]
    Cancelled(#[from] Cancelled),
    #[error("quality gate: holdout RMSE {new:.4} is worse than the current model's {current:.4} by more than {tolerance}, both measured on the same {} held-out ratings (use --force to publish anyway)", gate::grouped(*.ratings))]
    QualityGate {
        /// The candidate's RMSE on the compared ratings.
        new: f64,
        /// The current model's RMSE on the same ratings.
        current: f64,
        tolerance: f64,
        /// How many held-out ratings were compared: those of the candidate's
        /// holdout whose user and movie the current model knows.
        ratings: u64,
    },
    #[error("the current model cannot be read: {0}")]
    Current(#[from] ModelError),
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error("ratings database: {0}")]
    Database(#[from] crate::store::StoreError),
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// The run's id in the database's history (None without a database).
    pub run_id: Option<i64>,
    pub published: bool,
    /// Why nothing was trained, when nothing was.
    pub skipped: Option<String>,
    pub version: Option<String>,
    pub path: Option<PathBuf>,
    pub rmse: Option<f64>,
    pub mae: Option<f64>,
    pub training_seconds: f64,
    pub total_seconds: f64,
    pub ratings: u64,
    /// Of which from the ratings database.
    pub database_ratings: u64,
    /// Database ratings newer than the current model's watermark.
    pub new_ratings: Option<u64>,
    /// The highest database sequence number included.
    pub watermark: i64,
    pub users: u64,
    pub items: u64,
    pub backup: Option<PathBuf>,
    pub removed: Vec<PathBuf>,
}

/// Run the pipeline. Nothing on disk changes unless every step succeeds.
///
/// With a database, the run is recorded in it whatever its end: started
/// here (or before, by the caller, as `opts.run_id`), then ended with its
/// [`RunStatus`], figures and reason.
pub fn run(
    opts: &Options,
    cancel: &AtomicBool,
    on_event: &mut dyn FnMut(Event),
) -> Result<Outcome, PipelineError> {
    let total = Instant::now();
    let recorded = match (&opts.database, opts.run_id) {
        (Some(db), None) => Some((db, record_start(db, opts)?)),
        (Some(db), Some(id)) => Some((db, id)),
        (None, _) => None,
    };
    let mut result = gated(opts, cancel, on_event, total);
    if let (Ok(o), Some((_, id))) = (&mut result, recorded) {
        o.run_id = Some(id);
    }
    if let Some((db, id)) = recorded {
        let mut end = run_end(&result, total.elapsed().as_secs_f64());
        if end.status == RunStatus::Cancelled {
            let why = opts.cancel_reason.lock().unwrap_or_else(|e| e.into_inner());
            end.reason = why.clone().or(end.reason);
        }
        let now = crate::clock::unix_seconds(SystemTime::now());
        if let Err(e) = db.finish_run(id, now, &end) {
            tracing::warn!("cannot record the end of training run {id}: {e}");
        }
    }
    result
}

/// The new-ratings gate, then the steps.
fn gated(
    opts: &Options,
    cancel: &AtomicBool,
    on_event: &mut dyn FnMut(Event),
    total: Instant,
) -> Result<Outcome, PipelineError> {
    let models = ModelsDir::new(&opts.models_dir);
    let current = models.open_current()?;
    if let (Some(min), Some(model), false) = (opts.min_new_ratings, &current, opts.force) {
        let check = judge(Some(model), min, opts.database.as_ref())?;
        if !check.retrain {
            return Ok(Outcome {
                skipped: Some(format!(
                    "{} new ratings since the current model, below the threshold of {min}",
                    check.new_ratings
                )),
                new_ratings: Some(check.new_ratings),
                total_seconds: total.elapsed().as_secs_f64(),
                ..Outcome::default()
            });
        }
    }
    steps(opts, &models, current.as_ref(), cancel, on_event, total)
}

/// The steps of [`run`], from loading to publishing.
fn steps(
    opts: &Options,
    models: &ModelsDir,
    current: Option<&crate::model::Model>,
    cancel: &AtomicBool,
    on_event: &mut dyn FnMut(Event),
    total: Instant,
) -> Result<Outcome, PipelineError> {
    let mut stage = Stager { on_event, at: None };
    stage.start(Stage::LoadDataset);
    let (mut dataset, read) = Dataset::load_cached(&opts.dataset, opts.dataset_cache.as_deref())?;
    let dataset_ratings = dataset.ratings.len() as u64;
    stage.finish(format!(
        "{} ratings, {} users, {} movies ({:?} format, {} titles); {read}",
        dataset.ratings.len(),
        dataset.users.len(),
        dataset.movies.len(),
        dataset.format,
        dataset.catalogue.len()
    ));

    stage.start(Stage::LoadDatabase);
    // The last erasure first, then the ratings: an erasure commits with its
    // deletions, so none of the users erased up to it is in what is read.
    let since = current.map_or(0, |m| m.metadata().db_watermark);
    let mut combiner = Combiner::new(&mut dataset, since);
    let erased_through = match &opts.database {
        Some(db) => {
            let erased_through = db.last_erasure()?;
            db.each_rating(&mut |r| combiner.add(r))?;
            erased_through
        }
        None => 0,
    };
    let mut combined = combiner.finish();
    let (watermark, new_ratings) = (combined.watermark, combined.new_ratings);
    stage.finish(match &opts.database {
        Some(db) => format!(
            "{} ratings up to sequence {watermark} from {}",
            combined.database_ratings,
            db.store.target().display()
        ),
        None => "skipped: no ratings database configured".into(),
    });

    stage.start(Stage::Combine);
    let scale = Scale::of(&combined.ratings.values);
    let n_ratings = combined.ratings.len();
    let movies = combined.movies.ids();
    let (mut train_set, test_set) = eval::split(
        std::mem::take(&mut combined.ratings),
        |u| combined.user_keys[u as usize],
        |i| movies[i as usize],
        opts.holdout_fraction,
        opts.params.seed,
    );
    stage.finish(format!(
        "{} ratings ({} from the database, {} database users): {} to train, {} held out",
        n_ratings,
        combined.database_ratings,
        combined.database_users,
        train_set.len(),
        test_set.len()
    ));

    stage.start(Stage::Train);
    let train_start = Instant::now();
    let data = TrainData {
        n_users: combined.user_ids.len(),
        n_items: movies.len(),
        users: &mut train_set.users,
        items: &mut train_set.items,
        values: &mut train_set.values,
    };
    let factors = super::fit(data, &opts.params, cancel, &mut |e| {
        (stage.on_event)(Event::Epoch(*e))
    })?;
    let training_seconds = train_start.elapsed().as_secs_f64();
    // The model's tables want each item's mean; with that taken, the
    // training ratings' values are done with (a quarter of their memory).
    let item_stats = ItemStats::of(&[&train_set, &test_set], movies.len());
    let train_ratings = train_set.len() as u64;
    train_set.values = Vec::new();
    stage.finish(format!(
        "{}, {} threads",
        opts.params.summary(),
        opts.params.effective_threads()
    ));

    stage.start(Stage::Evaluate);
    let metrics = (!test_set.is_empty()).then(|| eval::score(&factors, scale, &test_set));
    let names = gate::Names {
        users: &combined.user_ids,
        movies,
    };
    let comparison = match (metrics, current) {
        (Some(_), Some(model)) => gate::compare(model, &factors, scale, &test_set, &names),
        _ => None,
    };
    let gate = quality_gate(comparison, opts);
    stage.finish(gate::detail(
        metrics,
        test_set.len(),
        current.is_some(),
        comparison,
        opts.max_rmse_increase,
    ));
    gate?;

    stage.start(Stage::Export);
    let now = SystemTime::now();
    let version = new_version(now);
    let meta = Metadata {
        version: version.clone(),
        trained_at: crate::clock::rfc3339(now),
        recd_version: env!("CARGO_PKG_VERSION").into(),
        params: opts.params.clone(),
        metrics,
        holdout_fraction: opts.holdout_fraction,
        counts: Counts {
            ratings: n_ratings as u64,
            train_ratings,
            test_ratings: test_set.len() as u64,
            dataset_ratings,
            database_ratings: combined.database_ratings,
            users: combined.user_ids.len() as u64,
            items: movies.len() as u64,
        },
        db_watermark: watermark,
        erased_through,
        dataset: opts.dataset.display().to_string(),
        training_seconds,
        noise_std_dev: factors.noise_std_dev(),
    };
    let (user_ids, movies) = (combined.user_ids, movies.to_vec());
    let tables = Tables::build_from(
        user_ids,
        movies,
        &dataset.catalogue,
        item_stats,
        &[&train_set, &test_set],
    );
    drop((train_set, test_set));
    let published = models.publish(
        &version,
        |out| tables.write(out, &meta, &factors, scale).map(drop),
        opts.keep_backups,
        opts.backup,
        &opts.protect,
    )?;
    stage.finish(format!("published {}", published.path.display()));

    Ok(Outcome {
        run_id: None,
        published: true,
        new_ratings: Some(new_ratings),
        skipped: None,
        version: Some(version),
        path: Some(published.path),
        rmse: metrics.map(|m| m.rmse),
        mae: metrics.map(|m| m.mae),
        training_seconds,
        total_seconds: total.elapsed().as_secs_f64(),
        ratings: meta.counts.ratings,
        database_ratings: meta.counts.database_ratings,
        watermark,
        users: meta.counts.users,
        items: meta.counts.items,
        backup: published.backup,
        removed: published.removed,
    })
}

/// Refuse a candidate whose RMSE exceeds the current model's, on the same
/// held-out ratings, by more than the tolerance. Nothing to compare passes.
fn quality_gate(comparison: Option<gate::Comparison>, opts: &Options) -> Result<(), PipelineError> {
    match comparison {
        Some(c) if !opts.force && c.refuses(opts.max_rmse_increase) => {
            Err(PipelineError::QualityGate {
                new: c.new_rmse,
                current: c.current_rmse,
                tolerance: opts.max_rmse_increase,
                ratings: c.ratings,
            })
        }
        _ => Ok(()),
    }
}

/// Times the stages and reports their start and end.
struct Stager<'a> {
    on_event: &'a mut dyn FnMut(Event),
    at: Option<(Stage, Instant)>,
}

impl Stager<'_> {
    fn start(&mut self, stage: Stage) {
        self.at = Some((stage, Instant::now()));
        (self.on_event)(Event::Started(stage));
    }

    fn finish(&mut self, detail: String) {
        if let Some((stage, t)) = self.at.take() {
            (self.on_event)(Event::Finished {
                stage,
                seconds: t.elapsed().as_secs_f64(),
                detail,
            });
        }
    }
}
