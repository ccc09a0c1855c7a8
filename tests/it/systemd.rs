//! What the systemd units rely on: `recd check-config` (ExecStartPre=), the
//! directories systemd passes (`RUNTIME_DIRECTORY`, `STATE_DIRECTORY`,
//! `LOGS_DIRECTORY`, `CONFIGURATION_DIRECTORY`) filling the paths a config
//! leaves unset, and a listening socket passed by `recd.socket`
//! (`LISTEN_FDS`), served and never removed, so clients connect through a
//! restart.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helper::{Fixture, Run};

const SMALL: &str = "[training]\nn_factors = 8\nn_epochs = 10\nthreads = 2\n";

fn check_config(args: &[&str], env: &[(&str, &Path)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_recd"));
    cmd.arg("check-config").args(args).env_remove("RECD_CONFIG");
    for var in [
        "RUNTIME_DIRECTORY",
        "STATE_DIRECTORY",
        "LOGS_DIRECTORY",
        "CONFIGURATION_DIRECTORY",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("recd runs").into()
}

/// A config naming every path inside the fixture.
fn full_config(f: &Fixture) -> std::path::PathBuf {
    let path = f.path().join("recd.toml");
    std::fs::write(
        &path,
        "[paths]\nstate_dir = \"state\"\nmodels_dir = \"models\"\ndataset = \"data\"\n\
         dataset_url = \"\"\n[daemon]\nsocket = \"run/recd.sock\"\nadmin_group = \"\"\n\
         [logging]\ndir = \"logs\"\n",
    )
    .unwrap();
    path
}

#[test]
fn check_config_passes_a_usable_config_and_names_each_path() {
    let f = Fixture::new();
    let config = full_config(&f);
    let r = check_config(&["--config", config.to_str().unwrap()], &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    for key in [
        "paths.state_dir",
        "paths.models_dir",
        "logging.dir",
        "daemon.socket",
        "paths.dataset",
    ] {
        assert!(
            r.stdout
                .lines()
                .any(|l| l.starts_with("ok") && l.contains(key)),
            "{key}: {}",
            r.stdout
        );
    }
    assert!(r.stdout.contains("0 errors, 0 warnings"), "{}", r.stdout);
}

#[test]
fn check_config_fails_on_a_bad_key_and_warns_on_a_missing_dataset() {
    let f = Fixture::new();
    let bad = f.path().join("bad.toml");
    std::fs::write(&bad, "[daemon]\nmax_connections = 0\n").unwrap();
    let r = check_config(&["--config", bad.to_str().unwrap()], &[]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("daemon.max_connections"), "{}", r.stdout);

    let config = full_config(&f);
    std::fs::remove_dir_all(f.data()).unwrap();
    let r = check_config(&["--config", config.to_str().unwrap()], &[]);
    assert_eq!(r.code, 0, "a missing dataset is a warning: {}", r.stdout);
    assert!(
        r.stdout.lines().any(|l| l.starts_with("warning")
            && l.contains("paths.dataset")
            && l.contains("ratings.dat")),
        "{}",
        r.stdout
    );
}

#[test]
fn check_config_fails_where_the_user_cannot_write() {
    if !nix::unistd::Uid::effective().is_root() {
        println!("SKIPPED: needs root to run the check as another user");
        return;
    }
    let f = Fixture::new();
    let config = full_config(&f);
    // nobody may read the config and enter the fixture, not write in it.
    std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_recd"))
        .args(["check-config", "--config", config.to_str().unwrap()])
        .env_remove("RECD_CONFIG")
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let r = Run::from(out);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.lines().any(|l| l.starts_with("error")
            && l.contains("paths.state_dir")
            && l.contains("cannot create it")),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("checked as nobody"), "{}", r.stdout);
}

#[test]
fn check_config_reads_the_directories_systemd_passes() {
    let f = Fixture::new();
    let (conf, state, run, logs) = (
        f.path().join("etc"),
        f.path().join("lib"),
        f.path().join("run"),
        f.path().join("log"),
    );
    std::fs::create_dir(&conf).unwrap();
    // The config names the dataset only; `recd.toml` in the
    // configuration directory is found without --config.
    let dataset = f.data();
    std::fs::write(
        conf.join("recd.toml"),
        format!("[paths]\ndataset = \"{}\"\n", dataset.display()),
    )
    .unwrap();
    let r = check_config(
        &[],
        &[
            ("CONFIGURATION_DIRECTORY", &conf),
            ("STATE_DIRECTORY", &state),
            ("RUNTIME_DIRECTORY", &run),
            ("LOGS_DIRECTORY", &logs),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    let shown = |key: &str, path: &Path| {
        r.stdout
            .lines()
            .any(|l| l.contains(key) && l.contains(&*path.to_string_lossy()))
    };
    assert!(shown("config", &conf.join("recd.toml")), "{}", r.stdout);
    assert!(shown("paths.state_dir", &state), "{}", r.stdout);
    assert!(
        shown("paths.models_dir", &state.join("models")),
        "{}",
        r.stdout
    );
    assert!(shown("logging.dir", &logs), "{}", r.stdout);
    assert!(shown("daemon.socket", &run), "{}", r.stdout);
    assert!(shown("database", &state), "{}", r.stdout);
}

fn wait_for(what: &str, ok: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn health(socket: &Path) -> serde_json::Value {
    recd::client::Client::connect(socket)
        .unwrap()
        .call_json("health", serde_json::json!({}))
        .unwrap()
}

fn stop(mut child: Child) {
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn the_daemon_takes_its_paths_from_the_directories_systemd_passes() {
    let f = Fixture::new();
    let (state, run, logs) = (
        f.path().join("lib"),
        f.path().join("run"),
        f.path().join("log"),
    );
    let (data, models) = (f.data(), state.join("models"));
    crate::helper::recd(&[
        "train",
        "--dataset",
        data.to_str().unwrap(),
        "--models-dir",
        models.to_str().unwrap(),
        "--no-database",
        "--factors",
        "8",
        "--epochs",
        "10",
    ])
    .ok();
    let config = f.path().join("recd.toml");
    std::fs::write(
        &config,
        format!(
            "[paths]\ndataset = \"data\"\ndataset_url = \"\"\n[daemon]\nadmin_group = \"\"\n{SMALL}"
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_recd"))
        .arg("--config")
        .arg(&config)
        .env_remove("RECD_CONFIG")
        .env_remove("NOTIFY_SOCKET")
        .env("STATE_DIRECTORY", &state)
        .env("RUNTIME_DIRECTORY", &run)
        .env("LOGS_DIRECTORY", &logs)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let socket = run.join("recd.sock");
    wait_for("the socket in RUNTIME_DIRECTORY", || {
        UnixStream::connect(&socket).is_ok()
    });
    assert_eq!(health(&socket)["status"], "ok");
    wait_for("the database in STATE_DIRECTORY", || {
        state.join("recd.db").exists()
    });
    wait_for("a log file in LOGS_DIRECTORY", || {
        std::fs::read_dir(&logs).is_ok_and(|mut d| d.next().is_some())
    });
    stop(child);
    assert!(
        !socket.exists(),
        "a socket the daemon bound is removed at exit"
    );
}

/// `recd` with `fd` as descriptor 3 and `LISTEN_PID`/`LISTEN_FDS` naming
/// it, as systemd starts a socket-activated service.
fn activated(config: &Path, fd: std::os::fd::RawFd) -> Command {
    let mut cmd = Command::new("/bin/sh");
    cmd.args([
        "-c",
        "LISTEN_PID=$$ LISTEN_FDS=1 exec \"$0\" --config \"$1\"",
        env!("CARGO_BIN_EXE_recd"),
        config.to_str().unwrap(),
    ])
    .env_remove("RECD_CONFIG")
    .env_remove("NOTIFY_SOCKET");
    // SAFETY: dup2 and fcntl are async-signal-safe; the child only moves a
    // descriptor.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto itself would keep close-on-exec: clear it anyway.
            if libc::dup2(fd, 3) < 0 || libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd
}

fn spawn_activated(config: &Path, listener: &UnixListener) -> Child {
    use std::os::fd::AsRawFd;
    activated(config, listener.as_raw_fd())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn a_socket_systemd_passes_is_served_kept_and_queues_clients_through_a_restart() {
    let f = Fixture::new();
    f.train(&[]).ok();
    let socket = f.path().join("recd.sock");
    let config = f.path().join("recd.toml");
    std::fs::write(
        &config,
        format!(
            "[paths]\nmodels_dir = \"models\"\nstate_dir = \"state\"\ndataset = \"data\"\n\
             dataset_url = \"\"\n[daemon]\nsocket = \"recd.sock\"\nadmin_group = \"\"\n\
             [logging]\ndir = \"logs\"\n{SMALL}"
        ),
    )
    .unwrap();
    // The socket unit's socket: made by "systemd" (this test), kept by it.
    let listener = UnixListener::bind(&socket).unwrap();

    let first = spawn_activated(&config, &listener);
    wait_for("a reply on the passed socket", || {
        recd::client::Client::connect(&socket)
            .ok()
            .and_then(|mut c| c.call_json("health", serde_json::json!({})).ok())
            .is_some_and(|h| h["status"] == "ok")
    });
    stop(first);
    assert!(socket.exists(), "the daemon removed a socket systemd owns");

    // Between two daemons a client connects (the kernel queues it) and
    // its request is answered by the next one.
    let waiting = {
        let socket = socket.clone();
        // Bounded: a reply that never comes fails the test, not hangs it.
        std::thread::spawn(move || {
            crate::helper::daemon::raw_exchange(&socket, b"{\"method\":\"health\"}\n", 1).remove(0)
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    assert!(!waiting.is_finished(), "answered with no daemon running");
    let second = spawn_activated(&config, &listener);
    let reply = waiting.join().expect("the queued client is answered");
    assert_eq!(reply["result"]["status"], "ok", "{reply}");
    stop(second);
    assert!(socket.exists());
}

#[test]
fn a_passed_descriptor_that_is_not_a_listening_socket_is_refused() {
    let f = Fixture::new();
    let config = f.path().join("recd.toml");
    std::fs::write(
        &config,
        "[paths]\nstate_dir = \"state\"\nmodels_dir = \"models\"\ndataset = \"data\"\n\
         dataset_url = \"\"\n[daemon]\nsocket = \"recd.sock\"\nadmin_group = \"\"\n\
         [logging]\ndir = \"\"\n",
    )
    .unwrap();
    // A bound socket that does not listen.
    let path = f.path().join("other.sock");
    let datagram = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    use std::os::fd::AsRawFd;
    let r = Run::from(activated(&config, datagram.as_raw_fd()).output().unwrap());
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("not a listening Unix stream socket"),
        "{}",
        r.stderr
    );
}
