//! The database failing under a running daemon: a full disk, a file made
//! read-only, an I/O error, a `-wal` file deleted. Each is named for the
//! operator (`StoreError::Unavailable` with the fault in words) and none
//! outlives its cause: once it is repaired the next write succeeds, with no
//! restart.
//!
//! Recovery is by replacing the pool: a write that fails as unavailable
//! closes every connection, then opens new ones. A fresh connection is what
//! each fault needs. SQLite opens a file it cannot write read-only and
//! keeps that handle read-only for good; a connection whose `-wal` was
//! deleted keeps writing to the deleted file, and the last connection to
//! close copies it into the database (a checkpoint), which is why all of
//! them close before any new one opens.
//!
//! It also creates the SQLite file, owner-only, before SQLite would create
//! it world-readable. It never runs a statement.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::connect::Pool;
use super::{Store, StoreError, Target};

/// What a database error code says about the machine under the database,
/// in words for the operator; None for any other error. SQLite codes are
/// numbers (four digits at most) whose low byte is the primary code;
/// PostgreSQL's are five-character SQLSTATEs.
pub(super) fn reason(code: &str) -> Option<&'static str> {
    // PostgreSQL's disk_full, first: an SQLSTATE may be all digits.
    if code == "53100" {
        return Some("the database's disk is full");
    }
    let code = code.parse::<i32>().ok().filter(|_| code.len() < 5)?;
    // SQLITE_READONLY_DBMOVED: the file was renamed or deleted under us.
    if code == 1032 {
        return Some("the database file was moved or deleted");
    }
    match code & 0xff {
        // SQLITE_FULL
        13 => Some("the database's disk is full"),
        // SQLITE_READONLY and its extended codes
        8 => Some("the database file is read-only"),
        // SQLITE_IOERR: a failed read, write or sync, or a missing file
        // (the `-wal` deleted) behind an open connection
        10 => Some("the database's disk failed to read or write (I/O error)"),
        // SQLITE_CANTOPEN
        14 => Some("the database file cannot be opened"),
        _ => None,
    }
}

/// Create the SQLite file, empty, readable and writable by its owner only:
/// SQLite would create it 0644 whatever the umask, and its `-wal` and
/// `-shm` files take the database file's mode. A file already there is
/// left as it is; a failure here is SQLite's to report when it opens.
pub(super) fn create_private(path: &Path) {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    match created {
        // The umask may have taken bits off the mode asked for: set it.
        Ok(file) => {
            if let Err(e) = file.set_permissions(std::fs::Permissions::from_mode(0o600)) {
                tracing::warn!("{}: cannot set its mode to 0600: {e}", path.display());
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => tracing::debug!("{}: not created ahead of SQLite: {e}", path.display()),
    }
}

/// The `-wal` and `-shm` files beside an SQLite database.
pub(super) fn companions(path: &Path) -> (PathBuf, PathBuf) {
    let with = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    (with("-wal"), with("-shm"))
}

/// How long a failed pool may take to close (its connections in use to
/// come back) before a new one opens anyway.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

impl Store {
    /// The pool a write transaction should use. On SQLite, a `-wal` file
    /// gone while connections are open (its `-shm` still there) was deleted
    /// under us: the open connections write to the deleted file, and a new
    /// one would read the new empty file as a log cut short ("disk I/O
    /// error"). The pool is replaced first.
    pub(super) async fn current_for_write(&self) -> (u64, Pool) {
        let (generation, pool) = self.current().await;
        if let (Target::Sqlite(path), Pool::Sqlite(sqlite)) = (self.target(), &pool) {
            let (wal, shm) = companions(path);
            if sqlite.size() > 0 && !wal.exists() && shm.exists() {
                tracing::warn!(
                    "{} was deleted under the open database: reopening it",
                    wal.display()
                );
                self.reopen(generation).await;
                return self.current().await;
            }
        }
        (generation, pool)
    }

    /// A write transaction failed: if the database is unavailable, open a
    /// new pool in place of the one (of `generation`) it failed on.
    pub(super) async fn after_failed_write(&self, generation: u64, e: &StoreError) {
        if let StoreError::Unavailable(why) = e {
            tracing::warn!("a write failed ({why}): reopening the database");
            self.reopen(generation).await;
        }
    }

    /// Close every connection of the pool of `generation`, then put a new
    /// pool in its place. Callers wait meanwhile (the write lock) rather
    /// than open a connection beside the closing ones. Nothing happens if
    /// another caller has already replaced that pool, or once the store is
    /// closed.
    async fn reopen(&self, generation: u64) {
        let mut current = self.current.write().await;
        if current.generation != generation || self.closed.load(Ordering::SeqCst) {
            return;
        }
        let failed = current.pool.clone();
        let closing = async {
            match &failed {
                Pool::Sqlite(p) => p.close().await,
                Pool::Postgres(p) => p.close().await,
            }
        };
        if tokio::time::timeout(CLOSE_WAIT, closing).await.is_err() {
            tracing::warn!(
                "the failed database connections are still in use after {CLOSE_WAIT:?}: \
                 opening new ones beside them"
            );
        }
        if let Target::Sqlite(path) = self.target() {
            create_private(path);
        }
        current.pool = self.connect.pool(self.options);
        current.generation += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_of_the_machine_are_named() {
        // SQLITE_FULL, SQLITE_READONLY, SQLITE_READONLY_RECOVERY,
        // SQLITE_IOERR_SHORT_READ, SQLITE_IOERR_FSYNC, SQLITE_CANTOPEN.
        assert_eq!(reason("13"), Some("the database's disk is full"));
        assert_eq!(reason("8"), Some("the database file is read-only"));
        assert_eq!(reason("264"), Some("the database file is read-only"));
        assert!(reason("522").unwrap().contains("I/O error"));
        assert!(reason("1034").unwrap().contains("I/O error"));
        assert_eq!(reason("14"), Some("the database file cannot be opened"));
        assert_eq!(
            reason("1032"),
            Some("the database file was moved or deleted")
        );
        // PostgreSQL's disk_full.
        assert_eq!(reason("53100"), Some("the database's disk is full"));
    }

    #[test]
    fn other_errors_are_not_faults() {
        // SQLITE_CONSTRAINT_UNIQUE, SQLITE_BUSY, a PostgreSQL unique
        // violation and connection failure, no code at all.
        for code in ["2067", "5", "23505", "08006", "25006", ""] {
            assert_eq!(reason(code), None, "{code}");
        }
    }

    #[test]
    fn the_wal_and_shm_files_sit_beside_the_database() {
        let (wal, shm) = companions(Path::new("/var/lib/recd/recd.db"));
        assert_eq!(wal, Path::new("/var/lib/recd/recd.db-wal"));
        assert_eq!(shm, Path::new("/var/lib/recd/recd.db-shm"));
    }

    /// A full disk, a read-only file or an I/O error answered `internal`
    /// (`StoreError::Failed`): they are the database being unavailable.
    #[test]
    fn a_fault_is_unavailable_and_says_which() {
        let e = StoreError::from(sqlx::Error::Database(Box::new(Fake("13"))));
        match e {
            StoreError::Unavailable(m) => assert!(m.contains("disk is full"), "{m}"),
            other => panic!("{other:?}"),
        }
        let e = StoreError::from(sqlx::Error::Database(Box::new(Fake("2067"))));
        assert!(matches!(e, StoreError::Failed(_)), "{e:?}");
    }

    /// A database error with a given code.
    #[derive(Debug)]
    struct Fake(&'static str);

    impl std::fmt::Display for Fake {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "error {}", self.0)
        }
    }

    impl std::error::Error for Fake {}

    impl sqlx::error::DatabaseError for Fake {
        fn message(&self) -> &str {
            self.0
        }
        fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
            Some(self.0.into())
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }
}
