//! `recd restore FILE`: put a backup in place of the SQLite ratings
//! database, with the daemon stopped.

use std::path::{Path, PathBuf};

use super::{print_json, CmdResult};
use crate::config::Config;
use crate::store::Target;

pub fn restore(config: Option<PathBuf>, file: &Path, json: bool) -> CmdResult {
    let cfg = Config::locate(config.as_deref()).map_err(|e| e.to_string())?;
    let db = match &cfg.database.target {
        Target::Sqlite(path) => path.clone(),
        target @ Target::Postgres(_) => {
            return Err(format!(
                "the ratings database is PostgreSQL ({}): restore a pg_dump archive with \
                 pg_restore (docs/operations.md, \"Backups\")",
                target.display()
            )
            .into())
        }
    };
    // A daemon serving from the database would go on with the file it has
    // open and write into the old one's log.
    let socket = &cfg.daemon.socket;
    if std::os::unix::net::UnixStream::connect(socket).is_ok() {
        return Err(format!(
            "a daemon answers on {}: stop it first (systemctl stop recd.socket recd.service)",
            socket.display()
        )
        .into());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let done = runtime
        .block_on(crate::store::restore::restore(file, &db))
        .map_err(|e| format!("cannot restore {}: {e}", file.display()))?;
    if json {
        return print_json(&done);
    }
    let i = &done.info;
    println!(
        "restored {} to {}: {} ratings of {} users, schema version {} ({} bytes)",
        file.display(),
        db.display(),
        i.ratings,
        i.users,
        i.schema_version,
        i.bytes
    );
    match &done.previous {
        Some(p) => println!("the database it replaced is kept as {}", p.display()),
        None => println!("there was no database before"),
    }
    if done.erasures_carried > 0 {
        println!(
            "{} users erased after the backup was taken stay erased (their ratings deleted again)",
            done.erasures_carried
        );
    }
    Ok(())
}
