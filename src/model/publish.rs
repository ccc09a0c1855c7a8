//! The models directory: versioned model files, the `current` pointer and
//! backups.
//!
//! ```text
//! models/
//!   20261124T101500Z-3fa2.recd   a published version, never written again
//!   20261124T121500Z-9b0c.recd
//!   current -> 20261124T121500Z-9b0c.recd
//!   .tmp-*                       a publish in progress (or a crash's leftover)
//!   .publish.lock                held (flock) by whoever publishes
//! ```
//!
//! Publishing writes a temp file, fsyncs and verifies it, renames it to its
//! versioned name, then replaces `current` by renaming a new symlink over it,
//! and fsyncs the directory. Until that last rename nothing a reader sees has
//! changed, so any failure leaves `current` and its file as they were. The
//! versions `current` no longer points at are the backups; the newest N are
//! kept. A crash test can hold a publish at each point of this sequence
//! ([`pause`], test-only) to kill it exactly there.
//!
//! A model file is 0640 (its owner writes it, the group reads it),
//! whatever the umask of the process that publishes it.
//!
//! Publishing, switching `current` and removing a crash's temp files hold
//! an exclusive lock on `.publish.lock`, so a daemon and `recd train` never
//! remove each other's files in progress; a process killed mid-publish
//! lets go of the lock with its life, and the next one to take it removes
//! what it left.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::Model;
use pause::Point;

pub mod pause;

pub const CURRENT: &str = "current";
pub const EXTENSION: &str = "recd";
const TEMP_PREFIX: &str = ".tmp-";
const LOCK: &str = ".publish.lock";
/// A model file's mode.
pub const MODE: u32 = 0o640;

#[derive(Debug, thiserror::Error)]
#[error("publishing the model failed while {step} ({}): {source}", path.display())]
pub struct PublishError {
    pub step: Step,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// The steps of a publish, named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    CreateDir,
    CreateTemp,
    Write,
    Sync,
    Verify,
    Rename,
    SyncDir,
    SwitchCurrent,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Step::CreateDir => "creating the models directory",
            Step::CreateTemp => "creating the temp file",
            Step::Write => "writing the temp file",
            Step::Sync => "syncing the temp file to disk",
            Step::Verify => "verifying the written file",
            Step::Rename => "renaming the temp file into place",
            Step::SyncDir => "syncing the models directory",
            Step::SwitchCurrent => "switching the current pointer",
        })
    }
}

/// What a publish did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub path: PathBuf,
    /// The previous current model, kept as a backup.
    pub backup: Option<PathBuf>,
    /// Files removed: the previous model under `--no-backup`, backups past
    /// the retention count, and leftover temp files.
    pub removed: Vec<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct ModelsDir {
    dir: PathBuf,
    #[cfg(test)]
    fail_at: Option<Step>,
}

/// Whether the previous current model, at `path`, is one of `protect`.
fn previous_protected(path: &Option<PathBuf>, protect: &[String], dir: &ModelsDir) -> bool {
    path.as_ref()
        .is_some_and(|p| protect.iter().any(|v| dir.version_path(v) == *p))
}

impl ModelsDir {
    pub fn new(dir: impl Into<PathBuf>) -> ModelsDir {
        ModelsDir {
            dir: dir.into(),
            #[cfg(test)]
            fail_at: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    pub fn version_path(&self, version: &str) -> PathBuf {
        self.dir.join(format!("{version}.{EXTENSION}"))
    }

    /// The version `current` points at, if any.
    pub fn current_version(&self) -> io::Result<Option<String>> {
        match fs::read_link(self.dir.join(CURRENT)) {
            Ok(target) => Ok(target
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(&format!(".{EXTENSION}")))
                .map(str::to_owned)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Open the current model, if there is one.
    pub fn open_current(&self) -> Result<Option<Model>, super::ModelError> {
        let version = self
            .current_version()
            .map_err(|source| super::ModelError::Io {
                path: self.dir.join(CURRENT),
                source,
            })?;
        version
            .map(|v| Model::open(&self.version_path(&v)))
            .transpose()
    }

    /// Published versions on disk, oldest first.
    pub fn versions(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let name = entry?.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') {
                continue;
            }
            if let Some(v) = name.strip_suffix(&format!(".{EXTENSION}")) {
                out.push(v.to_owned());
            }
        }
        out.sort();
        Ok(out)
    }

    /// Wait for, then hold, the directory's publish lock (which the
    /// returned value releases when dropped).
    fn lock(&self) -> io::Result<nix::fcntl::Flock<File>> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(MODE)
            .open(self.dir.join(LOCK))?;
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| io::Error::from(e))
    }

    /// Remove temp files a crashed publish left behind (none of a publish
    /// in progress: it holds the lock this waits for).
    pub fn remove_leftovers(&self) -> io::Result<Vec<PathBuf>> {
        if !self.dir.is_dir() {
            return Ok(Vec::new());
        }
        let _lock = self.lock()?;
        self.remove_leftovers_locked()
    }

    fn remove_leftovers_locked(&self) -> io::Result<Vec<PathBuf>> {
        let mut removed = Vec::new();
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(removed),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                fs::remove_file(entry.path())?;
                removed.push(entry.path());
            }
        }
        Ok(removed)
    }

    /// Publish `version`, written by `write`, as the current model.
    /// `keep_backups` previous versions are kept; with `backup == false` the
    /// previous current model is removed once the new one is current. The
    /// versions in `protect` (the one a daemon serves) are never removed,
    /// by either.
    pub fn publish(
        &self,
        version: &str,
        write: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
        keep_backups: usize,
        backup: bool,
        protect: &[String],
    ) -> Result<Published, PublishError> {
        self.check(Step::CreateDir)
            .and_then(|_| fs::create_dir_all(&self.dir))
            .map_err(fail(Step::CreateDir, &self.dir))?;
        let _lock = self
            .lock()
            .map_err(fail(Step::CreateDir, &self.dir.join(LOCK)))?;
        // A leftover we cannot remove must not stop a publish.
        let mut removed = self.remove_leftovers_locked().unwrap_or_default();
        let previous = self.current_version().ok().flatten();

        let temp = self.dir.join(format!("{TEMP_PREFIX}{version}.{EXTENSION}"));
        let target = self.version_path(version);
        let staged = self.stage(&temp, &target, write);
        if let Err(e) = staged {
            let _ = fs::remove_file(&temp);
            return Err(e);
        }
        if let Err(e) = self.switch_current_locked(version) {
            let _ = fs::remove_file(&target);
            return Err(e);
        }

        pause::at(Point::Pruning);
        let backup_path = previous
            .filter(|p| p != version)
            .map(|p| self.version_path(&p));
        let protected = previous_protected(&backup_path, protect, self);
        let backup_path = match backup_path {
            Some(p) if !backup && !protected => {
                if fs::remove_file(&p).is_ok() {
                    removed.push(p);
                }
                None
            }
            other => other,
        };
        removed.extend(self.prune(version, keep_backups, protect));
        Ok(Published {
            path: target,
            backup: backup_path,
            removed,
        })
    }

    fn stage(
        &self,
        temp: &Path,
        target: &Path,
        write: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
    ) -> Result<(), PublishError> {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        // The mode asked of open(2) loses the umask's bits: set it again.
        let file = self
            .check(Step::CreateTemp)
            .and_then(|_| {
                File::options()
                    .write(true)
                    .create_new(true)
                    .mode(MODE)
                    .open(temp)
            })
            .and_then(|file| {
                file.set_permissions(fs::Permissions::from_mode(MODE))?;
                Ok(file)
            })
            .map_err(fail(Step::CreateTemp, temp))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        self.check(Step::Write)
            .and_then(|_| write(&mut out))
            .and_then(|_| out.flush())
            .map_err(fail(Step::Write, temp))?;
        let file = out
            .into_inner()
            .map_err(|e| fail(Step::Write, temp)(e.into_error()))?;
        pause::at(Point::Written);
        self.check(Step::Sync)
            .and_then(|_| file.sync_all())
            .map_err(fail(Step::Sync, temp))?;
        drop(file);
        self.check(Step::Verify)
            .and_then(|_| Model::open(temp).map(drop).map_err(io::Error::other))
            .map_err(fail(Step::Verify, temp))?;
        pause::at(Point::Verified);
        if target.exists() {
            return Err(fail(Step::Rename, target)(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "a published model of this version already exists",
            )));
        }
        self.check(Step::Rename)
            .and_then(|_| fs::rename(temp, target))
            .map_err(fail(Step::Rename, target))?;
        pause::at(Point::Renamed);
        self.check(Step::SyncDir)
            .and_then(|_| sync_dir(&self.dir))
            .map_err(|e| {
                // Renamed but not durable: take it back so nothing half-done stays.
                let _ = fs::remove_file(target);
                fail(Step::SyncDir, &self.dir)(e)
            })
    }

    /// Point `current` at `version`: a new symlink renamed over the old one,
    /// so readers see the old target or the new, never neither.
    pub fn switch_current(&self, version: &str) -> Result<(), PublishError> {
        let _lock = self.lock().map_err(|source| PublishError {
            step: Step::SwitchCurrent,
            path: self.dir.join(LOCK),
            source,
        })?;
        self.switch_current_locked(version)
    }

    fn switch_current_locked(&self, version: &str) -> Result<(), PublishError> {
        let link = self.dir.join(CURRENT);
        let temp = self.dir.join(format!("{TEMP_PREFIX}{CURRENT}-{version}"));
        let result = self
            .check(Step::SwitchCurrent)
            .and_then(|_| {
                let _ = fs::remove_file(&temp);
                std::os::unix::fs::symlink(format!("{version}.{EXTENSION}"), &temp)
            })
            .and_then(|_| {
                pause::at(Point::Linked);
                fs::rename(&temp, &link)
            })
            .and_then(|_| {
                pause::at(Point::Switched);
                sync_dir(&self.dir)
            });
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result.map_err(|source| PublishError {
            step: Step::SwitchCurrent,
            path: link,
            source,
        })
    }

    /// Remove backups beyond the newest `keep`; never the current version,
    /// nor a protected one (which still counts among the kept).
    fn prune(&self, current: &str, keep: usize, protect: &[String]) -> Vec<PathBuf> {
        let Ok(versions) = self.versions() else {
            return Vec::new();
        };
        let backups: Vec<&String> = versions.iter().filter(|v| *v != current).collect();
        let excess = backups.len().saturating_sub(keep);
        backups[..excess]
            .iter()
            .filter(|v| !protect.contains(v))
            .map(|v| self.version_path(v))
            .filter(|p| fs::remove_file(p).is_ok())
            .collect()
    }

    #[cfg(test)]
    fn check(&self, step: Step) -> io::Result<()> {
        if self.fail_at == Some(step) {
            return Err(io::Error::other(format!("injected failure at {step:?}")));
        }
        Ok(())
    }

    #[cfg(not(test))]
    fn check(&self, _step: Step) -> io::Result<()> {
        Ok(())
    }
}

/// The error of `step` on `path`, for `map_err`.
fn fail(step: Step, path: &Path) -> impl FnOnce(io::Error) -> PublishError {
    let path = path.to_owned();
    move |source| PublishError { step, path, source }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
pub(crate) mod tests;
