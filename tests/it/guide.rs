//! Every command of the operations guide (docs/operations.md) runs: its
//! `sh` blocks are run in order by bash against a real daemon, with the
//! guide's placeholders in capitals (and the packaged config's path)
//! replaced by the test daemon's values; blocks marked
//! `sh systemd` need a running systemd and may hold only `systemctl` and
//! `journalctl` commands.

use std::path::Path;
use std::process::Command;

use crate::helper::daemon::Daemon;
use crate::helper::Run;

/// A fenced block: its info string and its lines, unindented.
struct Block {
    info: String,
    line: usize,
    commands: Vec<String>,
}

fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim_start();
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => {
                open = Some(Block {
                    info: info.trim().to_owned(),
                    line: n + 1,
                    commands: Vec::new(),
                })
            }
            (Some(_), Some(_)) => out.extend(open.take()),
            (Some(b), None) => {
                let command = line.split(" #").next().unwrap_or("").trim();
                if !command.is_empty() && !command.starts_with('#') {
                    b.commands.push(command.to_owned());
                }
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "an unclosed block");
    out
}

/// `command` with each placeholder replaced.
fn fill(command: &str, values: &[(&str, &str)]) -> String {
    values
        .iter()
        .fold(command.to_owned(), |c, (k, v)| c.replace(k, v))
}

#[test]
fn the_guides_commands_run() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/operations.md"))
            .unwrap();
    let d = Daemon::start();
    d.wait_db();
    // A backup to roll back to: the version serving now, once the next
    // is published.
    let backup = d.version().expect("a model serves");
    let newer = d.publish(&[]);
    d.recctl(&["reload", "--wait"]).ok();
    assert_eq!(d.version().as_deref(), Some(newer.as_str()));
    let (config, models) = (d.config(), d.models());
    let values = [
        ("USER", "ml:1"),
        ("MOVIE", "1"),
        ("VERSION", backup.as_str()),
        // The packaged config, where the guide names it.
        ("/etc/recd/recd.toml", config.to_str().unwrap()),
        ("/var/lib/recd/models", models.to_str().unwrap()),
    ];
    let bin = Path::new(env!("CARGO_BIN_EXE_recd")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let (mut ran, mut systemd) = (0, 0);
    for block in blocks(&text) {
        match block.info.as_str() {
            "sh" => {}
            "sh systemd" => {
                for c in &block.commands {
                    assert!(
                        c.starts_with("systemctl ") || c.starts_with("journalctl "),
                        "docs/operations.md:{}: `{c}` is marked as needing systemd",
                        block.line
                    );
                    systemd += 1;
                }
                continue;
            }
            _ => continue,
        }
        // One script a block: a `cd` holds for the lines after it.
        let script = fill(&block.commands.join("\n"), &values);
        let r = Run::from(
            Command::new("bash")
                .args(["-euo", "pipefail", "-c", &script])
                .current_dir(d.fixture.path())
                .env("PATH", &path)
                .env("RECD_CONFIG", d.config())
                .env_remove("RECD_SOCKET")
                .output()
                .unwrap(),
        );
        assert_eq!(
            r.code, 0,
            "docs/operations.md:{}: the block exited {}:\n{script}\nstdout: {}\nstderr: {}",
            block.line, r.code, r.stdout, r.stderr
        );
        ran += block.commands.len();
    }
    println!("the operations guide: {ran} commands run, {systemd} need systemd");
    assert!(ran >= 10, "only {ran} commands found");
}
