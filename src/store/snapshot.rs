//! Copies of an SQLite ratings database: a consistent snapshot of the one
//! in use (`backup`), and the checks that a file is one recd wrote, with a
//! schema this recd knows (`backup`'s copy, and `recd restore`'s input).
//!
//! A snapshot is `VACUUM INTO` a private temp file beside the database: one
//! read transaction, so writers go on meanwhile (WAL) and the copy is the
//! database as of one commit. The temp file is unlinked as soon as it is
//! open, so nothing is left behind whatever happens to its reader. This
//! module never opens a path a peer names, and never speaks the protocol.

use std::io::Read;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, Row};

use super::connect::{Pool, SQLITE_MIGRATIONS};
use super::{Store, StoreError, Target};

/// A copy of the ratings database: `backup`'s result, and what
/// `recd restore` found in its file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupInfo {
    /// The copy's size: exactly this many bytes follow `backup`'s reply.
    pub bytes: u64,
    pub ratings: i64,
    /// Distinct users with ratings.
    pub users: i64,
    /// The highest migration applied (the `_sqlx_migrations` table).
    pub schema_version: i64,
    /// RFC 3339 time of the copy (of the check, for a file restored).
    pub created_at: String,
}

/// A snapshot ready to send: its figures and the open copy (already
/// unlinked: it goes away when the file is closed).
#[derive(Debug)]
pub struct Snapshot {
    pub info: BackupInfo,
    pub file: std::fs::File,
}

/// Why a file is not a database recd can use, or a copy failed.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{0}")]
    Io(String),
    #[error("not an SQLite database: {0}")]
    NotSqlite(String),
    #[error("truncated: {0}")]
    Truncated(String),
    #[error("an SQLite database, but not one recd wrote: {0}")]
    Foreign(String),
    #[error(
        "written by a newer recd: its schema version is {found}, this recd knows up to {known}; \
         restore it with that recd or a later one"
    )]
    Newer { found: i64, known: i64 },
    #[error("damaged: {0}")]
    Corrupt(String),
    /// `backup` of a PostgreSQL database: the command to use instead.
    #[error("{0}")]
    Postgres(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

const HEADER: &[u8; 16] = b"SQLite format 3\0";

/// `pg_dump`'s command for a PostgreSQL target, as docs/operations.md gives it.
pub fn pg_dump_command(target: &Target) -> String {
    let url = match target {
        Target::Postgres(_) => target.display(),
        Target::Sqlite(_) => String::new(),
    };
    let url = url.trim_start_matches("postgresql ");
    format!("pg_dump --format=custom --file=recd.dump '{url}'")
}

/// A new empty file, mode 0600 whatever the umask; fails if it exists.
pub(super) fn create_private(path: &Path) -> Result<std::fs::File, FileError> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| FileError::Io(format!("cannot create {}: {e}", path.display())))?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(|e| FileError::Io(format!("{}: {e}", path.display())))?;
    Ok(file)
}

/// A path removed when dropped (a temp file on every path out).
pub(super) struct TempPath(pub(super) PathBuf);

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `path` with `suffix` added to its file name.
/// Remove the backup copies an earlier daemon left beside the SQLite
/// database (it died during `VACUUM INTO`, before unlinking its copy):
/// every user's ratings must not outlive the request that asked for them.
/// How many were removed. At start only: a running daemon's are its own.
pub fn remove_stale_copies(target: &super::Target) -> usize {
    let super::Target::Sqlite(db) = target else {
        return 0;
    };
    let (Some(dir), Some(name)) = (db.parent(), db.file_name()) else {
        return 0;
    };
    let prefix = format!("{}.backup-", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        if file.starts_with(&prefix)
            && file.ends_with(".tmp")
            && std::fs::remove_file(entry.path()).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

pub(super) fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// `VACUUM INTO` `dest` (an empty file) on `conn`.
pub(super) async fn vacuum_into<'c, E>(conn: E, dest: &Path) -> Result<(), FileError>
where
    E: sqlx::Executor<'c, Database = sqlx::Sqlite>,
{
    let dest = dest
        .to_str()
        .ok_or_else(|| FileError::Io(format!("{}: not a UTF-8 path", dest.display())))?;
    sqlx::query("VACUUM INTO $1")
        .bind(dest)
        .execute(conn)
        .await
        .map_err(StoreError::from)?;
    Ok(())
}

impl Store {
    /// A consistent copy of the database, made by the daemon into a
    /// private temp file in its own directory. SQLite only: PostgreSQL's
    /// answer names `pg_dump`.
    pub async fn snapshot(&self) -> Result<Snapshot, FileError> {
        let db = match self.target() {
            Target::Sqlite(path) => path.clone(),
            target @ Target::Postgres(_) => {
                return Err(FileError::Postgres(format!(
                    "backup copies an SQLite database; this one is PostgreSQL: \
                     back it up with pg_dump (docs/operations.md, \"Backups\"): {} \
                     (the URL of database.url, its password included)",
                    pg_dump_command(target)
                )))
            }
        };
        let (_, pool) = self.current().await;
        let Pool::Sqlite(pool) = pool else {
            return Err(FileError::Io("an SQLite target on another pool".into()));
        };
        let temp = TempPath(beside(
            &db,
            &format!(".backup-{}-{}.tmp", std::process::id(), unique()),
        ));
        drop(create_private(&temp.0)?);
        vacuum_into(&pool, &temp.0).await?;
        let info = inspect(&temp.0, false).await?;
        let file = std::fs::File::open(&temp.0)
            .map_err(|e| FileError::Io(format!("{}: {e}", temp.0.display())))?;
        Ok(Snapshot { info, file })
    }
}

/// A number no other snapshot of this process uses.
fn unique() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Check that `path` is a whole SQLite database that recd wrote, with a
/// schema this recd knows (an older one is fine: the daemon migrates it
/// at start), and count its ratings. `integrity` also reads every page
/// (`PRAGMA quick_check`). The file is opened read-only and immutable:
/// nothing is written beside it.
pub async fn inspect(path: &Path, integrity: bool) -> Result<BackupInfo, FileError> {
    let bytes = check_header(path)?;
    let options = SqliteConnectOptions::from_str("sqlite://")
        .map_err(StoreError::from)?
        .filename(path)
        .read_only(true)
        .immutable(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .map_err(|e| FileError::Corrupt(format!("cannot be opened: {e}")))?;
    let result = contents(&mut conn, integrity, bytes).await;
    let _ = conn.close().await;
    result
}

async fn contents(
    conn: &mut sqlx::SqliteConnection,
    integrity: bool,
    bytes: u64,
) -> Result<BackupInfo, FileError> {
    let unreadable = |e: sqlx::Error| FileError::Corrupt(format!("cannot be read: {e}"));
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetch_all(&mut *conn)
            .await
            .map_err(unreadable)?;
    for needed in ["_sqlx_migrations", "ratings"] {
        if !tables.iter().any(|t| t == needed) {
            return Err(FileError::Foreign(format!(
                "it has no {needed} table (its tables: {})",
                if tables.is_empty() {
                    "none".to_string()
                } else {
                    tables.join(", ")
                }
            )));
        }
    }
    let schema_version = check_migrations(conn).await?;
    if integrity {
        let verdict: String = sqlx::query_scalar("PRAGMA quick_check")
            .fetch_one(&mut *conn)
            .await
            .map_err(unreadable)?;
        if verdict != "ok" {
            return Err(FileError::Corrupt(verdict));
        }
    }
    let row = sqlx::query("SELECT COUNT(*), COUNT(DISTINCT user_id) FROM ratings")
        .fetch_one(&mut *conn)
        .await
        .map_err(unreadable)?;
    Ok(BackupInfo {
        bytes,
        ratings: row.try_get(0).map_err(unreadable)?,
        users: row.try_get(1).map_err(unreadable)?,
        schema_version,
        created_at: crate::clock::rfc3339(std::time::SystemTime::now()),
    })
}

/// The migrations applied in the file against this recd's: each one
/// known, the same, and successful. The highest version applied.
async fn check_migrations(conn: &mut sqlx::SqliteConnection) -> Result<i64, FileError> {
    let rows =
        sqlx::query("SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| {
                FileError::Foreign(format!("its _sqlx_migrations table cannot be read: {e}"))
            })?;
    let known = SQLITE_MIGRATIONS
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or(0);
    let mut highest = 0;
    for row in rows {
        let bad = |e: sqlx::Error| FileError::Foreign(format!("_sqlx_migrations: {e}"));
        let version: i64 = row.try_get(0).map_err(bad)?;
        let checksum: Vec<u8> = row.try_get(1).map_err(bad)?;
        let success: bool = row.try_get(2).map_err(bad)?;
        if version > known {
            return Err(FileError::Newer {
                found: version,
                known,
            });
        }
        let ours = SQLITE_MIGRATIONS.iter().find(|m| m.version == version);
        match ours {
            None => {
                return Err(FileError::Foreign(format!(
                    "it has migration {version}, which no recd has"
                )))
            }
            Some(m) if *m.checksum != *checksum => {
                return Err(FileError::Foreign(format!(
                    "its migration {version} is not recd's (the checksums differ)"
                )))
            }
            Some(_) if !success => {
                return Err(FileError::Corrupt(format!(
                    "migration {version} failed in it and was never completed"
                )))
            }
            Some(_) => highest = highest.max(version),
        }
    }
    if highest == 0 {
        return Err(FileError::Foreign(
            "no migration was ever applied to it".into(),
        ));
    }
    Ok(highest)
}

/// The file's size, once its header says it is a whole SQLite database.
fn check_header(path: &Path) -> Result<u64, FileError> {
    let io = |e: std::io::Error| FileError::Io(format!("{}: {e}", path.display()));
    let mut file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let mut header = [0u8; 100];
    let mut got = 0;
    while got < header.len() {
        match file.read(&mut header[got..]).map_err(io)? {
            0 => break,
            n => got += n,
        }
    }
    if got < HEADER.len() || header[..HEADER.len()] != HEADER[..] {
        let text = header[..got]
            .iter()
            .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace());
        return Err(FileError::NotSqlite(if got == 0 {
            "the file is empty".into()
        } else if text {
            "it is text (it does not start with the SQLite header)".into()
        } else {
            "it does not start with the SQLite header".into()
        }));
    }
    if got < header.len() {
        return Err(FileError::Truncated(format!(
            "{got} bytes, shorter than an SQLite header"
        )));
    }
    let page_size = match u32::from(u16::from_be_bytes([header[16], header[17]])) {
        1 => 65_536,
        n => n,
    };
    let pages = u32::from_be_bytes([header[28], header[29], header[30], header[31]]);
    // The header's page count is valid when its version-valid-for number
    // matches the change counter (SQLite's file format, section 1.3.9).
    let counted = header[92..96] == header[24..28];
    let want = u64::from(page_size) * u64::from(pages);
    if !page_size.is_power_of_two() || page_size < 512 {
        return Err(FileError::NotSqlite(format!(
            "its header names a page size of {page_size} bytes"
        )));
    }
    if len % u64::from(page_size) != 0 || (counted && len < want) {
        return Err(FileError::Truncated(format!(
            "{len} bytes, where its header says {pages} pages of {page_size} bytes ({want} bytes)"
        )));
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_left_by_a_dead_daemon_is_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("recd.db");
        for name in [
            "recd.db",
            "recd.db.backup-41-1.tmp",
            "recd.db.backup-41-2.tmp",
            "recd.db.before-restore",
            "other.db.backup-1-1.tmp",
        ] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        assert_eq!(remove_stale_copies(&crate::store::Target::Sqlite(db)), 2);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "other.db.backup-1-1.tmp",
                "recd.db",
                "recd.db.before-restore"
            ]
        );
        let pg = crate::store::Target::Postgres("postgres://x/y".into());
        assert_eq!(remove_stale_copies(&pg), 0);
    }
}
