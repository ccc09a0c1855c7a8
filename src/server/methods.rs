//! One handler per method, behind one exhaustive match.
//!
//! Queries run inline: they touch only the mapped model and cost tens of
//! microseconds. Anything that reads or verifies a model file runs on the
//! blocking pool; training runs on its own thread (see `jobs`).

use std::sync::Arc;

use serde_json::{json, Value};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::daemon::state::{RollbackError, Served, State, Unseen};
use crate::jobs::JobState;
use crate::model::Model;
use crate::protocol::*;
use crate::train::pipeline;

/// Who is asking and where progress lines go.
pub struct Ctx<'a, W> {
    pub state: &'a Arc<State>,
    /// SO_PEERCRED of the peer: uid, gid, pid.
    pub peer: Option<(u32, u32, Option<i32>)>,
    pub id: &'a Id,
    pub out: &'a mut W,
}

type Reply = Result<Value, Error>;

/// A result already serialised: the hot queries write their replies straight
/// from typed structs, never through a `Value` tree.
pub type Raw = Box<serde_json::value::RawValue>;

fn raw(v: &impl serde::Serialize) -> Result<Raw, Error> {
    serde_json::value::to_raw_value(v).map_err(|e| {
        Error::new(
            ErrorCode::Internal,
            format!("cannot serialise the reply: {e}"),
        )
    })
}

pub async fn handle<W: AsyncWrite + Unpin>(
    req: Request,
    ctx: &mut Ctx<'_, W>,
) -> Result<Raw, Error> {
    if req.is_admin()
        && !ctx
            .peer
            .is_some_and(|(uid, gid, pid)| ctx.state.admin.allows(uid, gid, pid))
    {
        let who = ctx.peer.map_or("an unknown peer".to_string(), |(uid, ..)| {
            format!("uid {uid}")
        });
        return Err(Error::new(
            ErrorCode::PermissionDenied,
            format!(
                "'{}' is an admin method: {who} is not root, recd's user or in the admin group",
                req.method()
            ),
        ));
    }
    let state = ctx.state;
    match req {
        Request::Health => raw(&health(state)),
        Request::Stats => raw(&stats(state).await),
        Request::Recommend(p) => recommend(state, p),
        Request::Predict(p) => predict(state, p),
        Request::Similar(p) => similar(state, p),
        Request::Rate(p) => raw(&rate(state, p).await?),
        Request::Unrate(p) => raw(&unrate(state, p).await?),
        Request::Import(p) => raw(&import(state, p).await?),
        Request::RetrainCheck(p) => raw(&retrain_check(state, p).await?),
        Request::Retrain(p) => raw(&retrain(p, ctx).await?),
        Request::JobStatus(p) => raw(&job_status(state, p)?),
        Request::JobCancel(p) => raw(&job_cancel(state, p)?),
        Request::Reload(_) => raw(&reload(state).await?),
        Request::Models => raw(&models(state).await?),
        Request::Rollback(p) => raw(&rollback(state, p).await?),
    }
}

fn served(state: &State) -> Result<Arc<Served>, Error> {
    state.served().ok_or_else(|| {
        let why = if state.jobs.running().is_some() {
            "no model yet: the first one is training (see health)"
        } else {
            "no model yet: train one with `recd train` or the retrain method"
        };
        Error::new(ErrorCode::NoModel, why)
    })
}

fn model_summary(m: &Model) -> Value {
    let meta = m.metadata();
    json!({
        "version": meta.version,
        "trained_at": meta.trained_at,
        "metrics": meta.metrics,
        "counts": meta.counts,
        "params": meta.params,
        "db_watermark": meta.db_watermark,
        "users": m.n_users(),
        "items": m.n_items(),
        "factors": m.n_factors(),
    })
}

fn health(state: &State) -> Value {
    let served = state.served();
    let job = state.jobs.running().map(|j| j.status());
    let status = if state.shutdown.is_cancelled() {
        "shutting_down"
    } else if served.is_some() {
        "ok"
    } else if job.is_some() {
        "training"
    } else if state.downloading.load(std::sync::atomic::Ordering::Relaxed) {
        "downloading"
    } else {
        "no_model"
    };
    json!({
        "status": status,
        "uptime_seconds": state.started.elapsed().as_secs_f64(),
        "protocol_version": PROTOCOL_VERSION,
        "recd_version": env!("CARGO_PKG_VERSION"),
        "model": served.map(|s| model_summary(&s.model)),
        "job": job,
    })
}

async fn stats(state: &State) -> Value {
    let mut v = state.stats.snapshot();
    v["uptime_seconds"] = json!(state.started.elapsed().as_secs_f64());
    let served = state.served();
    v["model"] = served
        .as_ref()
        .map_or(Value::Null, |s| model_summary(&s.model));
    let watermark = served.map_or(0, |s| s.model.metadata().db_watermark);
    v["database"] = database_stats(state, watermark).await;
    v
}

/// The database's part of `stats`: counts, ratings since the served model's
/// watermark, the last training run. Never waits long: an unreachable
/// database is reported, not waited for.
async fn database_stats(state: &State, watermark: i64) -> Value {
    let db = &state.db;
    let store = &db.store;
    let read = async {
        let counts = store.counts().await?;
        let since = store.count_since(watermark).await?;
        let last = store.last_run().await?;
        Ok::<_, crate::store::StoreError>((counts, since, last))
    };
    let mut v = json!({
        "backend": store.backend(),
        "target": store.target().display(),
    });
    if let Err(e) = db.catalogue() {
        v["available"] = json!(false);
        v["error"] = json!(e.message);
        return v;
    }
    match tokio::time::timeout(std::time::Duration::from_secs(2), read).await {
        Ok(Ok((counts, since, last))) => {
            v["available"] = json!(true);
            v["ratings"] = json!(counts.ratings);
            v["users"] = json!(counts.users);
            v["movies"] = json!(counts.movies);
            v["catalogue"] = json!(counts.catalogue);
            v["max_seq"] = json!(counts.max_seq);
            v["watermark"] = json!(watermark);
            v["since_watermark"] = json!(since);
            v["last_run"] = json!(last);
        }
        Ok(Err(e)) => {
            v["available"] = json!(false);
            v["error"] = json!(e.to_string());
        }
        Err(_) => {
            v["available"] = json!(false);
            v["error"] = json!("no answer within 2 s");
        }
    }
    v
}

fn refused(r: crate::store::rules::Refused) -> Error {
    Error::new(r.code, r.message)
}

async fn rate(state: &State, p: RateParams) -> Reply {
    let rules = &state.config.ratings;
    rules.user(&p.user).map_err(refused)?;
    let rating = rules.rating(p.rating).map_err(refused)?;
    let catalogue = state.db.catalogue()?;
    if !catalogue.contains(&p.movie) {
        return Err(Error::new(
            ErrorCode::UnknownMovie,
            format!("movie {} is not in the catalogue", p.movie),
        ));
    }
    let done = state
        .write(crate::store::Write::Rate(crate::store::NewRating {
            user: p.user.clone(),
            movie: p.movie,
            rating,
            rated_at: crate::clock::unix_seconds(std::time::SystemTime::now()),
        }))
        .await
        .map_err(crate::daemon::db::store_error)?;
    let crate::store::Done::Rated { seq } = done else {
        return Err(Error::new(
            ErrorCode::Internal,
            "the writer answered a rating with a removal",
        ));
    };
    Ok(json!({ "user": p.user, "movie": p.movie, "rating": rating, "seq": seq }))
}

async fn unrate(state: &State, p: UnrateParams) -> Reply {
    state.config.ratings.user(&p.user).map_err(refused)?;
    state.db.catalogue()?;
    let done = state
        .write(crate::store::Write::Unrate {
            user: p.user.clone(),
            movie: p.movie,
        })
        .await
        .map_err(crate::daemon::db::store_error)?;
    let crate::store::Done::Unrated { removed } = done else {
        return Err(Error::new(
            ErrorCode::Internal,
            "the writer answered a removal with a rating",
        ));
    };
    Ok(json!({ "user": p.user, "movie": p.movie, "removed": removed }))
}

/// Files larger than this are refused rather than read into memory.
const MAX_IMPORT_BYTES: u64 = 1 << 30;

/// Rejected lines listed in the reply at most (all are counted).
const MAX_REJECTED_SHOWN: usize = 1000;

async fn import(state: &State, p: ImportParams) -> Reply {
    let path = std::path::PathBuf::from(&p.path);
    if !path.is_absolute() {
        return Err(Error::new(
            ErrorCode::InvalidParams,
            format!("path must be absolute, got '{}'", p.path),
        ));
    }
    let catalogue = state.db.catalogue()?;
    let rules = state.config.ratings;
    let now = crate::clock::unix_seconds(std::time::SystemTime::now());
    let started = std::time::Instant::now();
    let parsed = tokio::task::spawn_blocking(move || {
        let meta =
            std::fs::metadata(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if meta.len() > MAX_IMPORT_BYTES {
            return Err(format!(
                "{} is {} bytes; at most {MAX_IMPORT_BYTES} can be imported at once",
                path.display(),
                meta.len()
            ));
        }
        let bytes =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Ok(crate::store::import::parse(
            &bytes,
            &rules,
            |m| catalogue.contains(&m),
            now,
        ))
    })
    .await
    .map_err(|e| Error::new(ErrorCode::Internal, e.to_string()))?
    .map_err(|e| Error::new(ErrorCode::InvalidParams, e))?;
    let written = state
        .db
        .store
        .import(&parsed.ratings)
        .await
        .map_err(crate::daemon::db::store_error)?;
    tracing::info!(
        path = %p.path,
        accepted = parsed.ratings.len(),
        rejected = parsed.rejected.len(),
        "imported {written} ratings in {:.2?}",
        started.elapsed()
    );
    Ok(json!({
        "path": p.path,
        "accepted": parsed.ratings.len(),
        "written": written,
        "rejected_count": parsed.rejected.len(),
        "rejected": &parsed.rejected[..parsed.rejected.len().min(MAX_REJECTED_SHOWN)],
        "seconds": started.elapsed().as_secs_f64(),
    }))
}

fn check_n(n: usize) -> Result<(), Error> {
    if n == 0 || n > MAX_N {
        return Err(Error::new(
            ErrorCode::InvalidParams,
            format!("n must be between 1 and {MAX_N}, got {n}"),
        ));
    }
    Ok(())
}

fn movie(s: &Served, id: u32) -> Result<u32, Error> {
    s.model.item_index(id).ok_or_else(|| {
        Error::new(
            ErrorCode::UnknownMovie,
            format!("movie {id} is not in the model"),
        )
    })
}

#[derive(serde::Serialize)]
struct Scored<'a> {
    movie: u32,
    title: &'a str,
    score: f32,
}

#[derive(serde::Serialize)]
struct Similar<'a> {
    movie: u32,
    title: &'a str,
    similarity: f32,
}

#[derive(serde::Serialize)]
struct Recommended<'a> {
    user: &'a str,
    model: &'a str,
    strategy: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    degraded: Option<String>,
    items: Vec<Scored<'a>>,
}

/// How a user is served.
enum Strategy {
    /// In the model: its user index.
    Model(u32),
    /// Folded in from their database ratings.
    FoldIn(Arc<Unseen>),
    /// The same with fewer than `fold_in.min_ratings` ratings: recommended
    /// from the movies related to theirs.
    FoldInSimilar(Arc<Unseen>),
    /// No ratings known: the damped mean; `Some` says why it had to be
    /// this (the database is unavailable).
    Popularity(Option<String>),
}

impl Strategy {
    /// Why a user with ratings was served by popularity, if so.
    fn degraded(self) -> Option<String> {
        match self {
            Strategy::Popularity(why) => why,
            _ => None,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Strategy::Model(_) => "model",
            Strategy::FoldIn(_) => "fold_in",
            Strategy::FoldInSimilar(_) => "fold_in_similar",
            Strategy::Popularity(_) => "popularity",
        }
    }
}

/// Who `user` is to the served model, and the item indices to leave out of
/// their recommendations (rated in the model or in the database since).
fn strategy<'s>(
    state: &State,
    s: &'s Served,
    user: &str,
) -> Result<(Strategy, std::borrow::Cow<'s, [u32]>), Error> {
    let m = &s.model;
    let recent = state.db.recent_for(user);
    let mut exclude: Vec<u32> = recent
        .iter()
        .flatten()
        .filter_map(|&(movie, _)| m.item_index(movie))
        .collect();
    let strategy = match m.user_index(user) {
        // The common case: nothing rated since the model; its list as is.
        Some(u) if exclude.is_empty() => {
            return Ok((
                Strategy::Model(u),
                std::borrow::Cow::Borrowed(m.rated_items(u)),
            ));
        }
        Some(u) => {
            exclude.extend_from_slice(m.rated_items(u));
            Strategy::Model(u)
        }
        // The dataset's users are all in the model.
        None if user.starts_with(crate::movielens::DATASET_USER_PREFIX) => {
            return Err(Error::new(
                ErrorCode::UnknownUser,
                format!("user '{user}' is not in the model"),
            ));
        }
        None => match recent {
            None => Strategy::Popularity(Some(
                state
                    .db
                    .catalogue()
                    .err()
                    .map_or("the ratings database is unavailable".into(), |e| e.message),
            )),
            Some(r) if r.is_empty() => Strategy::Popularity(None),
            Some(r) => {
                let c = &state.config;
                let few = r.len() < c.fold_in.min_ratings;
                let u = s.unseen(
                    user,
                    &r,
                    f64::from(c.training.params.reg_all),
                    if few { c.fold_in.related_movies } else { 0 },
                    c.fold_in.cache_users,
                );
                if few {
                    Strategy::FoldInSimilar(u)
                } else {
                    Strategy::FoldIn(u)
                }
            }
        },
    };
    exclude.sort_unstable();
    exclude.dedup();
    Ok((strategy, std::borrow::Cow::Owned(exclude)))
}

fn recommend(state: &State, p: RecommendParams) -> Result<Raw, Error> {
    check_n(p.n)?;
    let s = served(state)?;
    let m = &s.model;
    let (strategy, exclude) = strategy(state, &s, &p.user)?;
    let fold = state.config.fold_in;
    let list = match &strategy {
        Strategy::Model(u) => m.recommend(s.quant(), *u, p.n, &exclude),
        Strategy::FoldInSimilar(u) => among_related(&s, u, p.n, &exclude),
        Strategy::FoldIn(u) => {
            let f = &u.folded;
            m.recommend_vector(s.quant(), &f.factors, f.bias, p.n, &exclude)
        }
        Strategy::Popularity(_) => m.best_by(s.popularity(fold.popularity_damping), p.n, &exclude),
    };
    let items = list
        .into_iter()
        .map(|(i, score)| Scored {
            movie: m.movie_id(i),
            title: m.title(i),
            score,
        })
        .collect();
    raw(&Recommended {
        user: &p.user,
        model: s.version(),
        strategy: strategy.name(),
        degraded: strategy.degraded(),
        items,
    })
}

/// For a user with few ratings: the movies related to the ones they rated,
/// ordered by their folded-in estimate; when fewer than `n` of those are
/// left, the rest by the estimate alone.
fn among_related(s: &Served, u: &Unseen, n: usize, exclude: &[u32]) -> Vec<(u32, f32)> {
    let m = &s.model;
    let f = &u.folded;
    let mut list: Vec<(u32, f32)> = u
        .related
        .iter()
        .filter(|i| exclude.binary_search(i).is_err())
        .map(|&i| (i, m.estimate_folded(f, i)))
        .collect();
    list.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    list.truncate(n);
    let scale = m.scale();
    for (_, e) in list.iter_mut() {
        *e = scale.clip(*e);
    }
    if list.len() < n {
        let mut taken: Vec<u32> = exclude
            .iter()
            .copied()
            .chain(list.iter().map(|e| e.0))
            .collect();
        taken.sort_unstable();
        let rest = m.recommend_vector(s.quant(), &f.factors, f.bias, n - list.len(), &taken);
        list.extend(rest);
    }
    list
}

fn predict(state: &State, p: PredictParams) -> Result<Raw, Error> {
    #[derive(serde::Serialize)]
    struct Predicted<'a> {
        user: &'a str,
        movie: u32,
        title: &'a str,
        rating: f32,
        model: &'a str,
        strategy: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        degraded: Option<String>,
    }
    let s = served(state)?;
    let i = movie(&s, p.movie)?;
    let (strategy, _) = strategy(state, &s, &p.user)?;
    let fold = state.config.fold_in;
    let m = &s.model;
    let rating = match &strategy {
        Strategy::Model(u) => m.predict(Some(*u), Some(i)),
        Strategy::FoldIn(u) | Strategy::FoldInSimilar(u) => m.predict_folded(&u.folded, i),
        Strategy::Popularity(_) => m.scale().clip(
            s.popularity(fold.popularity_damping)
                .get(i as usize)
                .copied()
                .unwrap_or(0.0),
        ),
    };
    raw(&Predicted {
        user: &p.user,
        movie: p.movie,
        title: m.title(i),
        rating,
        model: s.version(),
        strategy: strategy.name(),
        degraded: strategy.degraded(),
    })
}

fn similar(state: &State, p: SimilarParams) -> Result<Raw, Error> {
    #[derive(serde::Serialize)]
    struct SimilarTo<'a> {
        movie: u32,
        title: &'a str,
        model: &'a str,
        items: Vec<Similar<'a>>,
    }
    check_n(p.n)?;
    let s = served(state)?;
    let i = movie(&s, p.movie)?;
    let m = &s.model;
    let items = m
        .similar(s.quant(), i, p.n, s.norms())
        .into_iter()
        .map(|(j, similarity)| Similar {
            movie: m.movie_id(j),
            title: m.title(j),
            similarity,
        })
        .collect();
    raw(&SimilarTo {
        movie: p.movie,
        title: m.title(i),
        model: s.version(),
        items,
    })
}

/// Pipeline options from the config and a request's overrides.
fn options(state: &State, p: &RetrainParams) -> Result<pipeline::Options, Error> {
    let c = &state.config;
    let base = &c.training.params;
    let params = crate::numeric::Params {
        n_factors: p.factors.unwrap_or(base.n_factors),
        n_epochs: p.epochs.unwrap_or(base.n_epochs),
        lr_all: p.lr.unwrap_or(base.lr_all),
        reg_all: p.reg.unwrap_or(base.reg_all),
        init_std_dev: p.init_std_dev.unwrap_or(base.init_std_dev),
        threads: p.threads.unwrap_or(base.threads),
        seed: p.seed.unwrap_or(base.seed),
    };
    params
        .validate()
        .map_err(|e| Error::new(ErrorCode::InvalidParams, format!("{}: {}", e.key, e.what)))?;
    Ok(pipeline::Options {
        params,
        backup: !p.no_backup,
        force: p.force,
        min_new_ratings: p.min_ratings,
        database: Some(state.database()),
        ..pipeline::Options::from_config(c)
    })
}

async fn retrain_check(state: &Arc<State>, p: RetrainCheckParams) -> Reply {
    let opts = options(state, &RetrainParams::default())?;
    let threshold = p
        .min_ratings
        .unwrap_or(state.config.training.min_new_ratings);
    let check = tokio::task::spawn_blocking(move || pipeline::check(&opts, threshold))
        .await
        .map_err(|e| Error::new(ErrorCode::Internal, e.to_string()))?
        .map_err(|e| Error::new(ErrorCode::ReloadFailed, e.to_string()))?;
    Ok(serde_json::to_value(check).unwrap_or(Value::Null))
}

/// Start a retrain and stream its progress to the caller until it ends.
async fn retrain<W: AsyncWrite + Unpin>(p: RetrainParams, ctx: &mut Ctx<'_, W>) -> Reply {
    let state = ctx.state;
    if state.shutdown.is_cancelled() {
        return Err(Error::new(
            ErrorCode::ShuttingDown,
            "the daemon is shutting down",
        ));
    }
    let opts = options(state, &p)?;
    let job = crate::daemon::start_retrain(state, opts).map_err(|running| {
        Error::new(
            ErrorCode::Busy,
            format!("retrain job {running} is already running"),
        )
        .with_data(json!({ "job": running }))
    })?;
    let mut progress = job.subscribe();
    let mut streaming = true;
    loop {
        tokio::select! {
            _ = job.finished() => break,
            event = progress.recv(), if streaming => match event {
                Ok(event) => streaming = send_progress(ctx, event).await,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => streaming = false,
            },
        }
    }
    // Lines sent just before the end are still queued: pass them on.
    while streaming {
        match progress.try_recv() {
            Ok(event) => streaming = send_progress(ctx, event).await,
            Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => {}
            Err(_) => break,
        }
    }
    let status = job.status();
    match status.state {
        JobState::Succeeded | JobState::Skipped => {
            Ok(serde_json::to_value(&status).unwrap_or(Value::Null))
        }
        JobState::Running | JobState::Failed | JobState::Cancelled => Err(Error::new(
            ErrorCode::TrainFailed,
            match status.state {
                JobState::Cancelled => format!("retrain job {} was cancelled", status.id),
                _ => format!(
                    "retrain job {} failed: {}",
                    status.id,
                    status.error.as_deref().unwrap_or("unknown error")
                ),
            },
        )
        .with_data(serde_json::to_value(&status).unwrap_or(Value::Null))),
    }
}

/// Write one progress line; false once the caller has hung up (it then
/// stops hearing progress, and the job goes on).
async fn send_progress<W: AsyncWrite + Unpin>(ctx: &mut Ctx<'_, W>, event: Value) -> bool {
    let line = crate::protocol::Reply::progress(ctx.id.clone(), event).to_line();
    ctx.out.write_all(&line).await.is_ok()
}

fn job_status(state: &State, p: JobParams) -> Reply {
    let job = state.jobs.get(p.job).ok_or_else(|| unknown_job(p.job))?;
    Ok(serde_json::to_value(job.status()).unwrap_or(Value::Null))
}

fn unknown_job(id: Option<u64>) -> Error {
    match id {
        Some(id) => Error::new(ErrorCode::UnknownJob, format!("no job {id}")),
        None => Error::new(ErrorCode::UnknownJob, "no retrain job has run yet"),
    }
}

fn job_cancel(state: &State, p: JobParams) -> Reply {
    let job = match p.job {
        Some(id) => state
            .jobs
            .get(Some(id))
            .ok_or_else(|| unknown_job(Some(id)))?,
        None => state
            .jobs
            .running()
            .ok_or_else(|| Error::new(ErrorCode::UnknownJob, "no retrain job is running"))?,
    };
    let status = job.status();
    if status.state != JobState::Running {
        return Ok(json!({ "job": job.id, "cancelled": false, "state": status.state }));
    }
    job.cancel();
    tracing::info!(job = job.id, "retrain job cancellation requested");
    Ok(json!({ "job": job.id, "cancelled": true, "state": "running" }))
}

async fn reload(state: &Arc<State>) -> Reply {
    let swapped = crate::daemon::reload(state, "the reload method").await?;
    Ok(
        json!({ "version": swapped.version, "previous": swapped.previous, "changed": swapped.previous.as_deref() != Some(swapped.version.as_str()) }),
    )
}

async fn models(state: &Arc<State>) -> Reply {
    let st = state.clone();
    tokio::task::spawn_blocking(move || {
        let current = st.models.current_version().ok().flatten();
        let versions = st.models.versions().map_err(|e| {
            Error::new(ErrorCode::Internal, format!("{}: {e}", st.models.path().display()))
        })?;
        let list: Vec<Value> = versions
            .iter()
            .rev()
            .map(|v| {
                let path = st.models.version_path(v);
                let mut entry = match Model::open(&path) {
                    Ok(m) => {
                        let mut e = model_summary(&m);
                        e["bytes"] = json!(m.file_len());
                        e["valid"] = json!(true);
                        e
                    }
                    Err(err) => json!({ "version": v, "valid": false, "error": err.to_string() }),
                };
                entry["current"] = json!(current.as_deref() == Some(v.as_str()));
                entry
            })
            .collect();
        Ok(json!({ "current": current, "serving": st.served().map(|s| s.version().to_owned()), "versions": list }))
    })
    .await
    .map_err(|e| Error::new(ErrorCode::Internal, e.to_string()))?
}

/// Version ids name files in the models directory: refuse anything that
/// could name a path elsewhere.
fn valid_version(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 128
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

async fn rollback(state: &Arc<State>, p: RollbackParams) -> Reply {
    if !valid_version(&p.version) {
        return Err(Error::new(
            ErrorCode::InvalidParams,
            format!(
                "'{}' is not a version id (letters, digits, '-' and '_' only; never a path)",
                p.version
            ),
        ));
    }
    let st = state.clone();
    let version = p.version.clone();
    let result = tokio::task::spawn_blocking(move || st.rollback_blocking(&version))
        .await
        .map_err(|e| Error::new(ErrorCode::Internal, e.to_string()))?;
    match result {
        Ok(s) => {
            tracing::info!(version = %s.version, previous = ?s.previous, "rolled back");
            Ok(json!({ "version": s.version, "previous": s.previous }))
        }
        Err(RollbackError::Unknown(known)) => Err(Error::new(
            ErrorCode::UnknownVersion,
            format!(
                "no model version '{}' in {}",
                p.version,
                state.models.path().display()
            ),
        )
        .with_data(json!({ "versions": known }))),
        Err(RollbackError::Model(e)) => Err(Error::new(ErrorCode::ReloadFailed, e.to_string())),
        Err(RollbackError::Io(e)) => Err(Error::new(ErrorCode::Internal, e)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn version_ids_never_name_paths() {
        use super::valid_version;
        assert!(valid_version("20261124T112329Z-0636"));
        for bad in [
            "",
            "../etc/passwd",
            "a/b",
            "v1.recd",
            ".",
            "..",
            "a b",
            "current\n",
        ] {
            assert!(!valid_version(bad), "{bad:?}");
        }
    }
}
