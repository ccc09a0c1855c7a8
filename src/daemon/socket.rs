//! The listening socket: inherited from systemd's socket unit when one is
//! passed (`LISTEN_FDS`), else bound with mode 0660 from the start, never
//! replacing a live daemon's, and removed at exit only if it is still the
//! one we bound (an inherited socket is systemd's, never removed).

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

/// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
const LISTEN_FDS_START: std::os::fd::RawFd = 3;

impl Bound {
    /// The socket systemd passed this process, else `path` bound afresh.
    pub fn listen(path: &Path) -> Result<Bound, SocketError> {
        match inherited(path)? {
            Some(bound) => Ok(bound),
            None => Bound::bind(path),
        }
    }

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

/// The socket passed by systemd, if `LISTEN_PID` names this process: one
/// listening Unix stream socket at descriptor 3.
fn inherited(path: &Path) -> Result<Option<Bound>, SocketError> {
    use nix::sys::socket::{getsockname, getsockopt, sockopt, SockType, UnixAddr};
    use std::os::fd::{BorrowedFd, FromRawFd};

    let var = |name: &str| std::env::var(name).ok();
    if var("LISTEN_PID").and_then(|p| p.parse::<u32>().ok()) != Some(std::process::id()) {
        return Ok(None);
    }
    let err = |what: String| SocketError::Other {
        path: path.to_owned(),
        what,
    };
    let count = var("LISTEN_FDS").and_then(|n| n.parse::<u32>().ok());
    if count != Some(1) {
        return Err(err(format!(
            "systemd passed LISTEN_FDS={}: recd listens on exactly one socket",
            var("LISTEN_FDS").unwrap_or_default()
        )));
    }
    let fd = LISTEN_FDS_START;
    // SAFETY: systemd passed descriptor 3 to this process (LISTEN_PID) and
    // nothing else in the process uses it; borrowed only to inspect it.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let stream = getsockopt(&borrowed, sockopt::SockType) == Ok(SockType::Stream);
    let listening = getsockopt(&borrowed, sockopt::AcceptConn) == Ok(true);
    let name = getsockname::<UnixAddr>(fd).ok();
    let Some(bound_path) = name
        .as_ref()
        .and_then(|a| a.path())
        .filter(|_| stream && listening)
    else {
        return Err(err(format!(
            "the descriptor systemd passed (LISTEN_FDS) is not a listening Unix stream socket \
             bound to a path (type {:?}, listening {:?}, address {:?})",
            getsockopt(&borrowed, sockopt::SockType),
            getsockopt(&borrowed, sockopt::AcceptConn),
            name
        )));
    };
    if bound_path != path {
        tracing::warn!(
            "systemd passed the socket {}, while daemon.socket is {}: recctl finds the \
             daemon through daemon.socket",
            bound_path.display(),
            path.display()
        );
    }
    // SAFETY: as above; from here the listener owns the descriptor.
    let listener = unsafe { std::os::unix::net::UnixListener::from_raw_fd(fd) };
    let setup = || -> std::io::Result<tokio::net::UnixListener> {
        nix::fcntl::fcntl(
            &listener,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        )?;
        listener.set_nonblocking(true)?;
        tokio::net::UnixListener::from_std(listener)
    };
    let listener =
        setup().map_err(|e| err(format!("cannot use the socket systemd passed: {e}")))?;
    tracing::info!(
        "serving on the socket systemd passed ({})",
        bound_path.display()
    );
    Ok(Some(Bound {
        listener,
        ours: Ours {
            path: bound_path.to_owned(),
            id: None,
        },
    }))
}

impl Ours {
    /// Remove the socket file if it is still the one we bound (never one
    /// systemd passed).
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
