//! A private PostgreSQL server for tests: `initdb` and `pg_ctl` from the
//! machine's PostgreSQL install (Debian's `postgresql` package), a data
//! directory in a temp dir, listening only on a Unix socket in that dir.
//! Stopped (and removed) on drop.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// The uid and gid the server runs as, when the tests run as root
    /// (PostgreSQL refuses to).
    owner: Option<(u32, u32)>,
}

/// Where `initdb` is: on the PATH, else the newest /usr/lib/postgresql/N/bin.
fn find_bin() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            // Through a symlink to the install's own bin dir, where the
            // other tools are.
            if let Ok(initdb) = dir.join("initdb").canonicalize() {
                if let Some(bin) = initdb.parent().filter(|b| b.join("createdb").is_file()) {
                    return Some(bin.to_owned());
                }
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn user_ids(name: &str) -> Option<(u32, u32)> {
    let user = nix::unistd::User::from_name(name).ok()??;
    Some((user.uid.as_raw(), user.gid.as_raw()))
}

impl Postgres {
    /// A running server, or None (saying so) where PostgreSQL is not
    /// installed.
    pub fn start(test: &str) -> Option<Postgres> {
        let Some(bin) = find_bin() else {
            assert!(
                std::env::var_os("RECD_REQUIRE_POSTGRES").is_none(),
                "{test}: RECD_REQUIRE_POSTGRES is set but PostgreSQL is not installed"
            );
            println!("SKIPPED {test}: PostgreSQL is not installed (no initdb on the PATH or under /usr/lib/postgresql)");
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let owner = if nix::unistd::geteuid().is_root() {
            Some(
                user_ids("postgres")
                    .or_else(|| user_ids("nobody"))
                    .expect("a user to run PostgreSQL as"),
            )
        } else {
            None
        };
        if let Some((uid, gid)) = owner {
            nix::unistd::chown(
                dir.path(),
                Some(nix::unistd::Uid::from_raw(uid)),
                Some(nix::unistd::Gid::from_raw(gid)),
            )
            .expect("chown the temp dir");
        }
        let pg = Postgres { dir, bin, owner };
        let out = pg
            .command("initdb")
            .args(["-A", "trust", "-U", "recd", "-E", "UTF8", "--no-sync", "-D"])
            .arg(pg.data())
            .output()
            .expect("initdb runs");
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        pg.pg_ctl_start();
        Some(pg)
    }

    fn command(&self, tool: &str) -> Command {
        let mut c = Command::new(self.bin.join(tool));
        if let Some((uid, gid)) = self.owner {
            c.uid(uid).gid(gid);
        }
        c.current_dir(self.dir.path());
        c
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The install's bin dir (pg_dump, pg_restore).
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    /// (Re)start the server and wait until it accepts connections.
    pub fn pg_ctl_start(&self) {
        let opts = format!(
            "-c listen_addresses='' -k {} -c max_connections=200",
            self.socket_dir().display()
        );
        let out = self
            .command("pg_ctl")
            .args(["-w", "-t", "60", "-l"])
            .arg(self.dir.path().join("server.log"))
            .arg("-o")
            .arg(opts)
            .arg("-D")
            .arg(self.data())
            .arg("start")
            .output()
            .expect("pg_ctl runs");
        assert!(
            out.status.success(),
            "pg_ctl start: {}{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
        );
    }

    /// Stop the server at once (`immediate`: like a crash, for the tests of
    /// a database that goes away).
    pub fn stop(&self) {
        let _ = self
            .command("pg_ctl")
            .args(["-m", "immediate", "-w", "-D"])
            .arg(self.data())
            .arg("stop")
            .output();
    }

    /// The URL of a new, empty database on this server.
    pub fn new_database(&self, name: &str) -> String {
        let o = self
            .command("createdb")
            .args(["-U", "recd", "-h"])
            .arg(self.socket_dir())
            .arg(name)
            .output()
            .expect("createdb runs");
        assert!(
            o.status.success(),
            "createdb: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        self.url(name)
    }

    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://recd@localhost/{database}?host={}",
            self.socket_dir().display()
        )
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}
