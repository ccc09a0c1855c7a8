//! The endpoints of the system recd replaces, at their paths, with their
//! bodies and response fields, so that its documented `curl` commands and
//! its clients work unchanged. Each is a translation: it calls protocol
//! methods as the caller and reshapes their results; errors come as that
//! system's did, `{"detail": "..."}`.

use hyper::body::Incoming;
use hyper::{Method as Verb, Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use super::api::call;
use super::body::{self, Body};
use crate::protocol::{self, Error, ErrorCode};
use crate::server::auth::Caller;
use crate::server::Server;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Legacy {
    /// `GET /health`
    Health,
    /// `GET /database/stats`
    DatabaseStats,
    /// `POST /recommendations/from-db` `{"user_id": ..., "n": 5}`
    FromDb,
    /// `POST /admin/retrain` `{"n_factors", "n_epochs", "min_new_ratings"}`
    Retrain,
    /// `GET /admin/retrain/check?min_new_ratings=100`
    RetrainCheck,
}

impl Legacy {
    pub fn at(path: &str) -> Option<Legacy> {
        Some(match path {
            "/health" => Legacy::Health,
            "/database/stats" => Legacy::DatabaseStats,
            "/recommendations/from-db" => Legacy::FromDb,
            "/admin/retrain" => Legacy::Retrain,
            "/admin/retrain/check" => Legacy::RetrainCheck,
            _ => return None,
        })
    }

    pub fn verb(self) -> Verb {
        match self {
            Legacy::Health | Legacy::DatabaseStats | Legacy::RetrainCheck => Verb::GET,
            Legacy::FromDb | Legacy::Retrain => Verb::POST,
        }
    }

    pub fn allow(self) -> &'static str {
        match self.verb() {
            Verb::GET => "GET, HEAD",
            _ => "POST",
        }
    }
}

/// `{"detail": ...}` with the error's status (422 for a body the old
/// system's validation would have refused), `WWW-Authenticate` on a 401.
pub fn detail(e: &Error) -> Response<Body> {
    let status = match e.code {
        ErrorCode::InvalidParams | ErrorCode::ParseError => StatusCode::UNPROCESSABLE_ENTITY,
        code => {
            StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        }
    };
    let mut r = body::json(status, &json!({ "detail": e.message }));
    if e.code == ErrorCode::Unauthorized {
        r.headers_mut().insert(
            hyper::header::WWW_AUTHENTICATE,
            hyper::header::HeaderValue::from_static("Bearer realm=\"recd\""),
        );
    }
    r
}

/// Now, as the old system wrote its timestamps (ISO 8601), in UTC.
fn timestamp() -> String {
    jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .strftime("%Y-%m-%dT%H:%M:%S%.6f+00:00")
        .to_string()
}

async fn method(
    server: &Server,
    caller: &Caller,
    name: &str,
    params: Value,
) -> Result<Value, Error> {
    let params = (!params.is_null()).then_some(params);
    let req = protocol::request_of(name, params)?;
    let raw = call(server, caller.clone(), req, &mut tokio::io::sink(), None).await?;
    serde_json::from_str(raw.get())
        .map_err(|e| Error::new(ErrorCode::Internal, format!("reading a result: {e}")))
}

fn round3(x: &Value) -> Value {
    x.as_f64()
        .map_or(Value::Null, |x| json!((x * 1000.0).round() / 1000.0))
}

pub async fn respond(
    which: Legacy,
    server: &Server,
    caller: Caller,
    req: Request<Incoming>,
) -> Response<Body> {
    let result = match which {
        Legacy::Health => health(server, &caller).await,
        Legacy::DatabaseStats => database_stats(server, &caller).await,
        Legacy::RetrainCheck => retrain_check(server, &caller, req.uri().query()).await,
        Legacy::FromDb | Legacy::Retrain => {
            let read = body::read_json(req, &server.state.config.daemon).await;
            match (read, which) {
                (Err(e), _) => Err(e),
                (Ok(b), Legacy::FromDb) => from_db(server, &caller, b).await,
                (Ok(b), _) => retrain(server, &caller, b).await,
            }
        }
    };
    match result {
        Ok(v) => body::json(StatusCode::OK, &v),
        Err(e) => detail(&e),
    }
}

async fn health(server: &Server, caller: &Caller) -> Result<Value, Error> {
    let health = method(server, caller, "health", Value::Null).await?;
    let stats = method(server, caller, "stats", Value::Null).await?;
    let model = &health["model"];
    let Some(served) = server.state.served() else {
        return Err(Error::new(ErrorCode::NoModel, "Model not loaded"));
    };
    let db = &stats["database"];
    Ok(json!({
        "status": "healthy",
        "model_loaded": true,
        "database_connected": db["available"],
        "total_ratings_in_db": db["ratings"],
        "n_users": model["users"],
        "n_items": model["items"],
        "global_mean": round3(&json!(served.model.global_mean())),
        "timestamp": timestamp(),
        "recd": { "status": health["status"], "model": model["version"] },
    }))
}

/// The database's counts, or the error the old system gave (400).
async fn counts(server: &Server, caller: &Caller) -> Result<Value, Error> {
    let stats = method(server, caller, "stats", Value::Null).await?;
    let db = stats["database"].clone();
    if db["available"] != json!(true) {
        let why = db["error"]
            .as_str()
            .unwrap_or("the ratings database is unavailable");
        return Err(Error::new(
            ErrorCode::InvalidRequest,
            format!("Error: {why}"),
        ));
    }
    Ok(db)
}

async fn database_stats(server: &Server, caller: &Caller) -> Result<Value, Error> {
    let db = counts(server, caller).await?;
    Ok(json!({
        "total_ratings": db["ratings"],
        "total_users": db["users"],
        "total_movies_rated": db["movies"],
        "timestamp": timestamp(),
    }))
}

#[derive(Deserialize)]
struct FromDb {
    user_id: String,
    #[serde(default = "ten")]
    n: u32,
}

fn ten() -> u32 {
    10
}

fn body_of<T: serde::de::DeserializeOwned>(body: Option<Value>) -> Result<T, Error> {
    serde_json::from_value(body.unwrap_or_else(|| json!({})))
        .map_err(|e| Error::new(ErrorCode::InvalidParams, e.to_string()))
}

fn in_range(name: &str, v: u64, min: u64, max: u64) -> Result<(), Error> {
    if (min..=max).contains(&v) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorCode::InvalidParams,
            format!("{name} must be between {min} and {max}, got {v}"),
        ))
    }
}

async fn from_db(server: &Server, caller: &Caller, body: Option<Value>) -> Result<Value, Error> {
    let q: FromDb = body_of(body)?;
    in_range("n", q.n.into(), 1, 50)?;
    let r = method(
        server,
        caller,
        "recommend",
        json!({ "user": q.user_id, "n": q.n }),
    )
    .await
    .map_err(|mut e| {
        if e.code != ErrorCode::NoModel {
            e.message = format!("Error: {}", e.message);
        }
        e
    })?;
    let items = r["items"].as_array().cloned().unwrap_or_default();
    let recommendations: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(i, it)| {
            json!({
                "movie_id": it["movie"].to_string(),
                "predicted_rating": round3(&it["score"]),
                "title": it["title"],
                "rank": i + 1,
            })
        })
        .collect();
    Ok(json!({
        "user_id": q.user_id,
        "count": recommendations.len(),
        "recommendations": recommendations,
        "timestamp": timestamp(),
        "strategy": r["strategy"],
    }))
}

#[derive(Deserialize)]
struct CheckQuery {
    min_new_ratings: Option<u64>,
}

async fn retrain_check(
    server: &Server,
    caller: &Caller,
    query: Option<&str>,
) -> Result<Value, Error> {
    let q: CheckQuery = serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|e| Error::new(ErrorCode::InvalidParams, format!("query string: {e}")))?;
    let min = q
        .min_new_ratings
        .unwrap_or(server.state.config.training.min_new_ratings);
    let check = method(
        server,
        caller,
        "retrain.check",
        json!({ "min_ratings": min }),
    )
    .await?;
    let db = counts(server, caller).await?;
    let health = method(server, caller, "health", Value::Null).await?;
    let model = &health["model"];
    let needs = check["retrain"] == json!(true);
    Ok(json!({
        "needs_retrain": needs,
        "database_stats": {
            "total_ratings": db["ratings"],
            "unique_users": db["users"],
            "min_required": min,
            "new_ratings": check["new_ratings"],
        },
        "current_model": if model.is_null() { json!({}) } else { json!({
            "last_retrain": model["trained_at"],
            "n_users": model["users"],
            "n_items": model["items"],
            "version": model["version"],
        })},
        "recommendation": if needs { "Retrain recommended" } else { "No retrain needed yet" },
        "verdict": check["verdict"],
        "timestamp": timestamp(),
    }))
}

#[derive(Deserialize)]
struct RetrainBody {
    n_factors: Option<u64>,
    n_epochs: Option<u64>,
    min_new_ratings: Option<u64>,
}

async fn retrain(server: &Server, caller: &Caller, body: Option<Value>) -> Result<Value, Error> {
    let b: RetrainBody = body_of(body)?;
    let mut params = json!({});
    if let Some(f) = b.n_factors {
        in_range("n_factors", f, 10, 200)?;
        params["factors"] = json!(f);
    }
    if let Some(e) = b.n_epochs {
        in_range("n_epochs", e, 5, 50)?;
        params["epochs"] = json!(e);
    }
    // The old system always gated its retrains; so does this one, at the
    // config's threshold when the body names none.
    let min = match b.min_new_ratings {
        Some(m) => {
            in_range("min_new_ratings", m, 10, u64::MAX)?;
            m
        }
        None => server.state.config.training.min_new_ratings,
    };
    params["min_ratings"] = json!(min);
    let status = match method(server, caller, "retrain", params).await {
        Ok(status) => status,
        Err(e) if e.code == ErrorCode::TrainFailed => {
            return Ok(json!({
                "success": false,
                "message": format!("Retrain failed: {}", e.message),
                "training_time": null, "metrics": null, "db_ratings_count": null,
                "timestamp": timestamp(),
            }))
        }
        Err(e) => return Err(e),
    };
    let outcome = &status["outcome"];
    if status["state"] == json!("skipped") {
        let why = status["reason"]
            .as_str()
            .unwrap_or("not enough new ratings");
        return Ok(json!({
            "success": false,
            "message": format!("No retrain needed: {why}"),
            "training_time": null, "metrics": null, "db_ratings_count": null,
            "timestamp": timestamp(),
            "job": status["id"],
        }));
    }
    Ok(json!({
        "success": true,
        "message": format!("Model retrained and loaded: {}", outcome["version"].as_str().unwrap_or("?")),
        "training_time": outcome["training_seconds"],
        "metrics": { "rmse": outcome["rmse"], "mae": outcome["mae"] },
        "db_ratings_count": outcome["database_ratings"],
        "timestamp": status["finished_at"].as_str().map_or_else(timestamp, str::to_owned),
        "job": status["id"],
        "version": outcome["version"],
    }))
}
