//! `recctl`: argument parsing, then the library does the work.

use clap::Parser;

fn main() -> std::process::ExitCode {
    recd::ctl::run(recd::ctl::Cli::parse())
}
