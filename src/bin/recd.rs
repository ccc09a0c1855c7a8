//! `recd`: argument parsing, then the library does the work.

use clap::Parser;

fn main() -> std::process::ExitCode {
    recd::cli::run(recd::cli::Cli::parse())
}
