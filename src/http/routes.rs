//! Where a request goes: the `/v1` routes, made from the one method list,
//! and the paths of the system recd replaces.
//!
//! Method `m` is at `/v1/` + `m` with its dots as slashes (`retrain.check`
//! at `/v1/retrain/check`). Every method answers POST with its params as a
//! JSON object; the methods of scope `read` also answer GET (and HEAD) with
//! their params in the query string. `DELETE /v1/users/{id}` is `forget`.

use hyper::Method as Verb;
use serde::de::DeserializeOwned;

use crate::protocol::{Error, ErrorCode, Method, Request, Scope};

use super::legacy::Legacy;

use crate::protocol::ROUTE_PREFIX as V1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// A protocol method, its params in the query string (GET) or the body.
    Call {
        method: Method,
        query: bool,
    },
    /// `DELETE /v1/users/{id}`: `forget` that user (or the id as sent,
    /// when its escapes do not decode to UTF-8).
    Forget(Result<String, String>),
    Legacy(Legacy),
    NotFound(String),
    /// The path exists; the verbs it answers are listed.
    NotAllowed(&'static str),
}

pub fn route(verb: &Verb, path: &str) -> Route {
    if let Some(legacy) = Legacy::at(path) {
        return if *verb == legacy.verb() || (*verb == Verb::HEAD && legacy.verb() == Verb::GET) {
            Route::Legacy(legacy)
        } else {
            Route::NotAllowed(legacy.allow())
        };
    }
    let Some(rest) = path.strip_prefix(V1) else {
        return Route::NotFound(format!(
            "no route {path}: the API is under {V1} (docs/http.md)"
        ));
    };
    if let Some(user) = rest.strip_prefix("users/") {
        if user.is_empty() || user.contains('/') {
            return Route::NotFound(format!("no route {path}: DELETE {V1}users/ID"));
        }
        return match *verb {
            Verb::DELETE => Route::Forget(
                percent_encoding::percent_decode_str(user)
                    .decode_utf8()
                    .map(|u| u.into_owned())
                    .map_err(|_| user.to_owned()),
            ),
            _ => Route::NotAllowed("DELETE"),
        };
    }
    let name = rest.replace('/', ".");
    let Ok(method) = name.parse::<Method>() else {
        return Route::NotFound(format!(
            "no route {path}: no method '{name}' (the methods: {})",
            Method::names().join(", ")
        ));
    };
    // A method's route is its name with slashes, not dots.
    if rest.contains('.') {
        return Route::NotFound(format!("no route {path}: try {}", method.route()));
    }
    let readable = method.scope() == Scope::Read;
    match *verb {
        Verb::POST => Route::Call {
            method,
            query: false,
        },
        Verb::GET | Verb::HEAD if readable => Route::Call {
            method,
            query: true,
        },
        _ if readable => Route::NotAllowed("GET, HEAD, POST"),
        _ => Route::NotAllowed("POST"),
    }
}

/// The request a GET's query string makes. Only methods of scope `read`
/// have a GET route; their params are read from the query as typed, so
/// `n=10` is a number and `user=42` a string.
pub fn from_query(method: Method, query: &str) -> Result<Request, Error> {
    fn params<T: DeserializeOwned>(method: Method, query: &str) -> Result<T, Error> {
        serde_urlencoded::from_str(query).map_err(|e| {
            Error::new(
                ErrorCode::InvalidParams,
                format!("{}: query string: {e}", method.name()),
            )
        })
    }
    let none = |r: Request| {
        if query.is_empty() {
            Ok(r)
        } else {
            Err(Error::new(
                ErrorCode::InvalidParams,
                format!("'{}' takes no params", method.name()),
            ))
        }
    };
    match method {
        Method::Health => none(Request::Health),
        Method::Stats => none(Request::Stats),
        Method::Models => none(Request::Models),
        Method::Recommend => Ok(Request::Recommend(params(method, query)?)),
        Method::Predict => Ok(Request::Predict(params(method, query)?)),
        Method::Similar => Ok(Request::Similar(params(method, query)?)),
        Method::RetrainCheck => Ok(Request::RetrainCheck(params(method, query)?)),
        Method::JobStatus => Ok(Request::JobStatus(params(method, query)?)),
        Method::History => Ok(Request::History(params(method, query)?)),
        Method::Schedule => Ok(Request::Schedule(params(method, query)?)),
        Method::Rate
        | Method::Unrate
        | Method::Import
        | Method::Forget
        | Method::Backup
        | Method::Retrain
        | Method::JobCancel
        | Method::Reload
        | Method::Rollback
        | Method::SchedulePause
        | Method::ScheduleResume => Err(Error::new(
            ErrorCode::InvalidRequest,
            format!("'{}' is called with POST", method.name()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::IntoEnumIterator;

    #[test]
    fn every_method_has_its_route_and_reads_have_get() {
        for m in Method::iter() {
            let path = m.route();
            assert_eq!(
                route(&Verb::POST, &path),
                Route::Call {
                    method: m,
                    query: false
                },
                "{path}"
            );
            let get = route(&Verb::GET, &path);
            if m.scope() == Scope::Read {
                assert_eq!(
                    get,
                    Route::Call {
                        method: m,
                        query: true
                    },
                    "{path}"
                );
                // Every GET route reads its params from a query.
                if let Err(e) = from_query(m, "") {
                    assert_eq!(e.code, ErrorCode::InvalidParams, "{path}: {e}");
                }
            } else {
                assert_eq!(get, Route::NotAllowed("POST"), "{path}");
                assert!(from_query(m, "").is_err());
            }
        }
    }

    #[test]
    fn queries_are_typed_by_the_params() {
        let r = from_query(Method::Recommend, "user=42&n=3").unwrap();
        assert_eq!(
            r,
            Request::Recommend(crate::protocol::RecommendParams {
                user: "42".into(),
                n: 3
            })
        );
        let e = from_query(Method::Recommend, "user=42&n=many").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidParams);
        let e = from_query(Method::Recommend, "user=1&x=1").unwrap_err();
        assert!(e.message.contains("x"), "{e}");
        assert!(from_query(Method::Health, "a=1").is_err());
    }

    #[test]
    fn other_paths_are_not_found() {
        for p in [
            "/",
            "/v1",
            "/v1/",
            "/v1/fly",
            "/v1/retrain.check",
            "/v2/health",
            "/v1/users/",
        ] {
            assert!(matches!(route(&Verb::POST, p), Route::NotFound(_)), "{p}");
        }
        assert_eq!(
            route(&Verb::DELETE, "/v1/users/app%3A7"),
            Route::Forget(Ok("app:7".into()))
        );
        assert_eq!(
            route(&Verb::GET, "/v1/users/x"),
            Route::NotAllowed("DELETE")
        );
    }
}
