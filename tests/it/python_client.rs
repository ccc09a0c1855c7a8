//! The Python client (clients/python) against the real daemon: installed
//! by pip into a fresh venv, its unittest suite run on the daemon's socket
//! and on its HTTP API (over TLS, with a token).
//! The suite fails this test when one of its tests fails, and its output is
//! printed either way.
//!
//! Where python3 (3.9 or newer) or its venv module is missing the test says
//! SKIPPED, unless RECD_REQUIRE_PYTHON is set, as .ci/run sets it. pip
//! fetches the build backend (setuptools) from PyPI.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::helper;

use helper::daemon::{Daemon, Setup};

fn client_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/python")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The package's files without what a build leaves beside them.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "build" || name == "__pycache__" || name.ends_with(".egg-info") {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &to.join(&name));
        } else {
            std::fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}

/// The python of a new venv in `dir` with the client installed, or None
/// (saying why) where this machine cannot make one.
fn venv_with_client(test: &str, dir: &Path) -> Option<PathBuf> {
    let skip = |why: String| {
        assert!(
            std::env::var_os("RECD_REQUIRE_PYTHON").is_none(),
            "{test}: RECD_REQUIRE_PYTHON is set but {why}"
        );
        println!("SKIPPED {test}: {why}");
        None
    };
    let version_ok = Command::new("python3")
        .args(["-c", "import sys; sys.exit(sys.version_info < (3, 9))"])
        .status();
    match version_ok {
        Err(e) => return skip(format!("python3 cannot be run ({e})")),
        Ok(s) if !s.success() => return skip("python3 is older than 3.9".into()),
        Ok(_) => {}
    }
    let venv = dir.join("venv");
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .expect("python3 runs");
    if !made.status.success() {
        return skip(format!(
            "`python3 -m venv` fails (Debian: apt-get install python3-venv): {}",
            text(&made).trim()
        ));
    }
    // Installed from a copy, so that the build leaves nothing in the checkout.
    let source = dir.join("recd-client");
    copy_tree(&client_dir(), &source);
    let python = venv.join("bin/python");
    let pip = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .arg(&source)
        .output()
        .expect("pip runs");
    assert!(
        pip.status.success(),
        "pip install clients/python failed:\n{}",
        text(&pip)
    );
    Some(python)
}

#[test]
fn python_client_passes_its_suite_against_the_daemon() {
    let test = "python_client_passes_its_suite_against_the_daemon";
    let dir = tempfile::tempdir().unwrap();
    let Some(python) = venv_with_client(test, dir.path()) else {
        return;
    };
    let installed = Command::new(&python)
        .args([
            "-c",
            "import importlib.metadata as m, recd_client; print(m.version('recd-client'), recd_client.__version__)",
        ])
        .output()
        .unwrap();
    assert!(installed.status.success(), "{}", text(&installed));
    let versions = String::from_utf8_lossy(&installed.stdout);
    let versions: Vec<&str> = versions.split_whitespace().collect();
    assert_eq!(versions.len(), 2, "{versions:?}");
    assert_eq!(versions[0], versions[1], "the package and module versions");
    // One exception class per error code of the protocol, no more, no less.
    let codes = Command::new(&python)
        .args([
            "-c",
            "from recd_client.errors import _BY_CODE; print(' '.join(sorted(_BY_CODE)))",
        ])
        .output()
        .unwrap();
    assert!(codes.status.success(), "{}", text(&codes));
    let theirs = String::from_utf8_lossy(&codes.stdout).trim().to_owned();
    let mut ours: Vec<&str> = <recd::protocol::ErrorCode as strum::IntoEnumIterator>::iter()
        .map(|c| c.as_str())
        .collect();
    ours.sort_unstable();
    assert_eq!(
        theirs,
        ours.join(" "),
        "the client's error classes and the protocol's codes"
    );

    // A short idle timeout, so that the suite sees the daemon close a
    // connection and the client open a new one.
    // The HTTP API over TLS with a self-signed certificate, every request
    // with a token (none is given to loopback).
    let key = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let cafile = dir.path().join("cert.pem");
    let key_file = dir.path().join("key.pem");
    std::fs::write(&cafile, key.cert.pem()).unwrap();
    std::fs::write(&key_file, key.key_pair.serialize_pem()).unwrap();
    let address: std::net::SocketAddr = format!("127.0.0.1:{}", crate::http::free_port())
        .parse()
        .unwrap();
    let tls = format!(
        "loopback_scopes = []\ntls_cert = \"{}\"\ntls_key = \"{}\"",
        cafile.display(),
        key_file.display()
    );
    let sections = crate::http::section(address, &tls);
    let d = Daemon::start_setup(&Setup {
        daemon_keys: "idle_timeout_secs = 2",
        sections: &sections,
        ..Setup::default()
    });
    d.wait_db();
    // Run from the temp dir with the venv's python, so the suite imports
    // the installed package, not the checkout's source.
    let suite = Command::new(&python)
        .args(["-m", "unittest", "discover", "-v", "-s"])
        .arg(client_dir().join("tests"))
        .current_dir(dir.path())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("RECD_SOCKET", d.socket())
        .env("RECD_TEST_USER", "ml:1")
        .env("RECD_IDLE_TIMEOUT", "2")
        .env("RECD_HTTP_URL", format!("https://{address}"))
        .env("RECD_HTTP_TOKEN", crate::http::ADMIN)
        .env("RECD_HTTP_CAFILE", &cafile)
        .env("RECD_HTTP_READ_TOKEN", crate::http::READER)
        .output()
        .expect("the venv's python runs");
    let output = text(&suite);
    println!("{output}");
    assert!(
        suite.status.success(),
        "the Python client's tests failed (output above)"
    );
    assert!(
        !output.contains("Ran 0 tests"),
        "the Python suite ran no test"
    );
}
