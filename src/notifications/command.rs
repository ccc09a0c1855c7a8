//! The command: a program run with the run's JSON on stdin, no shell, its
//! output kept (bounded) for the log, killed with everything it started
//! when it overruns its timeout. It blocks; callers run it on its own
//! thread.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use super::Failure;

/// How much of stdout and stderr together is kept for the log.
pub(super) const OUTPUT_KEPT: usize = 4096;

/// How long the output is waited for once the program has ended: a process
/// it left behind may hold the pipes open.
const OUTPUT_GRACE: Duration = Duration::from_secs(1);

/// Run `argv` with `input` on stdin for at most `timeout`. Returns its
/// output (stdout, then stderr, at most [`OUTPUT_KEPT`] bytes) and whether
/// it exited 0.
pub(super) fn run(
    argv: &[String],
    input: &[u8],
    timeout: Duration,
) -> (String, Result<(), Failure>) {
    let Some((program, args)) = argv.split_first() else {
        return (String::new(), Err(Failure::Spawn("no program".into())));
    };
    let mut child = match Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so an overrun kills what it started too
        // (`sh -c` leaves its children behind otherwise).
        .process_group(0)
        .spawn()
    {
        Ok(child) => child,
        Err(e) => return (String::new(), Err(Failure::Spawn(e.to_string()))),
    };
    let pid = child.id();
    if let Some(mut stdin) = child.stdin.take() {
        let input = input.to_vec();
        // A program that ignores its stdin closes the pipe: the write
        // fails, and only its exit status counts.
        thread::spawn(move || stdin.write_all(&input));
    }
    let (out_tx, out_rx) = mpsc::channel();
    let streams: [Option<Box<dyn Read + Send>>; 2] = [
        child.stdout.take().map(|s| Box::new(s) as _),
        child.stderr.take().map(|s| Box::new(s) as _),
    ];
    for (i, stream) in streams.into_iter().enumerate() {
        if let Some(stream) = stream {
            let tx = out_tx.clone();
            thread::spawn(move || tx.send((i, drain(stream))));
        }
    }
    drop(out_tx);
    let (status_tx, status_rx) = mpsc::channel();
    thread::spawn(move || status_tx.send(child.wait()));

    let result = match status_rx.recv_timeout(timeout) {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(Failure::Exit(status.to_string())),
        Ok(Err(e)) => Err(Failure::Exit(format!("cannot wait for it: {e}"))),
        Err(RecvTimeoutError::Disconnected) => Err(Failure::Exit("cannot wait for it".into())),
        Err(RecvTimeoutError::Timeout) => {
            // Not reaped yet (the waiter has not returned), so the group
            // is still this child's.
            let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
            let _ = status_rx.recv_timeout(OUTPUT_GRACE);
            Err(Failure::Killed(timeout))
        }
    };
    (collect(&out_rx), result)
}

/// Read `stream` to its end, keeping the first [`OUTPUT_KEPT`] bytes: the
/// rest is read too, so the program never blocks on a full pipe.
fn drain(mut stream: Box<dyn Read + Send>) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let room = OUTPUT_KEPT.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    kept
}

/// stdout then stderr, as far as they arrive within the grace period,
/// trimmed and cut to [`OUTPUT_KEPT`] bytes.
fn collect(rx: &mpsc::Receiver<(usize, Vec<u8>)>) -> String {
    let mut parts = [Vec::new(), Vec::new()];
    let until = Instant::now() + OUTPUT_GRACE;
    for _ in 0..2 {
        let left = until.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((i, bytes)) => parts[i] = bytes,
            Err(_) => break,
        }
    }
    let texts: Vec<String> = parts
        .iter()
        .map(|p| String::from_utf8_lossy(p).trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect();
    let mut out = texts.join("\n");
    if out.len() > OUTPUT_KEPT {
        let mut end = OUTPUT_KEPT;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
    }
    out
}
