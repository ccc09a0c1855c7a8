//! `recctl`: the command-line client of the recd daemon.

use clap::Parser;

/// Command-line client of the recd daemon. It talks to a running daemon over
/// its Unix socket; the daemon does not serve clients in this release, so
/// recctl has no commands yet.
#[derive(Debug, Parser)]
#[command(name = "recctl", version, arg_required_else_help = true)]
struct Cli {}

fn main() {
    Cli::parse();
}
