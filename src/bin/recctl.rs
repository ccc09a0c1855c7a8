//! `recctl`: argument parsing, then the library does the work.

use clap::Parser;

fn main() -> std::process::ExitCode {
    // Output into a closed pipe (`recctl models | head -1`) ends recctl
    // quietly, as it ends any Unix tool; Rust's runtime ignores SIGPIPE.
    // SAFETY: restoring a signal's default disposition at startup, before
    // any other thread exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    recd::ctl::run(recd::ctl::Cli::parse())
}
