//! The wire protocol: JSON lines over a Unix socket, one object per line.
//!
//! Request `{"id": 7, "method": "recommend", "params": {"user": "42", "n": 10}}`;
//! reply `{"id": 7, "result": {...}}` or
//! `{"id": 7, "error": {"code": "unknown_user", "message": "..."}}`; a long
//! method may first send `{"id": 7, "progress": {...}}` lines.
//!
//! These types are shared by the daemon, `recctl` and the tests, so the
//! three cannot disagree. Parsing never panics on a peer's bytes: every
//! failure becomes an [`ErrorCode`] with a message naming what was wrong.
//! docs/protocol.md documents every method and code.

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const PROTOCOL_VERSION: u32 = 1;

/// Stable error codes. Their strings are part of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The line is not valid JSON.
    ParseError,
    /// Valid JSON but not a request object (no method, a bad id).
    InvalidRequest,
    /// The line exceeds the configured length; the connection closes.
    LineTooLong,
    UnknownMethod,
    /// Params missing, of the wrong type or out of range.
    InvalidParams,
    UnknownUser,
    UnknownMovie,
    /// No model has been trained yet.
    NoModel,
    /// A retrain is already running (its job id is in the message and data).
    Busy,
    UnknownJob,
    UnknownVersion,
    /// Reading or verifying a model from disk failed; the old one still serves.
    ReloadFailed,
    /// A retrain step failed; the served model is unchanged.
    TrainFailed,
    PermissionDenied,
    /// The daemon is shutting down.
    ShuttingDown,
    /// The daemon serves its maximum of connections; try again later.
    TooManyConnections,
    /// A rating outside the scale, or off its step.
    InvalidRating,
    /// A user id that is empty, too long or holds control characters.
    InvalidUser,
    /// The ratings database cannot be reached; nothing was written.
    DbUnavailable,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ParseError => "parse_error",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::LineTooLong => "line_too_long",
            ErrorCode::UnknownMethod => "unknown_method",
            ErrorCode::InvalidParams => "invalid_params",
            ErrorCode::UnknownUser => "unknown_user",
            ErrorCode::UnknownMovie => "unknown_movie",
            ErrorCode::NoModel => "no_model",
            ErrorCode::Busy => "busy",
            ErrorCode::UnknownJob => "unknown_job",
            ErrorCode::UnknownVersion => "unknown_version",
            ErrorCode::ReloadFailed => "reload_failed",
            ErrorCode::TrainFailed => "train_failed",
            ErrorCode::PermissionDenied => "permission_denied",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::TooManyConnections => "too_many_connections",
            ErrorCode::InvalidRating => "invalid_rating",
            ErrorCode::InvalidUser => "invalid_user",
            ErrorCode::DbUnavailable => "db_unavailable",
            ErrorCode::Internal => "internal",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// An error reply's contents, before it is given an id.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
    pub data: Option<Value>,
}

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Error {
        Error {
            code,
            message: message.into(),
            data: None,
        }
    }

    pub fn with_data(mut self, data: Value) -> Error {
        self.data = Some(data);
        self
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

/// A request id: a number or a string, echoed back verbatim.
pub type Id = Value;

fn default_n() -> usize {
    10
}

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

/// Parameters of `retrain`, as the flags of `recd train`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrainParams {
    pub factors: Option<usize>,
    pub epochs: Option<usize>,
    pub lr: Option<f32>,
    pub reg: Option<f32>,
    pub init_std_dev: Option<f32>,
    pub threads: Option<usize>,
    pub seed: Option<u64>,
    #[serde(default)]
    pub force: bool,
    #[serde(default)]
    pub no_backup: bool,
    pub min_ratings: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrainCheckParams {
    pub min_ratings: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobParams {
    /// The job; the running or latest one when absent.
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

/// Every method, with its params. One enum, one exhaustive match in the
/// server: adding a method without a handler does not compile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", content = "params", rename_all = "snake_case")]
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
    RetrainCheck(RetrainCheckParams),
    Retrain(RetrainParams),
    #[serde(rename = "job.status")]
    JobStatus(JobParams),
    #[serde(rename = "job.cancel")]
    JobCancel(JobParams),
    Reload(ReloadParams),
    Models,
    Rollback(RollbackParams),
}

/// Method names as they appear on the wire.
pub const METHODS: [&str; 15] = [
    "health",
    "stats",
    "recommend",
    "predict",
    "similar",
    "rate",
    "unrate",
    "import",
    "retrain.check",
    "retrain",
    "job.status",
    "job.cancel",
    "reload",
    "models",
    "rollback",
];

impl Request {
    pub fn method(&self) -> &'static str {
        match self {
            Request::Health => "health",
            Request::Stats => "stats",
            Request::Recommend(_) => "recommend",
            Request::Predict(_) => "predict",
            Request::Similar(_) => "similar",
            Request::Rate(_) => "rate",
            Request::Unrate(_) => "unrate",
            Request::Import(_) => "import",
            Request::RetrainCheck(_) => "retrain.check",
            Request::Retrain(_) => "retrain",
            Request::JobStatus(_) => "job.status",
            Request::JobCancel(_) => "job.cancel",
            Request::Reload(_) => "reload",
            Request::Models => "models",
            Request::Rollback(_) => "rollback",
        }
    }

    /// Methods that change what the daemon serves or does, and `import`,
    /// which reads a file with the daemon's rights.
    pub fn is_admin(&self) -> bool {
        matches!(
            self,
            Request::Retrain(_)
                | Request::Reload(_)
                | Request::Rollback(_)
                | Request::JobCancel(_)
                | Request::Import(_)
        )
    }
}

/// Parse one request line. On failure the id is returned when it could be
/// read, so the error reply can carry it.
pub fn parse_request(line: &[u8]) -> Result<(Id, Request), (Id, Error)> {
    let value: Value = serde_json::from_slice(line).map_err(|e| {
        (
            Value::Null,
            Error::new(ErrorCode::ParseError, format!("invalid JSON: {e}")),
        )
    })?;
    let Value::Object(mut obj) = value else {
        return Err((
            Value::Null,
            Error::new(ErrorCode::InvalidRequest, "a request must be a JSON object"),
        ));
    };
    let id = obj.remove("id").unwrap_or(Value::Null);
    if !(id.is_number() || id.is_string() || id.is_null()) {
        return Err((
            Value::Null,
            Error::new(
                ErrorCode::InvalidRequest,
                "'id' must be a number or a string",
            ),
        ));
    }
    let invalid = |msg: String| (id.clone(), Error::new(ErrorCode::InvalidRequest, msg));
    let method = match obj.remove("method") {
        Some(Value::String(m)) => m,
        Some(_) => return Err(invalid("'method' must be a string".into())),
        None => return Err(invalid("missing 'method'".into())),
    };
    if let Some(key) = obj.keys().find(|k| *k != "params") {
        return Err(invalid(format!(
            "unknown field '{key}' (a request has id, method and params)"
        )));
    }
    if !METHODS.contains(&method.as_str()) {
        return Err((
            id.clone(),
            Error::new(
                ErrorCode::UnknownMethod,
                format!("unknown method '{method}'"),
            )
            .with_data(serde_json::json!({ "methods": METHODS })),
        ));
    }
    let params = match obj.remove("params") {
        None | Some(Value::Null) => None,
        Some(p @ Value::Object(_)) => Some(p),
        Some(_) => {
            return Err((
                id,
                Error::new(ErrorCode::InvalidParams, "'params' must be an object"),
            ))
        }
    };
    let mut tagged = serde_json::Map::new();
    tagged.insert("method".into(), Value::String(method.clone()));
    // Methods without params take none; the others take an object, maybe empty.
    let takes_params = !matches!(method.as_str(), "health" | "stats" | "models");
    match (params, takes_params) {
        (Some(p), true) => {
            tagged.insert("params".into(), p);
        }
        (None, true) => {
            tagged.insert("params".into(), Value::Object(Default::default()));
        }
        (Some(Value::Object(p)), false) if !p.is_empty() => {
            return Err((
                id,
                Error::new(
                    ErrorCode::InvalidParams,
                    format!("'{method}' takes no params"),
                ),
            ));
        }
        _ => {}
    }
    serde_json::from_value::<Request>(Value::Object(tagged))
        .map(|r| (id.clone(), r))
        .map_err(|e| {
            (
                id.clone(),
                Error::new(ErrorCode::InvalidParams, format!("{method}: {e}")),
            )
        })
}

/// One line from the daemon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub id: Id,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<Value>,
}

impl Reply {
    pub fn result(id: Id, result: Value) -> Reply {
        Reply {
            id,
            result: Some(result),
            error: None,
            progress: None,
        }
    }

    pub fn error(id: Id, e: Error) -> Reply {
        Reply {
            id,
            result: None,
            error: Some(ErrorBody {
                code: e.code,
                message: e.message,
                data: e.data,
            }),
            progress: None,
        }
    }

    pub fn progress(id: Id, progress: Value) -> Reply {
        Reply {
            id,
            result: None,
            error: None,
            progress: Some(progress),
        }
    }

    /// The reply as one line, newline included.
    pub fn to_line(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec(self).unwrap_or_else(|_| b"{\"id\":null,\"error\":{\"code\":\"internal\",\"message\":\"unserialisable reply\"}}".to_vec());
        out.push(b'\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(line: &str) -> ErrorCode {
        parse_request(line.as_bytes()).unwrap_err().1.code
    }

    #[test]
    fn parses_every_method() {
        let cases = [
            (r#"{"id":1,"method":"health"}"#, Request::Health),
            (r#"{"id":1,"method":"stats","params":{}}"#, Request::Stats),
            (
                r#"{"id":1,"method":"recommend","params":{"user":"42"}}"#,
                Request::Recommend(RecommendParams {
                    user: "42".into(),
                    n: 10,
                }),
            ),
            (
                r#"{"id":1,"method":"recommend","params":{"user":"42","n":3}}"#,
                Request::Recommend(RecommendParams {
                    user: "42".into(),
                    n: 3,
                }),
            ),
            (
                r#"{"id":1,"method":"predict","params":{"user":"1","movie":2}}"#,
                Request::Predict(PredictParams {
                    user: "1".into(),
                    movie: 2,
                }),
            ),
            (
                r#"{"id":1,"method":"similar","params":{"movie":2}}"#,
                Request::Similar(SimilarParams { movie: 2, n: 10 }),
            ),
            (
                r#"{"id":1,"method":"retrain.check"}"#,
                Request::RetrainCheck(RetrainCheckParams::default()),
            ),
            (
                r#"{"id":1,"method":"retrain","params":{"epochs":3,"force":true}}"#,
                Request::Retrain(RetrainParams {
                    epochs: Some(3),
                    force: true,
                    ..Default::default()
                }),
            ),
            (
                r#"{"id":1,"method":"job.status","params":{"job":4}}"#,
                Request::JobStatus(JobParams { job: Some(4) }),
            ),
            (
                r#"{"id":1,"method":"job.cancel"}"#,
                Request::JobCancel(JobParams::default()),
            ),
            (
                r#"{"id":1,"method":"reload"}"#,
                Request::Reload(ReloadParams {}),
            ),
            (r#"{"id":1,"method":"models"}"#, Request::Models),
            (
                r#"{"id":1,"method":"rollback","params":{"version":"v1"}}"#,
                Request::Rollback(RollbackParams {
                    version: "v1".into(),
                }),
            ),
        ];
        for (line, want) in cases {
            let (id, got) =
                parse_request(line.as_bytes()).unwrap_or_else(|e| panic!("{line}: {e:?}"));
            assert_eq!(got, want, "{line}");
            assert_eq!(id, serde_json::json!(1));
            assert!(METHODS.contains(&got.method()));
        }
    }

    #[test]
    fn string_ids_are_echoed() {
        let (id, _) = parse_request(br#"{"id":"abc","method":"health"}"#).unwrap();
        assert_eq!(id, serde_json::json!("abc"));
    }

    #[test]
    fn each_fault_has_its_code() {
        assert_eq!(code("{not json"), ErrorCode::ParseError);
        assert_eq!(code("\u{0}\u{1}"), ErrorCode::ParseError);
        assert_eq!(code("[1,2]"), ErrorCode::InvalidRequest);
        assert_eq!(code(r#"{"id":1}"#), ErrorCode::InvalidRequest);
        assert_eq!(
            code(r#"{"id":{},"method":"health"}"#),
            ErrorCode::InvalidRequest
        );
        assert_eq!(code(r#"{"id":1,"method":7}"#), ErrorCode::InvalidRequest);
        assert_eq!(
            code(r#"{"id":1,"method":"health","extra":1}"#),
            ErrorCode::InvalidRequest
        );
        assert_eq!(code(r#"{"id":1,"method":"fly"}"#), ErrorCode::UnknownMethod);
        assert_eq!(
            code(r#"{"id":1,"method":"recommend"}"#),
            ErrorCode::InvalidParams
        );
        assert_eq!(
            code(r#"{"id":1,"method":"recommend","params":{"user":42}}"#),
            ErrorCode::InvalidParams
        );
        assert_eq!(
            code(r#"{"id":1,"method":"recommend","params":{"user":"1","n":-1}}"#),
            ErrorCode::InvalidParams
        );
        assert_eq!(
            code(r#"{"id":1,"method":"recommend","params":{"user":"1","x":1}}"#),
            ErrorCode::InvalidParams
        );
        assert_eq!(
            code(r#"{"id":1,"method":"recommend","params":[1]}"#),
            ErrorCode::InvalidParams
        );
        assert_eq!(
            code(r#"{"id":1,"method":"health","params":{"a":1}}"#),
            ErrorCode::InvalidParams
        );
        assert_eq!(
            code(r#"{"id":1,"method":"rollback","params":{}}"#),
            ErrorCode::InvalidParams
        );
    }

    #[test]
    fn the_id_survives_a_bad_request() {
        let (id, e) = parse_request(br#"{"id":9,"method":"fly"}"#).unwrap_err();
        assert_eq!(id, serde_json::json!(9));
        assert_eq!(e.message, "unknown method 'fly'");
    }

    #[test]
    fn replies_are_one_line() {
        let line =
            Reply::error(serde_json::json!(3), Error::new(ErrorCode::Busy, "a\nb")).to_line();
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        let back: Reply = serde_json::from_slice(&line).unwrap();
        assert_eq!(back.error.unwrap().code, ErrorCode::Busy);
        let codes = serde_json::to_string(&ErrorCode::UnknownUser).unwrap();
        assert_eq!(codes, "\"unknown_user\"");
        assert_eq!(ErrorCode::UnknownUser.as_str(), "unknown_user");
    }
}
