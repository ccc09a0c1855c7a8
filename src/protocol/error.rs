//! Error codes and error replies.
//!
//! `ErrorCode` is the one list of codes: their wire strings, the counters
//! of `stats` and docs/protocol.md all follow it. A code's string never
//! changes once released.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Stable error codes. Their strings are part of the protocol.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::EnumIter,
    strum::EnumCount,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
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
    /// HTTP: no valid bearer token where one is needed.
    Unauthorized,
    /// HTTP: a request body past its limit.
    BodyTooLarge,
    /// `forget` named a user of the base dataset (`ml:ID`), which is not
    /// the application's to erase.
    BaseDatasetUser,
    /// The method does not apply to this daemon's setup (`backup` of a
    /// PostgreSQL database: the message gives the `pg_dump` command).
    Unsupported,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The status an HTTP reply carrying this code has.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::ParseError
            | ErrorCode::InvalidRequest
            | ErrorCode::InvalidParams
            | ErrorCode::InvalidRating
            | ErrorCode::InvalidUser
            | ErrorCode::BaseDatasetUser => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::PermissionDenied => 403,
            ErrorCode::UnknownMethod
            | ErrorCode::UnknownUser
            | ErrorCode::UnknownMovie
            | ErrorCode::UnknownJob
            | ErrorCode::UnknownVersion => 404,
            ErrorCode::Busy => 409,
            ErrorCode::LineTooLong | ErrorCode::BodyTooLarge => 413,
            ErrorCode::ReloadFailed | ErrorCode::TrainFailed | ErrorCode::Internal => 500,
            ErrorCode::Unsupported => 501,
            ErrorCode::NoModel
            | ErrorCode::ShuttingDown
            | ErrorCode::TooManyConnections
            | ErrorCode::DbUnavailable => 503,
        }
    }
}

/// An error reply's contents, as on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
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

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::IntoEnumIterator;

    #[test]
    fn every_code_has_the_same_string_in_serde_and_as_str() {
        for code in ErrorCode::iter() {
            let wire = serde_json::to_value(code).unwrap();
            assert_eq!(wire, Value::String(code.as_str().into()));
            assert_eq!(serde_json::from_value::<ErrorCode>(wire).unwrap(), code);
        }
        assert_eq!(ErrorCode::UnknownUser.as_str(), "unknown_user");
        assert_eq!(ErrorCode::DbUnavailable.as_str(), "db_unavailable");
    }
}
