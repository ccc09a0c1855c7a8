//! The listening socket: bound with mode 0660 from the start, never
//! replacing a live daemon's, and removed at exit only if it is still ours.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("{}: another recd is already serving on this socket", .0.display())]
    AlreadyRunning(PathBuf),
    #[error("{}: {what}", path.display())]
    Other { path: PathBuf, what: String },
}

/// A bound listener and the identity of its socket file.
pub struct Bound {
    listener: tokio::net::UnixListener,
    ours: Ours,
}

/// The socket file we bound (device and inode), to remove at exit.
pub struct Ours {
    path: PathBuf,
    id: Option<(u64, u64)>,
}

impl Bound {
    /// Bind `path`: refuse if a daemon answers on it, replace a stale one,
    /// create it with mode 0660. Call it on the runtime that will serve.
    pub fn bind(path: &Path) -> Result<Bound, SocketError> {
        let err = |what: String| SocketError::Other {
            path: path.to_owned(),
            what,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| err(format!("cannot create its directory: {e}")))?;
        }
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if !meta.file_type().is_socket() {
                return Err(err(
                    "exists and is not a socket; refusing to replace it".into()
                ));
            }
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(SocketError::AlreadyRunning(path.to_owned()));
            }
            tracing::info!("removing stale socket {}", path.display());
            std::fs::remove_file(path)
                .map_err(|e| err(format!("cannot remove the stale socket: {e}")))?;
        }
        // The socket is created with mode 0777 & !umask: 0660 from the
        // start, so there is no moment when others could connect.
        let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o117));
        let bound = std::os::unix::net::UnixListener::bind(path);
        nix::sys::stat::umask(old);
        let listener = bound.map_err(|e| err(format!("cannot bind: {e}")))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
            .map_err(|e| err(format!("cannot set its mode: {e}")))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| err(e.to_string()))?;
        let listener =
            tokio::net::UnixListener::from_std(listener).map_err(|e| err(e.to_string()))?;
        let id = std::fs::metadata(path).map(|m| (m.dev(), m.ino())).ok();
        Ok(Bound {
            listener,
            ours: Ours {
                path: path.to_owned(),
                id,
            },
        })
    }

    pub fn into_parts(self) -> (tokio::net::UnixListener, Ours) {
        (self.listener, self.ours)
    }
}

impl Ours {
    /// Remove the socket file if it is still the one we bound.
    pub fn remove(self) {
        let now = std::fs::metadata(&self.path)
            .map(|m| (m.dev(), m.ino()))
            .ok();
        if self.id.is_some() && now == self.id {
            if let Err(e) = std::fs::remove_file(&self.path) {
                tracing::warn!("cannot remove {}: {e}", self.path.display());
            }
        }
    }
}
