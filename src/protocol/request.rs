//! Requests: every method and its params.
//!
//! `Request` is the one list of methods. `Method`, its names on the wire,
//! which methods are admin and which take params all derive from it, so a
//! method cannot be added in one place and forgotten in another.

use serde::{Deserialize, Serialize};

pub use crate::config::Scope;
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
    #[serde(deserialize_with = "finite_number")]
    pub rating: f64,
}

/// A number, with a message that says what else arrived: NaN and infinity
/// have no JSON form, so clients that serialise them send `null`.
fn finite_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    use serde::de::Error;
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Number(n) => n
            .as_f64()
            .ok_or_else(|| D::Error::custom(format!("rating {n} is not a finite number"))),
        serde_json::Value::Null => Err(D::Error::custom(
            "rating is null: a rating must be a finite number (NaN and infinity are not ratings)",
        )),
        other => Err(D::Error::custom(format!(
            "rating must be a number, got {other}"
        ))),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnrateParams {
    pub user: String,
    pub movie: u32,
}

/// Parameters of `forget`: the user whose ratings are erased and who no
/// model answers for any more.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForgetParams {
    pub user: String,
}

/// Parameters of `import`: the size of the ratings file whose bytes follow
/// the request line on the connection. The daemon never opens a file a
/// peer names; the client reads it with its own rights and sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ImportParamsWire")]
pub struct ImportParams {
    pub bytes: u64,
    /// What the bytes are called (a file name), for the log and the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `ImportParams` as read, with the `path` of earlier versions recognised
/// so that its refusal can say what to do instead.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportParamsWire {
    bytes: Option<u64>,
    name: Option<String>,
    path: Option<serde::de::IgnoredAny>,
}

impl TryFrom<ImportParamsWire> for ImportParams {
    type Error = String;

    fn try_from(w: ImportParamsWire) -> Result<ImportParams, String> {
        if w.path.is_some() {
            return Err(
                "the daemon does not read files named by its peers: send the \
                        file's bytes after the request line and their count in 'bytes' \
                        (`recctl import FILE` does)"
                    .into(),
            );
        }
        let bytes = w.bytes.ok_or(
            "missing field `bytes`: the size of the ratings file whose bytes follow the request line",
        )?;
        Ok(ImportParams {
            bytes,
            name: w.name,
        })
    }
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

/// The prefix of the HTTP API's routes ([`Method::route`]).
pub const ROUTE_PREFIX: &str = "/v1/";

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
    Forget(ForgetParams),
    Backup,
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

    /// The user a request names, whose id every method checks alike.
    pub fn user(&self) -> Option<&str> {
        match self {
            Request::Recommend(RecommendParams { user, .. })
            | Request::Predict(PredictParams { user, .. })
            | Request::Rate(RateParams { user, .. })
            | Request::Unrate(UnrateParams { user, .. })
            | Request::Forget(ForgetParams { user }) => Some(user),
            Request::Health
            | Request::Stats
            | Request::Similar(_)
            | Request::Import(_)
            | Request::Backup
            | Request::RetrainCheck(_)
            | Request::Retrain(_)
            | Request::JobStatus(_)
            | Request::JobCancel(_)
            | Request::Reload(_)
            | Request::Models
            | Request::Rollback(_)
            | Request::History(_)
            | Request::Schedule(_)
            | Request::SchedulePause
            | Request::ScheduleResume => None,
        }
    }

    /// How many bytes follow the request line (`import`'s file).
    pub fn body_bytes(&self) -> u64 {
        match self {
            Request::Import(p) => p.bytes,
            _ => 0,
        }
    }
}

impl Method {
    /// The name on the wire.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// The method's route in the HTTP API: `/v1/` and its name, dots as
    /// slashes (`retrain.check` at `/v1/retrain/check`).
    pub fn route(self) -> String {
        format!("{ROUTE_PREFIX}{}", self.name().replace('.', "/"))
    }

    /// Every method name, in declaration order.
    pub fn names() -> Vec<&'static str> {
        <Method as strum::IntoEnumIterator>::iter()
            .map(Method::name)
            .collect()
    }

    /// What a caller must be allowed to call the method: the scopes of
    /// HTTP tokens, and on the socket, `Admin` for root, recd's user and the
    /// admin group only.
    pub fn scope(self) -> Scope {
        match self {
            Method::Retrain
            | Method::Reload
            | Method::Rollback
            | Method::JobCancel
            | Method::SchedulePause
            | Method::ScheduleResume
            | Method::Import
            | Method::Forget
            | Method::Backup => Scope::Admin,
            Method::Rate | Method::Unrate => Scope::Rate,
            Method::Health
            | Method::Stats
            | Method::Recommend
            | Method::Predict
            | Method::Similar
            | Method::RetrainCheck
            | Method::JobStatus
            | Method::Models
            | Method::History
            | Method::Schedule => Scope::Read,
        }
    }

    /// Methods that change what the daemon serves or does, `import`, which
    /// writes many users' ratings at once, `forget`, which erases a user's,
    /// and `backup`, which copies everyone's.
    pub fn is_admin(self) -> bool {
        self.scope() == Scope::Admin
    }

    /// Whether the method takes a params object (possibly empty); the
    /// others take none.
    pub fn takes_params(self) -> bool {
        match self {
            Method::Health
            | Method::Stats
            | Method::Models
            | Method::Backup
            | Method::SchedulePause
            | Method::ScheduleResume => false,
            Method::Recommend
            | Method::Predict
            | Method::Similar
            | Method::Rate
            | Method::Unrate
            | Method::Import
            | Method::Forget
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
