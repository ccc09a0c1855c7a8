//! Signals as a typed stream: a thread blocked in signal-hook's iterator
//! forwards each signal to the async side as a [`Signal`].
//!
//! Handlers themselves do nothing but record the signal (signal-hook's
//! self-pipe), so no work runs in signal context.

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use tokio::sync::mpsc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGHUP: reload the current model from disk.
    Reload,
    /// SIGTERM or SIGINT (named): shut down gracefully.
    Shutdown(&'static str),
}

/// Install the handlers and return the stream.
pub fn listen() -> std::io::Result<mpsc::Receiver<Signal>> {
    let mut signals = signal_hook::iterator::Signals::new([SIGHUP, SIGTERM, SIGINT])?;
    let (tx, rx) = mpsc::channel(16);
    std::thread::Builder::new()
        .name("recd-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                let signal = match sig {
                    SIGHUP => Signal::Reload,
                    SIGINT => Signal::Shutdown("SIGINT"),
                    _ => Signal::Shutdown("SIGTERM"),
                };
                if tx.blocking_send(signal).is_err() {
                    break;
                }
            }
        })?;
    Ok(rx)
}
