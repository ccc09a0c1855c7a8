//! Reaching the database: where it is ([`Target`]), the connection
//! settings, the pool for either backend, the embedded migrations, and what
//! an `sqlx` error means to a caller ([`StoreError`]: retry later, or not).
//!
//! SQLite runs in WAL mode with a busy timeout on every connection, and
//! every write transaction starts with `BEGIN IMMEDIATE`: a second process
//! writing the same file waits for the lock instead of failing with
//! "database is locked". This module never runs a statement of its own
//! beyond the migrations.
//!
//! The pool can be replaced while the store is in use: a write that finds
//! the database failing under it closes every connection and starts again
//! from fresh ones (see [`super::faults`]). Callers reach the pool through
//! [`Store::current`], never keep it.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// Where the database is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Sqlite(PathBuf),
    /// A `postgres://` or `postgresql://` URL.
    Postgres(String),
}

impl Target {
    /// The target as shown to operators: a path, or the URL without its
    /// password (in the user part or as a `password=` parameter).
    pub fn display(&self) -> String {
        match self {
            Target::Sqlite(p) => format!("sqlite {}", p.display()),
            Target::Postgres(url) => format!("postgresql {}", hide_password(url)),
        }
    }
}

fn hide_password(url: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let mut shown = match (base.find("://"), base.rfind('@')) {
        (Some(s), Some(at)) if at > s + 3 => match base[s + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &base[..s + 3], &base[at..]),
            None => base.to_owned(),
        },
        _ => base.to_owned(),
    };
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => kv.to_owned(),
            })
            .collect();
        shown = format!("{shown}?{}", params.join("&"));
    }
    shown
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
            sqlx::Error::Database(ref d) => {
                let code = d.code().unwrap_or_default();
                match super::faults::reason(&code) {
                    Some(reason) => StoreError::Unavailable(format!("{reason} ({e})")),
                    None if is_transient(&code) => StoreError::Unavailable(e.to_string()),
                    None => StoreError::Failed(e.to_string()),
                }
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
fn is_transient(code: &str) -> bool {
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

#[derive(Clone)]
pub(super) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// How a new pool connects: kept so the store can open a new pool in
/// place of a failed one.
#[derive(Clone)]
pub(super) enum Connect {
    Sqlite(SqliteConnectOptions),
    Postgres(PgConnectOptions),
}

impl Connect {
    /// A pool that makes its connections on first use.
    pub(super) fn pool(&self, options: Options) -> Pool {
        match self {
            Connect::Sqlite(c) => Pool::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(options.max_connections)
                    .acquire_timeout(options.busy_timeout)
                    .connect_lazy_with(c.clone()),
            ),
            Connect::Postgres(c) => Pool::Postgres(
                PgPoolOptions::new()
                    .max_connections(options.max_connections)
                    .acquire_timeout(options.busy_timeout)
                    .connect_lazy_with(c.clone()),
            ),
        }
    }
}

/// The pool in use, and how many times it has been replaced: a caller
/// that saw a failure names the generation it used, so two callers that
/// met the same failure replace the pool once.
pub(super) struct Current {
    pub(super) generation: u64,
    pub(super) pool: Pool,
}

/// The same body on whichever pool is current; `$pool` names it inside.
macro_rules! on_pool {
    ($self:expr, $pool:ident => $body:expr) => {
        match &$self.current().await.1 {
            $crate::store::connect::Pool::Sqlite($pool) => $body,
            $crate::store::connect::Pool::Postgres($pool) => $body,
        }
    };
}
pub(super) use on_pool;

/// A write transaction: `BEGIN IMMEDIATE` on SQLite, so the write lock is
/// taken (or waited for) up front; a plain `BEGIN` on PostgreSQL.
///
/// A transaction that fails closes its connection instead of handing it
/// back: after a failed `COMMIT` SQLite may have rolled the transaction
/// back itself, and sqlx, which still counts it open, would hand the
/// connection out again only to refuse every `BEGIN` on it. A failure
/// that says the database is unavailable also replaces the pool
/// ([`Store::after_failed_write`]).
macro_rules! write_tx {
    ($self:expr, $tx:ident => $body:expr) => {{
        let (generation, pool) = $self.current_for_write().await;
        let result = match &pool {
            $crate::store::connect::Pool::Sqlite(pool) => {
                $crate::store::connect::on_connection!(pool, begin_with("BEGIN IMMEDIATE"), $tx => $body)
            }
            $crate::store::connect::Pool::Postgres(pool) => {
                $crate::store::connect::on_connection!(pool, begin(), $tx => $body)
            }
        };
        if let Err(e) = &result {
            $self.after_failed_write(generation, e).await;
        }
        result?
    }};
}
pub(super) use write_tx;

/// One write transaction on a connection of `pool`, begun with
/// `sqlx::Connection::$begin`; the connection is closed, not returned to
/// the pool, when anything in it fails.
macro_rules! on_connection {
    ($pool:expr, $begin:ident($($arg:expr),*), $tx:ident => $body:expr) => {
        async {
            let mut conn = $pool.acquire().await?;
            let result = async {
                let mut $tx = sqlx::Connection::$begin(&mut *conn, $($arg),*).await?;
                let out = $body;
                $tx.commit().await?;
                Ok::<_, $crate::store::StoreError>(out)
            }
            .await;
            if result.is_err() {
                conn.close_on_drop();
            }
            result
        }
        .await
    };
}
pub(super) use on_connection;

/// Each backend's schema: the same tables, in its own types.
pub(super) static SQLITE_MIGRATIONS: sqlx::migrate::Migrator =
    sqlx::migrate!("src/store/migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator =
    sqlx::migrate!("src/store/migrations/postgres");

/// The database.
#[derive(Clone)]
pub struct Store {
    /// Read-locked only to copy the pool out; write-locked while a failed
    /// pool closes, so that no caller opens a connection meanwhile.
    pub(super) current: Arc<tokio::sync::RwLock<Current>>,
    pub(super) connect: Connect,
    pub(super) options: Options,
    /// Set by [`Store::close`]: the pool is not replaced after that.
    pub(super) closed: Arc<AtomicBool>,
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
        let connect = match target {
            Target::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        StoreError::Failed(format!("cannot create {}: {e}", dir.display()))
                    })?;
                }
                super::faults::create_private(path);
                let connect = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // With WAL, FULL syncs the log at every commit: a rating
                    // acknowledged is on disk.
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(options.busy_timeout)
                    .foreign_keys(true);
                Connect::Sqlite(connect)
            }
            Target::Postgres(url) => Connect::Postgres(
                PgConnectOptions::from_str(url)
                    .map_err(|e| StoreError::Failed(format!("database.url: {e}")))?,
            ),
        };
        let pool = connect.pool(options);
        Ok(Store {
            current: Arc::new(tokio::sync::RwLock::new(Current {
                generation: 0,
                pool,
            })),
            connect,
            options,
            closed: Default::default(),
            target: target.clone(),
            migrated: Default::default(),
        })
    }

    /// The pool in use now and its generation.
    pub(super) async fn current(&self) -> (u64, Pool) {
        let current = self.current.read().await;
        (current.generation, current.pool.clone())
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// "sqlite" or "postgresql".
    pub fn backend(&self) -> &'static str {
        match self.connect {
            Connect::Sqlite(_) => "sqlite",
            Connect::Postgres(_) => "postgresql",
        }
    }

    /// Apply the embedded migrations not yet applied (once per store; a
    /// failed attempt is tried again on the next call).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.migrated
            .get_or_try_init(|| async {
                let migrations = match self.connect {
                    Connect::Sqlite(_) => &SQLITE_MIGRATIONS,
                    Connect::Postgres(_) => &POSTGRES_MIGRATIONS,
                };
                // Two processes opening a new SQLite file at once (the
                // daemon starting, `recd train` beside it) both find a
                // migration unapplied and both run it; the loser's
                // `CREATE TABLE` fails. The winner has applied it by then:
                // a second pass finds nothing left to do.
                let first = on_pool!(self, pool => migrations.run(pool).await);
                match first {
                    Ok(()) => Ok(()),
                    Err(e) => {
                        tracing::debug!("migrations failed ({e}); trying once more");
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                        on_pool!(self, pool => migrations.run(pool).await).map_err(StoreError::from)
                    }
                }
            })
            .await
            .map(drop)
    }

    /// Close every connection (waits for those in use); the pool is not
    /// replaced after this.
    pub async fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        on_pool!(self, pool => pool.close().await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shown_target_never_holds_a_password() {
        for (url, shown) in [
            (
                "postgres://app:Hunter2@db.example/recd",
                "postgresql postgres://app:***@db.example/recd",
            ),
            (
                "postgres://app@db/recd?sslmode=require&password=Hunter2",
                "postgresql postgres://app@db/recd?sslmode=require&password=***",
            ),
            (
                "postgresql://a:b@h/d?PASSWORD=Hunter2&x=1",
                "postgresql postgresql://a:***@h/d?PASSWORD=***&x=1",
            ),
            (
                "postgres://app@db/recd",
                "postgresql postgres://app@db/recd",
            ),
        ] {
            assert_eq!(Target::Postgres(url.into()).display(), shown);
        }
    }
}
