//! One handler per method, behind one exhaustive match, one file per
//! group: `status` (health, stats), `queries` (recommend, predict,
//! similar), `ratings` (rate, unrate, import), `database` (forget,
//! backup), `retrain` (retrain.check, retrain, job.status, job.cancel),
//! `models` (reload, models, rollback).
//!
//! Each handler returns its typed result (`protocol::result`), serialised
//! here into the reply; errors of the layers below are mapped to wire
//! codes here and nowhere else. Queries run inline: they touch only the
//! mapped model and cost tens of microseconds. Anything that reads or
//! verifies a model file runs on the blocking pool; training runs on its
//! own thread (`lifecycle::jobs`).

mod database;
mod models;
mod queries;
mod ratings;
mod retrain;
mod schedule;
mod status;

pub use status::health;

use serde::Serialize;
use tokio::io::AsyncWrite;

use super::auth::Caller;
use super::peer::Body;
use super::Server;
use crate::lifecycle::db::NotReady;
use crate::lifecycle::State;
use crate::protocol::{Error, ErrorCode, Id, Request};
use crate::serving::Served;

/// Who is asking and where progress lines go.
pub struct Ctx<'a, W> {
    pub server: &'a Server,
    pub caller: Caller,
    /// The request's id, echoed in progress lines; None over HTTP, whose
    /// progress lines carry none.
    pub id: Option<&'a Id>,
    pub out: &'a mut W,
    /// The bytes that follow the request line (only `import` has any).
    pub body: Body<'a>,
    /// The bytes that follow the reply line (`backup`'s copy), sent by the
    /// connection after it.
    pub trailer: Option<std::fs::File>,
}

/// A result already serialised: replies are written straight from typed
/// structs, never through a `Value` tree.
pub type Raw = Box<serde_json::value::RawValue>;

fn raw(v: &impl Serialize) -> Result<Raw, Error> {
    serde_json::value::to_raw_value(v).map_err(|e| {
        Error::new(
            ErrorCode::Internal,
            format!("cannot serialise the reply: {e}"),
        )
    })
}

/// [`handle`], counted in the server's statistics (the method, its
/// error code, its latency from `started`) and a fault logged: what both
/// the socket and HTTP call.
pub async fn answer<W: AsyncWrite + Unpin>(
    req: Request,
    ctx: &mut Ctx<'_, W>,
    started: std::time::Instant,
) -> Result<Raw, Error> {
    let method = req.method();
    let stats = &ctx.server.stats;
    stats.count_method(method);
    let answer = handle(req, ctx).await;
    if let Err(e) = &answer {
        stats.count_error(e.code);
        // Reload and retrain failures are logged where they happen, with
        // their context; once is enough.
        if matches!(e.code, ErrorCode::Internal | ErrorCode::PermissionDenied) {
            tracing::warn!(method = method.name(), "{e}");
        }
    }
    stats.observe(method, started.elapsed());
    answer
}

pub async fn handle<W: AsyncWrite + Unpin>(
    req: Request,
    ctx: &mut Ctx<'_, W>,
) -> Result<Raw, Error> {
    let method = req.method();
    let server = ctx.server;
    if !ctx.caller.may(method.scope(), &server.admin) {
        return Err(Error::new(
            ErrorCode::PermissionDenied,
            ctx.caller.refusal(method),
        ));
    }
    if method.is_admin() {
        // Who changed what the daemon serves, for the operators' record.
        match &ctx.caller {
            Caller::Socket(peer) => {
                let (uid, pid) = peer.map_or((None, None), |(uid, _, pid)| (Some(uid), pid));
                tracing::info!(method = method.name(), uid, pid, "admin request");
            }
            Caller::Http { token, address, .. } => {
                let token = token.as_deref().unwrap_or("(none: loopback)");
                tracing::info!(method = method.name(), token, %address, "admin request");
            }
        }
    }
    let state = &server.state;
    if let Some(user) = req.user() {
        state
            .config
            .ratings
            .user_id(user)
            .map_err(ratings::refused)?;
    }
    match req {
        Request::Health => raw(&status::health(state)),
        Request::Stats => raw(&status::stats(server).await),
        Request::Recommend(p) => {
            queries::check_n(p.n)?;
            let s = served(state)?;
            raw(&queries::recommend(state, &s, &p)?)
        }
        Request::Predict(p) => {
            let s = served(state)?;
            raw(&queries::predict(state, &s, &p)?)
        }
        Request::Similar(p) => {
            queries::check_n(p.n)?;
            let s = served(state)?;
            raw(&queries::similar(&s, &p)?)
        }
        Request::Rate(p) => raw(&ratings::rate(state, p).await?),
        Request::Unrate(p) => raw(&ratings::unrate(state, p).await?),
        Request::Import(p) => raw(&ratings::import(state, p, &mut ctx.body, &ctx.caller).await?),
        Request::Forget(p) => raw(&database::forget(state, p, &ctx.caller).await?),
        Request::Backup => {
            let snapshot = database::backup(state).await?;
            let reply = raw(&snapshot.info)?;
            ctx.trailer = Some(snapshot.file);
            Ok(reply)
        }
        Request::RetrainCheck(p) => raw(&retrain::check(state, p).await?),
        Request::Retrain(p) => raw(&retrain::retrain(p, ctx).await?),
        Request::JobStatus(p) => raw(&retrain::job_status(state, p).await?),
        Request::JobCancel(p) => raw(&retrain::job_cancel(state, p)?),
        Request::Reload(_) => raw(&models::reload(state).await?),
        Request::Models => raw(&models::models(state).await?),
        Request::Rollback(p) => raw(&models::rollback(state, p).await?),
        Request::History(p) => raw(&schedule::history(state, p).await?),
        Request::Schedule(p) => raw(&schedule::schedule(state, p).await?),
        Request::SchedulePause => raw(&schedule::pause(state).await?),
        Request::ScheduleResume => raw(&schedule::resume(state).await?),
    }
}

/// The model in service, or why there is none.
fn served(state: &State) -> Result<std::sync::Arc<Served>, Error> {
    state.served().ok_or_else(|| {
        let why = if state.jobs.running().is_some() {
            "no model yet: the first one is training (see health)"
        } else {
            "no model yet: train one with `recd train` or the retrain method"
        };
        Error::new(ErrorCode::NoModel, why)
    })
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::new(ErrorCode::Internal, e.to_string())
}

fn not_ready(e: NotReady) -> Error {
    Error::new(ErrorCode::DbUnavailable, e.0)
}

fn store_error(e: crate::store::StoreError) -> Error {
    use crate::store::StoreError;
    match e {
        StoreError::Unavailable(m) => Error::new(ErrorCode::DbUnavailable, m),
        StoreError::Failed(m) => Error::new(ErrorCode::Internal, m),
    }
}
