//! The wire protocol: JSON lines over a Unix socket, one object per line.
//!
//! Request `{"id": 7, "method": "recommend", "params": {"user": "42", "n": 10}}`;
//! reply `{"id": 7, "result": {...}}` or
//! `{"id": 7, "error": {"code": "unknown_user", "message": "..."}}`; a long
//! method may first send `{"id": 7, "progress": {...}}` lines.
//!
//! These types are shared by the daemon, `recctl` and the tests, so the
//! three cannot disagree: requests (`request`), results (`result`), error
//! codes (`error`). Parsing never panics on a peer's bytes: every failure
//! becomes an [`ErrorCode`] with a message naming what was wrong.
//! docs/protocol.md documents every method and code.

mod error;
mod request;
mod result;

pub use error::{Error, ErrorCode};
pub use request::*;
pub use result::*;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const PROTOCOL_VERSION: u32 = 1;

/// A request id: a number or a string, echoed back verbatim.
pub type Id = Value;

/// A request as a client writes it: its id, then its method and params
/// (a [`Request`], or any other serialisable `{method, params}`).
#[derive(Serialize)]
pub struct RequestLine<'a, R: Serialize> {
    pub id: u64,
    #[serde(flatten)]
    pub request: &'a R,
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
    let params = obj.remove("params");
    request_of(&method, params)
        .map(|r| (id.clone(), r))
        .map_err(|e| (id, e))
}

/// The request a method name and its params make, whatever carried them
/// (a line on the socket, an HTTP route and body). `params` may be absent
/// or null for methods whose params are all optional.
pub fn request_of(method: &str, params: Option<Value>) -> Result<Request, Error> {
    let Ok(known) = method.parse::<Method>() else {
        return Err(Error::new(
            ErrorCode::UnknownMethod,
            format!("unknown method '{method}'"),
        )
        .with_data(serde_json::json!({ "methods": Method::names() })));
    };
    let params = match params {
        None | Some(Value::Null) => None,
        Some(p @ Value::Object(_)) => Some(p),
        Some(_) => {
            return Err(Error::new(
                ErrorCode::InvalidParams,
                "'params' must be an object",
            ))
        }
    };
    let mut tagged = serde_json::Map::new();
    tagged.insert("method".into(), Value::String(method.to_owned()));
    // Methods without params take none; the others take an object, maybe empty.
    match (params, known.takes_params()) {
        (Some(p), true) => {
            tagged.insert("params".into(), p);
        }
        (None, true) => {
            tagged.insert("params".into(), Value::Object(Default::default()));
        }
        (Some(Value::Object(p)), false) if !p.is_empty() => {
            return Err(Error::new(
                ErrorCode::InvalidParams,
                format!("'{method}' takes no params"),
            ));
        }
        _ => {}
    }
    serde_json::from_value::<Request>(Value::Object(tagged))
        .map_err(|e| Error::new(ErrorCode::InvalidParams, format!("{method}: {e}")))
}

/// One line from the daemon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub id: Id,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Error>,
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
            error: Some(e),
            progress: None,
        }
    }

    pub fn progress(id: Id, progress: &Progress) -> Reply {
        Reply {
            id,
            result: None,
            error: None,
            progress: serde_json::to_value(progress).ok(),
        }
    }

    /// The reply as one line, newline included.
    pub fn to_line(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec(self).unwrap_or_else(|_| b"{\"id\":null,\"error\":{\"code\":\"internal\",\"message\":\"unserialisable reply\"}}".to_vec());
        out.push(b'\n');
        out
    }
}

/// A progress line without an id, as HTTP streams them:
/// `{"progress": {...}}` and a newline.
pub fn progress_line(progress: &Progress) -> Vec<u8> {
    #[derive(Serialize)]
    struct Line<'a> {
        progress: &'a Progress,
    }
    let mut out = serde_json::to_vec(&Line { progress }).unwrap_or_default();
    out.push(b'\n');
    out
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
                r#"{"id":1,"method":"retrain","params":{"epochs":3,"algorithm":"bayes_svdpp","burn_in":1,"force":true}}"#,
                Request::Retrain(RetrainParams {
                    params: crate::numeric::ParamOverrides {
                        epochs: Some(3),
                        algorithm: Some(crate::numeric::Algorithm::BayesSvdpp),
                        burn_in: Some(1),
                        ..Default::default()
                    },
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
            assert_eq!(
                got.method().name(),
                serde_json::from_str::<Value>(line).unwrap()["method"]
            );
        }
    }

    #[test]
    fn every_method_name_is_known_to_the_parser() {
        use strum::IntoEnumIterator;
        for m in Method::iter() {
            let line = format!(r#"{{"id":1,"method":"{}"}}"#, m.name());
            if let Err((_, e)) = parse_request(line.as_bytes()) {
                assert_eq!(e.code, ErrorCode::InvalidParams, "{line}: {e}");
            }
            assert_eq!(m.name().parse::<Method>().unwrap(), m);
        }
        assert_eq!(Method::names().len(), <Method as strum::EnumCount>::COUNT);
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
        assert_eq!(
            code(r#"{"id":1,"method":"retrain","params":{"epochs":3,"epoch":4}}"#),
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
