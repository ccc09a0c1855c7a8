//! The claims of docs/security.md that no other suite checks: the socket's
//! mode, the record of admin requests, and secrets kept out of logs and
//! replies.

use crate::helper;

use std::os::unix::fs::PermissionsExt;

use helper::daemon::{Daemon, Setup};
use serde_json::json;

#[test]
fn the_socket_is_0660_and_admin_requests_are_logged_with_the_peer() {
    let d = Daemon::start();
    let mode = std::fs::metadata(d.socket()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o660, "{mode:o}");
    d.call("reload", json!({})).unwrap();
    // The log is written by a background thread: give it a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let line = loop {
        let log = d.log_text();
        if let Some(l) = log
            .lines()
            .find(|l| l.contains("admin request") && l.contains("reload"))
        {
            break l.to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no admin request logged:\n{log}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let pid = std::process::id();
    assert!(
        line.contains(&format!("uid={}", nix::unistd::geteuid().as_raw())),
        "{line}"
    );
    assert!(line.contains(&format!("pid={pid}")), "{line}");
}

#[test]
fn a_database_password_is_never_logged_or_shown() {
    let Some(pg) = helper::pg::Postgres::start("a_database_password_is_never_logged_or_shown")
    else {
        return;
    };
    let url = pg.new_database("secret");
    // The server trusts local connections, so any password is accepted.
    let in_user = url.replacen("recd@", "recd:Hunter2InUser@", 1);
    let in_query = format!("{url}&password=Hunter2InQuery");
    for (url, secret) in [(in_user, "Hunter2InUser"), (in_query, "Hunter2InQuery")] {
        let setup = Setup {
            dataset_keys: &format!(
                "dataset = \"data\"\ndataset_url = \"\"\n[database]\nurl = \"{url}\""
            ),
            ..Setup::default()
        };
        let mut d = Daemon::start_setup(&setup);
        d.wait_db();
        let mut shown = String::new();
        for method in ["health", "stats", "models"] {
            shown += &d.call(method, json!({})).unwrap().to_string();
        }
        shown += &d.recctl(&["stats"]).ok().stdout;
        // A failure names the database too: stop it and ask again.
        assert_eq!(d.stop(), 0);
        shown += &d.log_text();
        assert!(shown.contains("postgresql"), "the target is shown: {shown}");
        assert!(!shown.contains(secret), "{secret} shown:\n{shown}");
    }
}
