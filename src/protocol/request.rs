//! Requests: every method and its params.
//!
//! `Request` is the one list of methods. `Method`, its names on the wire,
//! which methods are admin and which take params all derive from it, so a
//! method cannot be added in one place and forgotten in another.

use serde::{Deserialize, Serialize};

use crate::numeric::ParamOverrides;

fn default_n() -> usize {
    10
}

/// The most items one `recommend` or `similar` returns.
pub const MAX_N: usize = 1000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecommendParams {
    pub user: String,
    #[serde(default = "default_n")]
    pub n: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictParams {
    pub user: String,
    pub movie: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimilarParams {
    pub movie: u32,
    #[serde(default = "default_n")]
    pub n: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateParams {
    pub user: String,
    pub movie: u32,
    pub rating: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnrateParams {
    pub user: String,
    pub movie: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportParams {
    /// An absolute path the daemon can read.
    pub path: String,
}

/// Parameters of `retrain`: the training parameters as `recd train`
/// takes them, and the publishing flags.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RetrainParamsWire")]
pub struct RetrainParams {
    #[serde(flatten)]
    pub params: ParamOverrides,
    #[serde(default)]
    pub force: bool,
    #[serde(default)]
    pub no_backup: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ratings: Option<u64>,
}

/// `RetrainParams` as read, with the keys none of its fields take:
/// `flatten` and `deny_unknown_fields` do not go together, so the unknown
/// keys are collected here and refused in the conversion.
#[derive(Deserialize)]
struct RetrainParamsWire {
    #[serde(flatten)]
    params: ParamOverrides,
    #[serde(default)]
    force: bool,
    #[serde(default)]
    no_backup: bool,
    #[serde(default)]
    min_ratings: Option<u64>,
    #[serde(flatten)]
    unknown: std::collections::BTreeMap<String, serde_json::Value>,
}

impl TryFrom<RetrainParamsWire> for RetrainParams {
    type Error = String;

    fn try_from(w: RetrainParamsWire) -> Result<RetrainParams, String> {
        if let Some(key) = w.unknown.keys().next() {
            return Err(format!("unknown field `{key}`"));
        }
        Ok(RetrainParams {
            params: w.params,
            force: w.force,
            no_backup: w.no_backup,
            min_ratings: w.min_ratings,
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrainCheckParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ratings: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobParams {
    /// The job; the running or latest one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReloadParams {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackParams {
    pub version: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    /// At most this many runs, newest first (default 20, at most 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Only runs that ended so (or are `running`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<crate::store::RunStatus>,
    /// Only runs started so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<crate::store::Trigger>,
}

impl HistoryParams {
    pub const DEFAULT_LIMIT: u32 = 20;
    pub const MAX_LIMIT: u32 = 1000;
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleParams {
    /// How many of the next run times to list (default 5, at most 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<usize>,
}

impl ScheduleParams {
    pub const DEFAULT_NEXT: usize = 5;
    pub const MAX_NEXT: usize = 100;
}

/// Every method, with its params. One enum, one exhaustive match in the
/// server: adding a method without a handler does not compile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, strum::EnumDiscriminants)]
#[serde(tag = "method", content = "params", rename_all = "snake_case")]
#[strum_discriminants(
    name(Method),
    derive(
        Hash,
        strum::EnumIter,
        strum::EnumCount,
        strum::IntoStaticStr,
        strum::EnumString
    ),
    strum(serialize_all = "snake_case")
)]
pub enum Request {
    Health,
    Stats,
    Recommend(RecommendParams),
    Predict(PredictParams),
    Similar(SimilarParams),
    Rate(RateParams),
    Unrate(UnrateParams),
    Import(ImportParams),
    #[serde(rename = "retrain.check")]
    #[strum_discriminants(strum(serialize = "retrain.check"))]
    RetrainCheck(RetrainCheckParams),
    Retrain(RetrainParams),
    #[serde(rename = "job.status")]
    #[strum_discriminants(strum(serialize = "job.status"))]
    JobStatus(JobParams),
    #[serde(rename = "job.cancel")]
    #[strum_discriminants(strum(serialize = "job.cancel"))]
    JobCancel(JobParams),
    Reload(ReloadParams),
    Models,
    Rollback(RollbackParams),
    History(HistoryParams),
    Schedule(ScheduleParams),
    #[serde(rename = "schedule.pause")]
    #[strum_discriminants(strum(serialize = "schedule.pause"))]
    SchedulePause,
    #[serde(rename = "schedule.resume")]
    #[strum_discriminants(strum(serialize = "schedule.resume"))]
    ScheduleResume,
}

impl Request {
    pub fn method(&self) -> Method {
        self.into()
    }
}

impl Method {
    /// The name on the wire.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// Every method name, in declaration order.
    pub fn names() -> Vec<&'static str> {
        <Method as strum::IntoEnumIterator>::iter()
            .map(Method::name)
            .collect()
    }

    /// Methods that change what the daemon serves or does, and `import`,
    /// which reads a file with the daemon's rights.
    pub fn is_admin(self) -> bool {
        match self {
            Method::Retrain
            | Method::Reload
            | Method::Rollback
            | Method::JobCancel
            | Method::SchedulePause
            | Method::ScheduleResume
            | Method::Import => true,
            Method::Health
            | Method::Stats
            | Method::Recommend
            | Method::Predict
            | Method::Similar
            | Method::Rate
            | Method::Unrate
            | Method::RetrainCheck
            | Method::JobStatus
            | Method::Models
            | Method::History
            | Method::Schedule => false,
        }
    }

    /// Whether the method takes a params object (possibly empty); the
    /// others take none.
    pub fn takes_params(self) -> bool {
        match self {
            Method::Health
            | Method::Stats
            | Method::Models
            | Method::SchedulePause
            | Method::ScheduleResume => false,
            Method::Recommend
            | Method::Predict
            | Method::Similar
            | Method::Rate
            | Method::Unrate
            | Method::Import
            | Method::RetrainCheck
            | Method::Retrain
            | Method::JobStatus
            | Method::JobCancel
            | Method::Reload
            | Method::Rollback
            | Method::History
            | Method::Schedule => true,
        }
    }
}
