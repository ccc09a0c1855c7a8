//! The ratings database: the application's users' ratings, the movie
//! catalogue and the record of training runs, in SQLite (embedded, the
//! default) or PostgreSQL (by URL), through `sqlx`.
//!
//! The same statements run on both (`$N` placeholders, `ON CONFLICT`,
//! `RETURNING`) but one: writing a run of ratings, an upsert of arrays on
//! PostgreSQL. The schema differs only in its types, so each backend has
//! its own embedded migrations, applied at open. SQLite runs in WAL mode with
//! a busy timeout on every connection, and every write transaction starts
//! with `BEGIN IMMEDIATE`: a second process writing the same file waits for
//! the lock instead of failing with "database is locked".
//!
//! It owns SQL and nothing else: no validation of what a rating means (see
//! [`rules`]), no batching (see [`writer`]).

pub mod import;
pub mod rules;
pub mod writer;

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Row;

/// Where the database is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Sqlite(PathBuf),
    /// A `postgres://` or `postgresql://` URL.
    Postgres(String),
}

impl Target {
    /// The target as shown to operators: a path, or the URL without its
    /// password.
    pub fn display(&self) -> String {
        match self {
            Target::Sqlite(p) => format!("sqlite {}", p.display()),
            Target::Postgres(url) => {
                let shown = match (url.find("://"), url.rfind('@')) {
                    (Some(s), Some(at)) if at > s + 3 => match url[s + 3..at].split_once(':') {
                        Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                        None => url.clone(),
                    },
                    _ => url.clone(),
                };
                format!("postgresql {shown}")
            }
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or failed under us: retry later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database refused what it was given, or holds what it should not.
    #[error("database error: {0}")]
    Failed(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> StoreError {
        match e {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Tls(_) => StoreError::Unavailable(e.to_string()),
            sqlx::Error::Database(ref d) if is_transient(d.as_ref()) => {
                StoreError::Unavailable(e.to_string())
            }
            _ => StoreError::Failed(e.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> StoreError {
        match e {
            sqlx::migrate::MigrateError::Execute(inner) => inner.into(),
            other => StoreError::Failed(format!("migrations: {other}")),
        }
    }
}

/// Errors that say "not now" rather than "never": a server shutting down or
/// restarting, too many connections, a lock that did not come in time.
fn is_transient(d: &dyn sqlx::error::DatabaseError) -> bool {
    let code = d.code().unwrap_or_default();
    // PostgreSQL classes 08 (connection), 53 (resources), 57P (operator
    // intervention: shutdown); SQLite BUSY (5) and LOCKED (6), with their
    // extended codes.
    code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57P")
        || matches!(code.parse::<i32>().map(|c| c & 0xff), Ok(5) | Ok(6))
}

/// Connection settings.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub max_connections: u32,
    /// How long SQLite waits for another writer's lock, and how long a
    /// caller waits for a connection.
    pub busy_timeout: Duration,
}

/// One rating as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stored {
    pub seq: i64,
    pub user: String,
    pub movie: u32,
    pub rating: f32,
    pub rated_at: i64,
}

/// A rating to write.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRating {
    pub user: String,
    pub movie: u32,
    pub rating: f32,
    /// Unix seconds.
    pub rated_at: i64,
}

/// A write, as the batching writer hands them over.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    Rate(NewRating),
    Unrate { user: String, movie: u32 },
}

impl Write {
    /// Whose rating it writes.
    pub fn user(&self) -> &str {
        match self {
            Write::Rate(r) => &r.user,
            Write::Unrate { user, .. } => user,
        }
    }
}

/// What a write did: the new rating's sequence number, or whether a rating
/// was removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    Rated { seq: i64 },
    Unrated { removed: bool },
}

/// The database's side of `stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    pub ratings: i64,
    pub users: i64,
    /// Distinct movies rated.
    pub movies: i64,
    /// Movies in the catalogue.
    pub catalogue: i64,
    /// The highest sequence number (0: no ratings yet).
    pub max_seq: i64,
}

/// A training run as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub id: i64,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub status: String,
    pub params: serde_json::Value,
    pub metrics: Option<serde_json::Value>,
    pub counts: Option<serde_json::Value>,
    pub watermark: i64,
    pub model_version: Option<String>,
    pub error: Option<String>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEnd {
    pub status: &'static str,
    pub metrics: Option<serde_json::Value>,
    pub counts: Option<serde_json::Value>,
    pub watermark: i64,
    pub model_version: Option<String>,
    pub error: Option<String>,
}

#[derive(Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The same body on whichever pool this is; `$pool` names it inside.
macro_rules! on_pool {
    ($self:expr, $pool:ident => $body:expr) => {
        match &$self.pool {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    };
}

/// A write transaction: `BEGIN IMMEDIATE` on SQLite, so the write lock is
/// taken (or waited for) up front; a plain `BEGIN` on PostgreSQL.
macro_rules! write_tx {
    ($self:expr, $tx:ident => $body:expr) => {
        match &$self.pool {
            Pool::Sqlite(pool) => {
                let mut $tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
            Pool::Postgres(pool) => {
                let mut $tx = pool.begin().await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
        }
    };
}

/// The future of a [`WriteRun::write_run`].
type RunFuture<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Vec<(String, i64, i64)>, sqlx::Error>> + Send + 'a>,
>;

/// Write ratings, at most one per user and movie, in place of any earlier
/// rating of theirs: the one statement that differs between the backends.
/// Returns each row's (user, movie, seq).
trait WriteRun {
    fn write_run<'a>(&'a mut self, rows: &'a [&'a NewRating]) -> RunFuture<'a>;
}

/// SQLite: the rows go as multi-row statements, one delete and one insert
/// (an upsert cannot give the row a new `seq`: it is the rowid).
impl WriteRun for sqlx::SqliteConnection {
    fn write_run<'a>(&'a mut self, rows: &'a [&'a NewRating]) -> RunFuture<'a> {
        Box::pin(async move {
            let mut del =
                sqlx::QueryBuilder::new("DELETE FROM ratings WHERE (user_id, movie_id) IN (");
            del.push_values(rows, |mut b, r| {
                b.push_bind(r.user.as_str()).push_bind(i64::from(r.movie));
            });
            del.push(")");
            del.build().execute(&mut *self).await?;
            let mut ins = sqlx::QueryBuilder::new(
                "INSERT INTO ratings (user_id, movie_id, rating, rated_at) ",
            );
            ins.push_values(rows, |mut b, r| {
                b.push_bind(r.user.as_str())
                    .push_bind(i64::from(r.movie))
                    .push_bind(f64::from(r.rating))
                    .push_bind(r.rated_at);
            });
            ins.push(" RETURNING user_id, movie_id, seq");
            ins.build()
                .fetch_all(&mut *self)
                .await?
                .iter()
                .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
                .collect()
        })
    }
}

/// PostgreSQL: one upsert of the rows as arrays (four parameters whatever
/// their number, so one prepared statement); a re-rating takes the next
/// `seq` from the sequence, as a new row would.
impl WriteRun for sqlx::PgConnection {
    fn write_run<'a>(&'a mut self, rows: &'a [&'a NewRating]) -> RunFuture<'a> {
        Box::pin(async move {
            let users: Vec<&str> = rows.iter().map(|r| r.user.as_str()).collect();
            let movies: Vec<i64> = rows.iter().map(|r| i64::from(r.movie)).collect();
            let ratings: Vec<f64> = rows.iter().map(|r| f64::from(r.rating)).collect();
            let times: Vec<i64> = rows.iter().map(|r| r.rated_at).collect();
            sqlx::query(
                "INSERT INTO ratings (user_id, movie_id, rating, rated_at) \
                 SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::float8[], $4::bigint[]) \
                 ON CONFLICT (user_id, movie_id) DO UPDATE \
                 SET rating = EXCLUDED.rating, rated_at = EXCLUDED.rated_at, seq = DEFAULT \
                 RETURNING user_id, movie_id, seq",
            )
            .bind(users)
            .bind(movies)
            .bind(ratings)
            .bind(times)
            .fetch_all(&mut *self)
            .await?
            .iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
            .collect()
        })
    }
}

/// A `ratings` row, selected as seq, user_id, movie_id, rating, rated_at.
fn stored<'r, R: Row>(row: &'r R) -> Result<Stored, StoreError>
where
    usize: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    f64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(Stored {
        seq: row.try_get(0)?,
        user: row.try_get(1)?,
        movie: u32::try_from(row.try_get::<i64, _>(2)?)
            .map_err(|_| StoreError::Failed("a movie id out of range".into()))?,
        rating: row.try_get::<f64, _>(3)? as f32,
        rated_at: row.try_get(4)?,
    })
}

/// The argument of a [`Store::ratings_where`] filter.
enum Filter<'a> {
    None,
    Seq(i64),
    User(&'a str),
}

/// Rows a multi-row statement carries at most (well under both backends'
/// limits on bound parameters).
const ROWS_PER_STATEMENT: usize = 500;

/// The database.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    target: Target,
    /// Set once the migrations have run: concurrent callers wait for the
    /// one run, later ones pass straight through.
    migrated: std::sync::Arc<tokio::sync::OnceCell<()>>,
}

impl Store {
    /// Open the database and apply the migrations. SQLite creates its file
    /// (and the directory it is in); PostgreSQL must be reachable.
    pub async fn open(target: &Target, options: Options) -> Result<Store, StoreError> {
        let store = Store::connect_lazy(target, options)?;
        store.migrate().await?;
        Ok(store)
    }

    /// A store whose connections are made on first use, so the caller can
    /// start while the database is down; [`Store::migrate`] must succeed
    /// before it is used.
    pub fn connect_lazy(target: &Target, options: Options) -> Result<Store, StoreError> {
        let pool = match target {
            Target::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        StoreError::Failed(format!("cannot create {}: {e}", dir.display()))
                    })?;
                }
                let connect = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // With WAL, FULL syncs the log at every commit: a rating
                    // acknowledged is on disk.
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(options.busy_timeout)
                    .foreign_keys(true);
                Pool::Sqlite(
                    SqlitePoolOptions::new()
                        .max_connections(options.max_connections)
                        .acquire_timeout(options.busy_timeout)
                        .connect_lazy_with(connect),
                )
            }
            Target::Postgres(url) => {
                let connect = PgConnectOptions::from_str(url)
                    .map_err(|e| StoreError::Failed(format!("database.url: {e}")))?;
                Pool::Postgres(
                    PgPoolOptions::new()
                        .max_connections(options.max_connections)
                        .acquire_timeout(options.busy_timeout)
                        .connect_lazy_with(connect),
                )
            }
        };
        Ok(Store {
            pool,
            target: target.clone(),
            migrated: Default::default(),
        })
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// "sqlite" or "postgresql".
    pub fn backend(&self) -> &'static str {
        match self.pool {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgresql",
        }
    }

    /// Apply the embedded migrations not yet applied (once per store; a
    /// failed attempt is tried again on the next call).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.migrated
            .get_or_try_init(|| self.run_migrations())
            .await
            .map(drop)
    }

    async fn run_migrations(&self) -> Result<(), StoreError> {
        match &self.pool {
            Pool::Sqlite(pool) => sqlx::migrate!("src/store/migrations/sqlite")
                .run(pool)
                .await
                .map_err(StoreError::from),
            Pool::Postgres(pool) => sqlx::migrate!("src/store/migrations/postgres")
                .run(pool)
                .await
                .map_err(StoreError::from),
        }
    }

    /// Close every connection (waits for those in use).
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }

    /// Apply `writes` in order in one transaction: all or none.
    pub async fn write(&self, writes: &[Write]) -> Result<Vec<Done>, StoreError> {
        let done = write_tx!(self, tx => {
            let mut done = vec![Done::Unrated { removed: false }; writes.len()];
            let mut k = 0;
            while k < writes.len() {
                if let Write::Unrate { user, movie } = &writes[k] {
                    let n = sqlx::query("DELETE FROM ratings WHERE user_id = $1 AND movie_id = $2")
                        .bind(user)
                        .bind(i64::from(*movie))
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    done[k] = Done::Unrated { removed: n > 0 };
                    k += 1;
                    continue;
                }
                // A run of ratings: two statements for the lot. Within the
                // run the last rating of a user and movie is the one kept;
                // the earlier ones are answered with its sequence number.
                let end = writes[k..]
                    .iter()
                    .position(|w| !matches!(w, Write::Rate(_)))
                    .map_or(writes.len(), |p| k + p);
                let run: Vec<&NewRating> = writes[k..end]
                    .iter()
                    .filter_map(|w| match w {
                        Write::Rate(r) => Some(r),
                        Write::Unrate { .. } => None,
                    })
                    .collect();
                let mut last = std::collections::HashMap::with_capacity(run.len());
                for (j, r) in run.iter().enumerate() {
                    last.insert((r.user.as_str(), r.movie), j);
                }
                let rows: Vec<&NewRating> = run
                    .iter()
                    .enumerate()
                    .filter(|(j, r)| last.get(&(r.user.as_str(), r.movie)) == Some(j))
                    .map(|(_, r)| *r)
                    .collect();
                // The sequence number of each kept rating, by its place in the run.
                let mut seqs = vec![None; run.len()];
                for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                    for (user, movie, seq) in (*tx).write_run(chunk).await? {
                        let kept = u32::try_from(movie)
                            .ok()
                            .and_then(|m| last.get(&(user.as_str(), m)));
                        if let Some(&j) = kept {
                            seqs[j] = Some(seq);
                        }
                    }
                }
                for (j, r) in run.iter().enumerate() {
                    let seq = seqs[last[&(r.user.as_str(), r.movie)]]
                        .ok_or_else(|| StoreError::Failed("an inserted rating was not returned".into()))?;
                    done[k + j] = Done::Rated { seq };
                }
                k = end;
            }
            done
        });
        Ok(done)
    }

    /// Write `ratings` in one transaction; a later rating of the same user
    /// and movie replaces an earlier one, in the file as in the database.
    /// Returns how many rows were written.
    pub async fn import(&self, ratings: &[NewRating]) -> Result<u64, StoreError> {
        let writes: Vec<Write> = ratings.iter().cloned().map(Write::Rate).collect();
        let done = self.write(&writes).await?;
        let rows: std::collections::HashSet<i64> = done
            .iter()
            .filter_map(|d| match d {
                Done::Rated { seq } => Some(*seq),
                Done::Unrated { .. } => None,
            })
            .collect();
        Ok(rows.len() as u64)
    }

    /// Make the catalogue hold `movies` (id, title, genres): new ones are
    /// added and changed ones updated, in one transaction.
    pub async fn put_movies(&self, movies: &[(u32, String, String)]) -> Result<(), StoreError> {
        write_tx!(self, tx => {
            for chunk in movies.chunks(ROWS_PER_STATEMENT) {
                let mut b = sqlx::QueryBuilder::new("INSERT INTO movies (movie_id, title, genres) ");
                b.push_values(chunk, |mut b, (id, title, genres)| {
                    b.push_bind(i64::from(*id)).push_bind(title.as_str()).push_bind(genres.as_str());
                });
                b.push(
                    " ON CONFLICT (movie_id) DO UPDATE SET title = excluded.title, \
                     genres = excluded.genres",
                );
                b.build().execute(&mut *tx).await?;
            }
        });
        Ok(())
    }

    /// Every movie id in the catalogue.
    pub async fn movie_ids(&self) -> Result<Vec<u32>, StoreError> {
        let ids: Vec<i64> = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT movie_id FROM movies ORDER BY movie_id")
                .fetch_all(pool)
                .await?
        });
        Ok(ids
            .into_iter()
            .filter_map(|id| u32::try_from(id).ok())
            .collect())
    }

    pub async fn counts(&self) -> Result<Counts, StoreError> {
        let row = on_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT (SELECT COUNT(*) FROM ratings), \
                        (SELECT COUNT(DISTINCT user_id) FROM ratings), \
                        (SELECT COUNT(DISTINCT movie_id) FROM ratings), \
                        (SELECT COUNT(*) FROM movies), \
                        (SELECT COALESCE(MAX(seq), 0) FROM ratings)",
            )
            .fetch_one(pool)
            .await?;
            (
                row.try_get::<i64, _>(0)?,
                row.try_get::<i64, _>(1)?,
                row.try_get::<i64, _>(2)?,
                row.try_get::<i64, _>(3)?,
                row.try_get::<i64, _>(4)?,
            )
        });
        Ok(Counts {
            ratings: row.0,
            users: row.1,
            movies: row.2,
            catalogue: row.3,
            max_seq: row.4,
        })
    }

    /// Ratings with a sequence number above `watermark`.
    pub async fn count_since(&self, watermark: i64) -> Result<i64, StoreError> {
        let n: i64 = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM ratings WHERE seq > $1")
                .bind(watermark)
                .fetch_one(pool)
                .await?
        });
        Ok(n)
    }

    /// Every rating, in sequence order.
    pub async fn all_ratings(&self) -> Result<Vec<Stored>, StoreError> {
        self.ratings_where("", Filter::None).await
    }

    /// Ratings with a sequence number above `watermark`, in sequence order.
    pub async fn ratings_since(&self, watermark: i64) -> Result<Vec<Stored>, StoreError> {
        self.ratings_where("WHERE seq > $1", Filter::Seq(watermark))
            .await
    }

    /// One user's ratings, in sequence order.
    pub async fn user_ratings(&self, user: &str) -> Result<Vec<Stored>, StoreError> {
        self.ratings_where("WHERE user_id = $1", Filter::User(user))
            .await
    }

    /// Ratings selected by `filter`, whose `$1` is `arg`, in sequence order.
    async fn ratings_where(
        &self,
        filter: &str,
        arg: Filter<'_>,
    ) -> Result<Vec<Stored>, StoreError> {
        let sql = format!(
            "SELECT seq, user_id, movie_id, rating, rated_at FROM ratings {filter} ORDER BY seq"
        );
        let rows = on_pool!(self, pool => {
            let q = sqlx::query(&sql);
            let q = match arg {
                Filter::None => q,
                Filter::Seq(seq) => q.bind(seq),
                Filter::User(user) => q.bind(user),
            };
            let mut out = Vec::new();
            for row in q.fetch_all(pool).await? {
                out.push(stored(&row)?);
            }
            out
        });
        Ok(rows)
    }

    /// Record the start of a training run; returns its id.
    pub async fn start_run(
        &self,
        started_at: i64,
        params: &serde_json::Value,
    ) -> Result<i64, StoreError> {
        let id: i64 = write_tx!(self, tx => {
            sqlx::query_scalar(
                "INSERT INTO training_runs (started_at, status, params) \
                 VALUES ($1, 'running', $2) RETURNING id",
            )
            .bind(started_at)
            .bind(params.to_string())
            .fetch_one(&mut *tx)
            .await?
        });
        Ok(id)
    }

    /// Record how run `id` ended.
    pub async fn finish_run(
        &self,
        id: i64,
        finished_at: i64,
        end: &RunEnd,
    ) -> Result<(), StoreError> {
        let json = |v: &Option<serde_json::Value>| v.as_ref().map(|v| v.to_string());
        write_tx!(self, tx => {
            sqlx::query(
                "UPDATE training_runs SET finished_at = $1, status = $2, metrics = $3, \
                 counts = $4, watermark = $5, model_version = $6, error = $7 WHERE id = $8",
            )
            .bind(finished_at)
            .bind(end.status)
            .bind(json(&end.metrics))
            .bind(json(&end.counts))
            .bind(end.watermark)
            .bind(end.model_version.as_deref())
            .bind(end.error.as_deref())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        });
        Ok(())
    }

    /// The most recent training run.
    pub async fn last_run(&self) -> Result<Option<Run>, StoreError> {
        let run = on_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT id, started_at, finished_at, status, params, metrics, counts, \
                 watermark, model_version, error FROM training_runs ORDER BY id DESC LIMIT 1",
            )
            .fetch_optional(pool)
            .await?;
            match row {
                None => None,
                Some(row) => {
                    let json = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
                    Some(Run {
                        id: row.try_get(0)?,
                        started_at: row.try_get(1)?,
                        finished_at: row.try_get(2)?,
                        status: row.try_get(3)?,
                        params: json(row.try_get(4)?).unwrap_or_default(),
                        metrics: json(row.try_get(5)?),
                        counts: json(row.try_get(6)?),
                        watermark: row.try_get(7)?,
                        model_version: row.try_get(8)?,
                        error: row.try_get(9)?,
                    })
                }
            }
        });
        Ok(run)
    }
}

/// The store for synchronous callers on threads outside the runtime (the
/// retrain pipeline): each call runs on `handle`'s runtime and waits.
#[derive(Clone)]
pub struct Blocking {
    pub store: Store,
    pub handle: tokio::runtime::Handle,
}

impl std::fmt::Debug for Blocking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Blocking({})", self.store.target().display())
    }
}

impl Blocking {
    /// Run `f` on the store, its migrations applied first (the pipeline may
    /// start before the daemon has reached the database).
    fn run<T, F: std::future::Future<Output = Result<T, StoreError>>>(
        &self,
        f: impl FnOnce(Store) -> F,
    ) -> Result<T, StoreError> {
        let store = self.store.clone();
        self.handle.block_on(async move {
            store.migrate().await?;
            f(store).await
        })
    }

    pub fn all_ratings(&self) -> Result<Vec<Stored>, StoreError> {
        self.run(|s| async move { s.all_ratings().await })
    }

    pub fn count_since(&self, watermark: i64) -> Result<i64, StoreError> {
        self.run(|s| async move { s.count_since(watermark).await })
    }

    pub fn start_run(
        &self,
        started_at: i64,
        params: &serde_json::Value,
    ) -> Result<i64, StoreError> {
        let params = params.clone();
        self.run(|s| async move { s.start_run(started_at, &params).await })
    }

    pub fn finish_run(&self, id: i64, finished_at: i64, end: &RunEnd) -> Result<(), StoreError> {
        let end = end.clone();
        self.run(|s| async move { s.finish_run(id, finished_at, &end).await })
    }
}
