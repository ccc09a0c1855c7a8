//! `recd restore`: a backup put in place of the SQLite ratings database,
//! with the daemon stopped. The file is copied beside the database first
//! and the copy is what is checked ([`super::snapshot::inspect`]) and then
//! renamed into place, so the file checked is the file used; the old
//! database is kept as `DB.before-restore`, itself a consistent copy.
//!
//! Only a regular file is read (never a FIFO or a device). This module
//! never looks for a running daemon: its caller does.

use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::Connection;

use super::snapshot::{
    beside, create_private, inspect, vacuum_into, BackupInfo, FileError, TempPath,
};

/// What a restore did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Restored {
    /// The database now in place.
    pub database: PathBuf,
    /// What it holds.
    #[serde(flatten)]
    pub info: BackupInfo,
    /// Where the database it replaced was kept (None: there was none).
    pub previous: Option<PathBuf>,
    /// Erasures the replaced database had and the backup did not (made
    /// after it was taken), recorded again with their users' ratings
    /// deleted again.
    pub erasures_carried: u64,
}

/// The suffix of the copy of the database a restore replaced.
pub const BEFORE_RESTORE: &str = ".before-restore";

/// Put the backup `file` in place of the database at `db`.
pub async fn restore(file: &Path, db: &Path) -> Result<Restored, FileError> {
    let copy = TempPath(beside(db, ".restore.tmp"));
    let _ = std::fs::remove_file(&copy.0);
    copy_regular(file, &copy.0, db)?;
    let mut info = inspect(&copy.0, true).await?;
    let (previous, carried) = if db.exists() {
        let kept = keep_previous(db).await?;
        let carried = carry_forward(&kept, &copy.0).await?;
        if carried > 0 {
            info = inspect(&copy.0, true).await?;
        }
        (Some(kept), carried)
    } else {
        (None, 0)
    };
    let (wal, shm) = super::faults::companions(db);
    for stale in [wal, shm] {
        match std::fs::remove_file(&stale) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(FileError::Io(format!("{}: {e}", stale.display()))),
        }
    }
    std::fs::rename(&copy.0, db).map_err(|e| FileError::Io(format!("{}: {e}", db.display())))?;
    sync_dir(db);
    Ok(Restored {
        database: db.to_owned(),
        info,
        previous,
        erasures_carried: carried,
    })
}

/// What must survive a restore of the database it replaces (`previous`,
/// a consistent copy) into the backup's copy: the erasures made after the
/// backup was taken (recorded again, their users' ratings deleted again,
/// so a restore never brings back a user who asked to be forgotten), and
/// the counters of ratings, runs and erasures, which only grow (models
/// compare their watermark and `erased_through` with them). How many
/// erasures were carried.
async fn carry_forward(previous: &Path, copy: &Path) -> Result<u64, FileError> {
    let failed = |what: &str, e: sqlx::Error| FileError::Io(format!("{what}: {e}"));
    let old_options = SqliteConnectOptions::new()
        .filename(previous)
        .read_only(true);
    let mut old = sqlx::SqliteConnection::connect_with(&old_options)
        .await
        .map_err(|e| failed(&previous.display().to_string(), e))?;
    // A database older than erasures has none to carry.
    #[allow(clippy::type_complexity)]
    let erasures: Vec<(i64, String, i64, i64, Option<i64>, Option<String>)> = sqlx::query_as(
        "SELECT id, user_id, ratings_deleted, erased_at, by_uid, by_token FROM erasures \
         ORDER BY id",
    )
    .fetch_all(&mut old)
    .await
    .unwrap_or_default();
    let counters: Vec<(String, i64)> = sqlx::query_as("SELECT name, seq FROM sqlite_sequence")
        .fetch_all(&mut old)
        .await
        .unwrap_or_default();
    let _ = old.close().await;

    let options = SqliteConnectOptions::new().filename(copy);
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .map_err(|e| failed(&copy.display().to_string(), e))?;
    let mut tx = conn
        .begin()
        .await
        .map_err(|e| failed("the backup's copy", e))?;
    let have: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM erasures")
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| failed("the backup's erasures", e))?;
    let mut carried = 0;
    for (id, user, deleted, at, by, token) in erasures.into_iter().filter(|e| e.0 > have) {
        sqlx::query(
            "INSERT INTO erasures (id, user_id, ratings_deleted, erased_at, by_uid, by_token) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(&user)
        .bind(deleted)
        .bind(at)
        .bind(by)
        .bind(token)
        .execute(&mut *tx)
        .await
        .map_err(|e| failed("carrying an erasure", e))?;
        sqlx::query("DELETE FROM ratings WHERE user_id = $1")
            .bind(&user)
            .execute(&mut *tx)
            .await
            .map_err(|e| failed("erasing again", e))?;
        carried += 1;
    }
    for (name, seq) in counters {
        sqlx::query("UPDATE sqlite_sequence SET seq = MAX(seq, $1) WHERE name = $2")
            .bind(seq)
            .bind(&name)
            .execute(&mut *tx)
            .await
            .map_err(|e| failed("a counter", e))?;
        sqlx::query(
            "INSERT INTO sqlite_sequence (name, seq) SELECT $1, $2 \
             WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = $1)",
        )
        .bind(&name)
        .bind(seq)
        .execute(&mut *tx)
        .await
        .map_err(|e| failed("a counter", e))?;
    }
    tx.commit()
        .await
        .map_err(|e| failed("the backup's copy", e))?;
    let _ = conn.close().await;
    Ok(carried)
}

/// Copy the regular file `from` to `to` (new, synced), with the mode and
/// owner of `like` when it exists (the daemon's user must own the
/// database it opens), else 0600.
fn copy_regular(from: &Path, to: &Path, like: &Path) -> Result<(), FileError> {
    let io = |p: &Path, e: std::io::Error| FileError::Io(format!("{}: {e}", p.display()));
    let mut src = std::fs::OpenOptions::new()
        .read(true)
        // A FIFO would block the open itself; it is refused just after.
        .custom_flags(libc::O_NONBLOCK)
        .open(from)
        .map_err(|e| io(from, e))?;
    let meta = src.metadata().map_err(|e| io(from, e))?;
    if !meta.is_file() {
        return Err(FileError::Io(format!(
            "{}: not a regular file",
            from.display()
        )));
    }
    let mut dst = create_private(to)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io(from, e)),
        };
        std::io::Write::write_all(&mut dst, &buf[..n]).map_err(|e| io(to, e))?;
    }
    if let Ok(old) = std::fs::metadata(like) {
        let _ = std::os::unix::fs::fchown(&dst, Some(old.uid()), Some(old.gid()));
        dst.set_permissions(std::fs::Permissions::from_mode(old.mode() & 0o7777))
            .map_err(|e| io(to, e))?;
    }
    dst.sync_all().map_err(|e| io(to, e))
}

/// A consistent copy of the database at `db` (its log included) as
/// `DB.before-restore`, replacing an earlier one; its path.
async fn keep_previous(db: &Path) -> Result<PathBuf, FileError> {
    let kept = beside(db, BEFORE_RESTORE);
    let temp = TempPath(beside(db, ".before-restore.tmp"));
    let _ = std::fs::remove_file(&temp.0);
    drop(create_private(&temp.0)?);
    let options = SqliteConnectOptions::new()
        .filename(db)
        .journal_mode(SqliteJournalMode::Wal);
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .map_err(|e| {
            FileError::Io(format!(
                "the database in place, {}, cannot be opened to keep a copy ({e}); \
                 move it away and restore again",
                db.display()
            ))
        })?;
    let copied = vacuum_into(&mut conn, &temp.0).await;
    // Closing the last connection checkpoints the log into the file.
    let _ = conn.close().await;
    copied?;
    std::fs::File::open(&temp.0)
        .and_then(|f| f.sync_all())
        .map_err(|e| FileError::Io(format!("{}: {e}", temp.0.display())))?;
    std::fs::rename(&temp.0, &kept)
        .map_err(|e| FileError::Io(format!("{}: {e}", kept.display())))?;
    Ok(kept)
}

fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
}
