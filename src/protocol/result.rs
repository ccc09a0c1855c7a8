//! Results: what each method answers, one type per method, serialised by
//! the daemon and read by `recctl` and the tests.
//!
//! The hot queries (`recommend`, `predict`, `similar`) borrow titles and
//! ids from the mapped model when the daemon writes them (`Cow::Borrowed`)
//! and own them when a client reads them, so one type serves both sides
//! without a copy on the request path.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{Counts as ModelCounts, Model};
use crate::numeric::{Metrics, Params};
pub use crate::store::import::Rejected;
pub use crate::store::{BackupInfo, Counts as DbCounts, Run};
pub use crate::train::pipeline::{Check, Outcome, Stage, Verdict};

/// How a user's recommendations and predictions were made.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::EnumIter, strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum StrategyName {
    /// The user is in the model.
    Model,
    /// The user is in the model, and the movies they rated since it was
    /// trained are added to their vector (a `bayes_svdpp` model).
    ModelUpdated,
    /// Folded in from their database ratings.
    FoldIn,
    /// Folded in, with fewer than `fold_in.min_ratings` ratings: picked
    /// from the movies related to theirs.
    FoldInSimilar,
    /// No ratings known (or the database unavailable): the damped mean.
    Popularity,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scored<'a> {
    pub movie: u32,
    pub title: Cow<'a, str>,
    pub score: f32,
}

/// `recommend`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommended<'a> {
    pub user: Cow<'a, str>,
    pub model: Cow<'a, str>,
    pub strategy: StrategyName,
    /// Why the strategy is a fallback, when it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degraded: Option<String>,
    pub items: Vec<Scored<'a>>,
}

/// `predict`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Predicted<'a> {
    pub user: Cow<'a, str>,
    pub movie: u32,
    pub title: Cow<'a, str>,
    pub rating: f32,
    /// The posterior standard deviation of the predicted rating, where the
    /// model and the strategy give one (see docs/protocol.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub std_dev: Option<f32>,
    pub model: Cow<'a, str>,
    pub strategy: StrategyName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degraded: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Similar<'a> {
    pub movie: u32,
    pub title: Cow<'a, str>,
    pub similarity: f32,
}

/// `similar`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimilarTo<'a> {
    pub movie: u32,
    pub title: Cow<'a, str>,
    pub model: Cow<'a, str>,
    pub items: Vec<Similar<'a>>,
}

/// A model as `health`, `stats` and `models` describe it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    pub version: String,
    #[serde(flatten)]
    pub details: ModelDetails,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelDetails {
    pub trained_at: String,
    pub metrics: Option<Metrics>,
    pub counts: ModelCounts,
    pub params: Params,
    pub db_watermark: i64,
    pub users: usize,
    /// Of `users`, the base dataset's (`ml:1`, `ml:2`, ...). Always sent;
    /// absent only from daemons older than the field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_users: Option<usize>,
    pub items: usize,
    pub factors: usize,
}

impl ModelSummary {
    pub fn new(m: &Model) -> ModelSummary {
        let meta = m.metadata();
        ModelSummary {
            version: meta.version.clone(),
            details: ModelDetails {
                trained_at: meta.trained_at.clone(),
                metrics: meta.metrics,
                counts: meta.counts,
                params: meta.params.clone(),
                db_watermark: meta.db_watermark,
                users: m.n_users(),
                dataset_users: Some(m.dataset_users()),
                items: m.n_items(),
                factors: m.n_factors(),
            },
        }
    }
}

/// What the daemon is doing, as `health` says.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::EnumIter, strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum HealthStatus {
    Ok,
    /// Serving, but not the model `current` names (see `degraded`).
    Degraded,
    /// No model yet; the first one is training.
    Training,
    /// No model and no dataset yet; the dataset is downloading.
    Downloading,
    NoModel,
    ShuttingDown,
}

/// `health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    pub status: HealthStatus,
    /// Why the status is `degraded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degraded: Option<String>,
    pub uptime_seconds: f64,
    pub protocol_version: u32,
    pub recd_version: String,
    pub model: Option<ModelSummary>,
    pub job: Option<JobStatus>,
    /// When the schedule runs next (absent when it is off or paused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_run: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connections {
    pub open: u64,
    pub total: u64,
    pub rejected: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requests {
    pub total: u64,
    /// Every method, by its wire name, counted or not.
    pub by_method: BTreeMap<String, u64>,
}

/// `stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub uptime_seconds: f64,
    pub connections: Connections,
    pub requests: Requests,
    /// Error replies by code; codes never sent are left out.
    pub errors: BTreeMap<String, u64>,
    pub model: Option<ModelSummary>,
    pub database: DatabaseStats,
}

/// The ratings database's part of `stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatabaseStats {
    pub backend: String,
    pub target: String,
    pub available: bool,
    /// Why it is not available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Present when it is available.
    #[serde(flatten)]
    pub contents: Option<DatabaseContents>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatabaseContents {
    #[serde(flatten)]
    pub counts: DbCounts,
    /// The served model's watermark.
    pub watermark: i64,
    /// Ratings written since it.
    pub since_watermark: i64,
    pub last_run: Option<Run>,
}

/// `rate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rated {
    pub user: String,
    pub movie: u32,
    pub rating: f32,
    pub seq: i64,
}

/// `unrate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unrated {
    pub user: String,
    pub movie: u32,
    pub removed: bool,
}

/// `forget`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forgotten {
    pub user: String,
    /// Ratings deleted (0: none were stored; the erasure is recorded anyway,
    /// since a model may hold them from ratings removed since).
    pub deleted: u64,
    /// The erasure's id in the `erasures` table.
    pub erasure: i64,
    /// RFC 3339.
    pub erased_at: String,
}

/// `import`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Imported {
    /// The name the client gave the bytes, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub bytes: u64,
    pub accepted: usize,
    /// Rows written: a later line for the same user and movie in the same
    /// batch replaces the earlier one and counts once.
    pub written: u64,
    pub rejected_count: usize,
    /// The first rejected lines (all are counted).
    pub rejected: Vec<Rejected>,
    pub seconds: f64,
}

/// A job's state is its run's status: `running`, then how it ended.
pub use crate::store::RunStatus as JobState;
pub use crate::store::Trigger;

/// A retrain job: `retrain`'s result, `job.status`, and in `health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobStatus {
    /// The run's id in `history`, durable across restarts.
    pub id: u64,
    pub trigger: Trigger,
    pub state: JobState,
    pub stage: Option<Stage>,
    pub epoch: usize,
    pub n_epochs: usize,
    pub train_rmse: Option<f64>,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub seconds: f64,
    pub outcome: Option<Outcome>,
    /// Why it was skipped, rejected, failed or cancelled (as in `history`).
    pub reason: Option<String>,
    /// Set while the run's threads get less CPU than they can use (serving
    /// and other work come first): how much they got.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starved: Option<String>,
}

impl JobStatus {
    /// A run recorded by an earlier daemon, or by `recd train`, seen through
    /// `job.status`.
    pub fn of_run(run: &crate::store::Run) -> JobStatus {
        let n_epochs = run.params["n_epochs"].as_u64().unwrap_or(0) as usize;
        JobStatus {
            id: run.id as u64,
            trigger: run.trigger,
            state: run.status,
            stage: None,
            epoch: if run.status == JobState::Published {
                n_epochs
            } else {
                0
            },
            n_epochs,
            train_rmse: None,
            started_at: crate::clock::rfc3339_unix(run.started_at),
            finished_at: run.finished_at.map(crate::clock::rfc3339_unix),
            seconds: run.seconds.unwrap_or(0.0),
            outcome: None,
            reason: run.reason.clone(),
            starved: None,
        }
    }
}

/// Whether a progress line opens or closes a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageState {
    Started,
    Finished,
}

/// One progress line of `retrain`: a stage started or finished, or an
/// epoch of training done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub job: u64,
    pub stage: Stage,
    /// Absent on epoch lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StageState>,
    /// The stage's time when it finished; the training time so far on
    /// epoch lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_epochs: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_rmse: Option<f64>,
}

/// `job.cancel`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobCancelled {
    pub job: u64,
    /// False when the job had already ended.
    pub cancelled: bool,
    pub state: JobState,
}

/// `reload`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reloaded {
    pub version: String,
    pub previous: Option<String>,
    /// Whether a different version serves now.
    pub changed: bool,
}

/// `rollback`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolledBack {
    pub version: String,
    pub previous: Option<String>,
}

/// One version in the models directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelEntry {
    pub version: String,
    /// Whether `current` points at it.
    pub current: bool,
    /// Whether its checksum and structure verify.
    pub valid: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    #[serde(flatten)]
    pub details: Option<ModelDetails>,
}

/// `models`: newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Models {
    pub current: Option<String>,
    pub serving: Option<String>,
    pub versions: Vec<ModelEntry>,
}

/// `history`: recorded runs, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub runs: Vec<crate::store::Run>,
    /// The latest erasures (`forget`), newest first, at most `limit`; never
    /// the ratings erased.
    #[serde(default)]
    pub erasures: Vec<crate::store::Erasure>,
}

/// `schedule`: the retraining schedule, its gates, and how it went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleInfo {
    /// What it is: `off`, a crontab line, `daily at 02:00`, `every 24 hours`.
    pub schedule: String,
    /// The crontab expression evaluated (absent for `off` and intervals).
    pub expression: Option<String>,
    pub timezone: String,
    /// The next run times (RFC 3339, UTC); none while paused.
    pub next: Vec<String>,
    /// The same in the schedule's time zone.
    pub next_local: Vec<String>,
    pub paused: bool,
    pub paused_at: Option<String>,
    /// Runs with fewer new ratings than this are skipped.
    pub min_new_ratings: u64,
    /// Ratings in the database past the served model's watermark.
    pub new_ratings: Option<i64>,
    pub max_rmse_increase: f64,
    pub random_delay_secs: u64,
    pub catch_up: bool,
    pub max_duration_secs: Option<u64>,
    /// The last scheduled run.
    pub last_attempt: Option<crate::store::Run>,
    /// The last run that published, whatever started it.
    pub last_success: Option<crate::store::Run>,
    /// Where run notifications go (URLs redacted).
    pub notifications: serde_json::Value,
}

/// `schedule.pause` and `schedule.resume`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchedulePaused {
    pub paused: bool,
    /// Whether this call changed it.
    pub changed: bool,
}
