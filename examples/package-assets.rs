//! The Debian package's generated files, from the clap definitions of both
//! commands: the manual pages `recd.8` and `recctl.1`, and completions for
//! bash, zsh and fish.
//!
//! `cargo run --release --example package-assets -- OUTDIR` writes
//! `OUTDIR/man/{recd.8,recctl.1}` and `OUTDIR/completions/{bash,zsh,fish}/`;
//! `cargo deb` packages them from `target/package-assets` (docs/packaging.md).
//! It changes nothing else. The texts are the commands' own `--help`, so a
//! page cannot drift from the binary it describes.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;
use clap_mangen::roff::{bold, roman, Roff};
use clap_mangen::Man;
use recd::protocol::Method;
use strum::IntoEnumIterator;

/// What a page says beyond `--help`: sections of a heading and paragraphs,
/// each a tag and its text (an empty tag: running text).
type Extra = Vec<(&'static str, Vec<(&'static str, String)>)>;

fn recd_extra() -> Extra {
    let p = |tag, text: &str| (tag, text.to_owned());
    vec![
        (
            "FILES",
            vec![
                p("/etc/recd/recd.toml", "The configuration: every key, documented. recd reads it unless --config or $RECD_CONFIG names another."),
                p("/var/lib/recd", "State: the SQLite ratings database recd.db; models/, the versioned model files, the current symlink and the backups; datasets/ml-1m, where the first start looks for MovieLens 1M's ratings.dat and movies.dat."),
                p("/var/log/recd", "Daily log files, recd.YYYY-MM-DD.log."),
                p("/run/recd/recd.sock", "The Unix socket, mode 0660, group recd."),
                p("/usr/share/doc/recd", "The operations guide (operations.md), the protocol, the security model."),
            ],
        ),
        (
            "ENVIRONMENT",
            vec![
                p("RECD_CONFIG", "The configuration file, when --config is not given."),
                p("RUST_LOG", "Overrides logging.level, in tracing's filter syntax."),
                p("NOTIFY_SOCKET, WATCHDOG_USEC", "Set by systemd: recd reports readiness, reloads and stopping, and pings the watchdog."),
            ],
        ),
        (
            "SIGNALS",
            vec![
                p("SIGHUP", "Reload the current model from disk; a missing or corrupt file keeps the old model serving."),
                p("SIGTERM, SIGINT", "Stop accepting, finish requests in flight (up to daemon.shutdown_timeout_secs), cancel a running retrain, exit 0."),
            ],
        ),
        (
            "EXIT STATUS",
            vec![
                p("0", "Success."),
                p("1", "Failure, with one line on stderr (the daemon: in its log) saying why."),
                p("2", "Usage error."),
                p("3", "recd train --check-only: retraining is not due."),
            ],
        ),
        (
            "SEE ALSO",
            vec![p("", "recctl(1), /usr/share/doc/recd/operations.md")],
        ),
    ]
}

fn recctl_extra() -> Extra {
    let p = |tag, text: &str| (tag, text.to_owned());
    let admin: Vec<_> = Method::iter()
        .filter(|m| m.is_admin())
        .map(|m| m.name())
        .collect();
    vec![
        (
            "ENVIRONMENT",
            vec![
                p("RECD_SOCKET", "The daemon's socket, when --socket is not given."),
                p("RECD_CONFIG", "The configuration file whose daemon.socket names the socket, when --config is not given."),
            ],
        ),
        (
            "PERMISSIONS",
            vec![(
                "",
                format!(
                    "Members of the group recd may open the socket and call the read methods. \
                     The admin methods ({}) also need root, the user recd, or membership of \
                     daemon.admin_group (recd-admin by default): an admin is in both groups.",
                    admin.join(", ")
                ),
            )],
        ),
        (
            "EXIT STATUS",
            vec![
                p("0", "Success."),
                p("1", "The daemon answered with an error (recctl: CODE: message on stderr), or recctl could not do what it promised."),
                p("2", "Usage error."),
                p("3", "The daemon cannot be reached: not running, or permission denied on its socket."),
            ],
        ),
        (
            "SEE ALSO",
            vec![p("", "recd(8), /usr/share/doc/recd/protocol.md, /usr/share/doc/recd/operations.md")],
        ),
    ]
}

fn main() {
    let Some(out) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: package-assets OUTDIR");
        std::process::exit(2);
    };
    if let Err(e) = write_all(&out) {
        eprintln!("package-assets: {}: {e}", out.display());
        std::process::exit(1);
    }
}

fn write_all(out: &Path) -> std::io::Result<()> {
    let pages = [
        (
            recd::cli::Cli::command(),
            "8",
            "System Manager's Manual",
            recd_extra(),
        ),
        (
            recd::ctl::Cli::command(),
            "1",
            "User Commands",
            recctl_extra(),
        ),
    ];
    let man_dir = out.join("man");
    std::fs::create_dir_all(&man_dir)?;
    for (cmd, section, manual, extra) in pages {
        let mut cmd = cmd
            .disable_help_subcommand(true)
            .subcommand_value_name("COMMAND");
        cmd.build();
        let name = cmd.get_name().to_owned();
        let mut page = Vec::new();
        write_page(&cmd, section, manual, extra, &mut page)?;
        std::fs::write(man_dir.join(format!("{name}.{section}")), page)?;
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let dir = out.join("completions").join(shell.to_string());
            std::fs::create_dir_all(&dir)?;
            clap_complete::generate_to(shell, &mut cmd.clone(), &name, &dir)?;
        }
    }
    Ok(())
}

/// One page for the command and all its subcommands: clap_mangen's name,
/// synopsis, description and options, then a COMMANDS section with each
/// subcommand's synopsis, description and options, then `extra`. (clap_mangen's
/// own subcommand list points at one page per subcommand, which a two-page
/// package does not have.)
fn write_page(
    cmd: &clap::Command,
    section: &str,
    manual: &str,
    extra: Extra,
    w: &mut dyn Write,
) -> std::io::Result<()> {
    let version = cmd.get_version().unwrap_or_default();
    let man = Man::new(cmd.clone())
        .section(section)
        .date(page_date())
        .source(format!("recd {version}"))
        .manual(manual);
    man.render_title(w)?;
    man.render_name_section(w)?;
    man.render_synopsis_section(w)?;
    man.render_description_section(w)?;
    man.render_options_section(w)?;
    let mut roff = Roff::new();
    roff.control("SH", ["COMMANDS"]);
    roff.to_writer(w)?;
    for sub in cmd.get_subcommands() {
        write_subcommand(sub, w)?;
    }
    let mut roff = Roff::new();
    for (heading, paragraphs) in extra {
        roff.control("SH", [heading]);
        for (tag, text) in paragraphs {
            if tag.is_empty() {
                roff.control("PP", []);
            } else {
                roff.control("TP", []);
                roff.text([bold(tag)]);
            }
            roff.text([roman(text)]);
        }
    }
    roff.to_writer(w)
}

/// The build's date: $SOURCE_DATE_EPOCH's (for a reproducible package),
/// else today's.
fn page_date() -> String {
    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok());
    let at = epoch
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .unwrap_or_else(jiff::Timestamp::now);
    at.strftime("%Y-%m-%d").to_string()
}

/// A subcommand as a subsection, then its own subcommands.
fn write_subcommand(sub: &clap::Command, w: &mut dyn Write) -> std::io::Result<()> {
    if sub.is_hide_set() {
        return Ok(());
    }
    // The global options are the page's OPTIONS already, and every
    // subcommand's --help is the same.
    let repeated: Vec<_> = sub
        .get_arguments()
        .filter(|a| a.is_global_set() || a.get_id() == "help")
        .map(|a| a.get_id().clone())
        .collect();
    let mut shown = sub.clone().subcommand_value_name("COMMAND");
    for id in repeated {
        shown = shown.mut_arg(id, |a| a.hide(true));
    }
    let has_options = shown.get_arguments().any(|a| !a.is_hide_set());
    let man = Man::new(shown);
    let mut roff = Roff::new();
    roff.control("SS", [sub.get_bin_name().unwrap_or(sub.get_name())]);
    roff.to_writer(w)?;
    // The sections' bodies, each heading turned into a paragraph break:
    // this is a subsection.
    let mut body = Vec::new();
    man.render_synopsis_section(&mut body)?;
    man.render_description_section(&mut body)?;
    if has_options {
        man.render_options_section(&mut body)?;
    }
    for line in String::from_utf8_lossy(&body).lines() {
        writeln!(
            w,
            "{}",
            if line.starts_with(".SH ") {
                ".PP"
            } else {
                line
            }
        )?;
    }
    for nested in sub.get_subcommands() {
        write_subcommand(nested, w)?;
    }
    Ok(())
}
