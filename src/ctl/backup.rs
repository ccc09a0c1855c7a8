//! `recctl backup DEST`: the daemon's copy of the ratings database, written
//! to DEST with the caller's rights. DEST appears whole or not at all: the
//! bytes go to a temp file beside it, synced, then renamed over it.

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::{failed, Failure};
use crate::client::Client;
use crate::protocol::{BackupInfo, Request};

/// A temp file removed unless it was renamed into place.
struct Temp(Option<PathBuf>);

impl Drop for Temp {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Ask for a copy and write it to `dest`.
pub fn backup(client: &mut Client, dest: &Path) -> Result<BackupInfo, Failure> {
    let usage = |e: String| Failure::Usage(format!("{}: {e}", dest.display()));
    let failure = |e: std::io::Error| Failure::Failed(format!("{}: {e}", dest.display()));
    if dest.is_dir() {
        return Err(usage("is a directory; name the file to write".into()));
    }
    let name = dest
        .file_name()
        .ok_or_else(|| usage("names no file".into()))?;
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(".{}.tmp", std::process::id()));
    let temp_path = dir.join(temp_name);
    // It holds every user's ratings: readable by its owner only.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp_path)
        .map_err(|e| usage(format!("cannot create {}: {e}", temp_path.display())))?;
    let mut temp = Temp(Some(temp_path.clone()));
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let info: BackupInfo = client
        .call_with_trailer(&Request::Backup, |i: &BackupInfo| i.bytes, &mut out)
        .map_err(failed)?;
    let file = out.into_inner().map_err(|e| failure(e.into_error()))?;
    file.sync_all().map_err(failure)?;
    drop(file);
    std::fs::rename(&temp_path, dest).map_err(failure)?;
    temp.0 = None;
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(info)
}
