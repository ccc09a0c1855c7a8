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
}

/// The suffix of the copy of the database a restore replaced.
pub const BEFORE_RESTORE: &str = ".before-restore";

/// Put the backup `file` in place of the database at `db`.
pub async fn restore(file: &Path, db: &Path) -> Result<Restored, FileError> {
    let copy = TempPath(beside(db, ".restore.tmp"));
    let _ = std::fs::remove_file(&copy.0);
    copy_regular(file, &copy.0, db)?;
    let info = inspect(&copy.0, true).await?;
    let previous = if db.exists() {
        Some(keep_previous(db).await?)
    } else {
        None
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
    })
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
