//! `recd check-config`: read a config as the daemon would and check that
//! the paths it names are usable by the user running the check, without
//! starting anything. systemd runs it before the daemon (`ExecStartPre=`),
//! the package after installing, operators after an edit.
//!
//! Each finding is one line: `ok`, `warning` (the daemon starts, but
//! something needs a hand: a dataset still to fetch, an admin group that
//! does not exist) or `error` (the daemon would fail). Exit 0 without
//! errors, 1 with any.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use nix::unistd::{access, AccessFlags, Group, Uid, User};

use crate::config::Config;
use crate::store::Target;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Ok,
    Warning,
    Error,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.pad(match self {
            Level::Ok => "ok",
            Level::Warning => "warning",
            Level::Error => "error",
        })
    }
}

struct Finding {
    level: Level,
    what: String,
}

#[derive(Default)]
struct Findings(Vec<Finding>);

impl Findings {
    fn push(&mut self, level: Level, what: String) {
        self.0.push(Finding { level, what });
    }

    fn count(&self, level: Level) -> usize {
        self.0.iter().filter(|f| f.level == level).count()
    }
}

/// Run the check; print the findings; the exit status says whether the
/// daemon would start.
pub fn check_config(config: Option<&Path>) -> ExitCode {
    let cfg = match Config::locate(config) {
        Ok(cfg) => cfg,
        Err(e) => {
            println!("error   config: {e}");
            return ExitCode::from(1);
        }
    };
    let user = who();
    let mut out = Findings::default();
    let source = cfg
        .source
        .as_ref()
        .map_or("built-in defaults".to_owned(), |p| p.display().to_string());
    out.push(Level::Ok, format!("config {source}: valid"));
    check(&cfg, &user, &mut out);
    for f in &out.0 {
        println!("{:<7} {}", f.level, f.what);
    }
    let (errors, warnings) = (out.count(Level::Error), out.count(Level::Warning));
    println!("checked as {user}: {errors} errors, {warnings} warnings");
    if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// The user the check runs as, for the messages.
fn who() -> String {
    let uid = Uid::current();
    match User::from_uid(uid) {
        Ok(Some(u)) => format!("{} (uid {uid})", u.name),
        _ => format!("uid {uid}"),
    }
}

fn check(cfg: &Config, user: &str, out: &mut Findings) {
    let paths = &cfg.paths;
    writable_dir(out, user, "paths.state_dir", &paths.state_dir);
    writable_dir(out, user, "paths.models_dir", &paths.models_dir);
    match &cfg.logging.dir {
        Some(dir) => writable_dir(out, user, "logging.dir", dir),
        None => out.push(Level::Ok, "logging.dir: none, stderr only".into()),
    }
    match cfg.daemon.socket.parent() {
        Some(dir) => writable_dir(out, user, "daemon.socket's directory", dir),
        None => out.push(Level::Error, "daemon.socket: names no file".into()),
    }
    match &cfg.database.target {
        Target::Sqlite(file) => database_file(out, user, file),
        target @ Target::Postgres(_) => out.push(
            Level::Ok,
            format!(
                "database.url: {} (the server is not contacted)",
                target.display()
            ),
        ),
    }
    dataset(out, cfg);
    admin_group(out, cfg.daemon.admin_group.as_deref());
    if let Some(warning) = cfg.http.loopback_warning() {
        out.push(Level::Warning, warning);
    }
    if let Some(address) = cfg.http.address {
        match crate::http::check_tls(&cfg.http) {
            Ok(scheme) => out.push(Level::Ok, format!("http.listen: {scheme}://{address}")),
            Err(e) => out.push(Level::Error, e.to_string()),
        }
    }
}

/// A directory the daemon writes in: there and writable, or creatable.
fn writable_dir(out: &mut Findings, user: &str, key: &str, dir: &Path) {
    let shown = dir.display();
    if dir.exists() {
        if !dir.is_dir() {
            return out.push(Level::Error, format!("{key} {shown}: not a directory"));
        }
        return match access(dir, AccessFlags::W_OK | AccessFlags::X_OK) {
            Ok(()) => out.push(Level::Ok, format!("{key} {shown}: writable")),
            Err(e) => out.push(
                Level::Error,
                format!("{key} {shown}: not writable by {user}: {e}"),
            ),
        };
    }
    match existing_ancestor(dir) {
        Some(parent) if access(&parent, AccessFlags::W_OK | AccessFlags::X_OK).is_ok() => out.push(
            Level::Ok,
            format!("{key} {shown}: missing, will be created"),
        ),
        Some(parent) => out.push(
            Level::Error,
            format!(
                "{key} {shown}: missing, and {user} cannot create it in {}",
                parent.display()
            ),
        ),
        None => out.push(Level::Error, format!("{key} {shown}: no such directory")),
    }
}

fn existing_ancestor(path: &Path) -> Option<PathBuf> {
    path.ancestors()
        .skip(1)
        .find(|a| a.is_dir())
        .map(Path::to_owned)
}

fn database_file(out: &mut Findings, user: &str, file: &Path) {
    let shown = file.display();
    if file.exists() {
        let rw = AccessFlags::R_OK | AccessFlags::W_OK;
        match access(file, rw) {
            Ok(()) if file.is_file() => out.push(
                Level::Ok,
                format!("database {shown}: readable and writable"),
            ),
            Ok(()) => out.push(
                Level::Error,
                format!("database {shown}: not a regular file"),
            ),
            Err(e) => out.push(
                Level::Error,
                format!("database {shown}: not readable and writable by {user}: {e}"),
            ),
        }
    }
    // SQLite writes its -wal and -shm files beside the database.
    if let Some(dir) = file.parent() {
        writable_dir(out, user, "database's directory", dir);
    }
}

fn dataset(out: &mut Findings, cfg: &Config) {
    let dir = &cfg.paths.dataset;
    let missing: Vec<&str> = ["ratings.dat", "movies.dat"]
        .into_iter()
        .filter(|f| access(&dir.join(f), AccessFlags::R_OK).is_err())
        .collect();
    let shown = dir.display();
    if missing.is_empty() {
        return out.push(Level::Ok, format!("paths.dataset {shown}: readable"));
    }
    let what = format!(
        "paths.dataset {shown}: no readable {}",
        missing.join(" or ")
    );
    match &cfg.paths.dataset_url {
        Some(url) => out.push(
            Level::Warning,
            format!("{what}; the daemon will download {url} there"),
        ),
        None => out.push(
            Level::Warning,
            format!(
                "{what}; put MovieLens 1M's ratings.dat and movies.dat there \
                 (paths.dataset_url is off)"
            ),
        ),
    }
}

fn admin_group(out: &mut Findings, group: Option<&str>) {
    let Some(name) = group else {
        return out.push(
            Level::Ok,
            "daemon.admin_group: none; admin methods are root's and the daemon user's".into(),
        );
    };
    match Group::from_name(name) {
        Ok(Some(g)) => out.push(
            Level::Ok,
            format!("daemon.admin_group {name}: gid {}", g.gid),
        ),
        _ => out.push(
            Level::Warning,
            format!(
                "daemon.admin_group {name}: no such group; admin methods are root's and the \
                 daemon user's only"
            ),
        ),
    }
}
