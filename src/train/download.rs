//! Fetching the base dataset on first start: download the MovieLens 1M
//! archive, check its MD5, unpack it into the dataset directory.
//!
//! Nothing partial is ever left where the dataset belongs: the archive is
//! written to a temp file beside the target, unpacked into a temp directory,
//! and renamed into place only when complete. Only the files a MovieLens
//! directory has are extracted, by their base names, so an archive cannot
//! write anywhere else.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use md5::{Digest, Md5};

const WANTED: [&str; 6] = [
    "ratings.dat",
    "movies.dat",
    "users.dat",
    "README",
    "ratings.csv",
    "movies.csv",
];

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("downloading {url} failed: {what}")]
    Http { url: String, what: String },
    #[error("{url}: MD5 {got} does not match the expected {expected}; the file was discarded")]
    Checksum {
        url: String,
        expected: String,
        got: String,
    },
    #[error("{url}: not a usable MovieLens archive: {what}")]
    Archive { url: String, what: String },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> DownloadError + '_ {
    move |source| DownloadError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Download `url` into `dest` (which must not exist yet), checking `md5`
/// (lower-case hex). `progress(bytes, total)` is called as data arrives.
pub fn fetch(
    url: &str,
    md5: &str,
    dest: &Path,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<(), DownloadError> {
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(io_err(parent))?;
    let tag = format!(".recd-download-{}", std::process::id());
    let archive = parent.join(format!("{tag}.zip"));
    let unpack = parent.join(format!("{tag}.d"));
    let result = download(url, md5, &archive, progress)
        .and_then(|()| unpack_into(url, &archive, &unpack, dest));
    let _ = fs::remove_file(&archive);
    let _ = fs::remove_dir_all(&unpack);
    result
}

fn download(
    url: &str,
    md5: &str,
    to: &Path,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<(), DownloadError> {
    let http = |what: String| DownloadError::Http {
        url: url.to_owned(),
        what,
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(20)))
        .timeout_recv_body(Some(Duration::from_secs(60)))
        .build()
        .into();
    let mut response = agent.get(url).call().map_err(|e| http(e.to_string()))?;
    let total = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let mut body = response.body_mut().with_config().limit(1 << 30).reader();
    let mut out = File::create(to).map_err(io_err(to))?;
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut done = 0u64;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(http(e.to_string())),
        };
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(io_err(to))?;
        done += n as u64;
        progress(done, total);
    }
    out.sync_all().map_err(io_err(to))?;
    let got: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if !got.eq_ignore_ascii_case(md5) {
        return Err(DownloadError::Checksum {
            url: url.to_owned(),
            expected: md5.to_owned(),
            got,
        });
    }
    Ok(())
}

fn unpack_into(url: &str, archive: &Path, unpack: &Path, dest: &Path) -> Result<(), DownloadError> {
    let bad = |what: String| DownloadError::Archive {
        url: url.to_owned(),
        what,
    };
    let file = File::open(archive).map_err(io_err(archive))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| bad(e.to_string()))?;
    let _ = fs::remove_dir_all(unpack);
    fs::create_dir_all(unpack).map_err(io_err(unpack))?;
    let mut found = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| bad(e.to_string()))?;
        if !entry.is_file() {
            continue;
        }
        let Ok(raw) = entry.name() else { continue };
        let Some(name) = Path::new(raw.as_ref())
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_owned)
        else {
            continue;
        };
        if !WANTED.contains(&name.as_str()) || found.contains(&name) {
            continue;
        }
        let path = unpack.join(&name);
        let mut out = File::create(&path).map_err(io_err(&path))?;
        io::copy(&mut entry, &mut out).map_err(|e| bad(format!("{name}: {e}")))?;
        out.sync_all().map_err(io_err(&path))?;
        found.push(name);
    }
    if !found
        .iter()
        .any(|n| n == "ratings.dat" || n == "ratings.csv")
    {
        return Err(bad("it has no ratings.dat".into()));
    }
    fs::rename(unpack, dest).map_err(io_err(dest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_servers_are_errors_that_leave_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        // A port nobody listens on: bind one, note it, close it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dest = dir.path().join("ml-1m");
        let e = fetch(
            &format!("http://127.0.0.1:{port}/ml-1m.zip"),
            "00",
            &dest,
            &mut |_, _| {},
        )
        .unwrap_err();
        assert!(
            e.to_string().starts_with(&format!(
                "downloading http://127.0.0.1:{port}/ml-1m.zip failed"
            )),
            "{e}"
        );
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
