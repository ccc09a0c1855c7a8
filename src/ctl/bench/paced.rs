//! Paced load from one thread: every connection sends on its own fixed
//! schedule (whether or not its previous reply is in: the daemon answers
//! pipelined requests in order), and one epoll wait sleeps until the next
//! reply or the next due request, which a timerfd marks to the
//! microsecond (epoll's own timeout counts milliseconds). One thread, not
//! a thread per connection, so that the load generator costs the shared
//! cores as little as it can.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};

use super::requests::{record, RequestGen, Sample, Shape};
use super::Failure;
use crate::protocol::Method;

/// The epoll token of the timer; connections are 0..n.
const TIMER: u64 = u64::MAX;

/// One paced bench connection.
struct Conn {
    stream: UnixStream,
    gen: RequestGen,
    /// When its next request is due.
    next: Instant,
    /// Bytes not yet written into the socket.
    out: Vec<u8>,
    /// Bytes read and not yet a whole line.
    got: Vec<u8>,
    /// Requests sent and not answered, oldest first: method, send time,
    /// expected reply prefix.
    waiting: VecDeque<(usize, Instant, String)>,
    open: bool,
}

fn os(what: &str) -> impl Fn(nix::Error) -> Failure + '_ {
    move |e| Failure::Unreachable(format!("bench: {what}: {e}"))
}

pub fn run(
    socket: &Path,
    connections: usize,
    methods: &[Method],
    shape: &Shape,
    gap: Duration,
    until: Instant,
) -> Result<Vec<Vec<Sample>>, Failure> {
    // Wake-ups within a microsecond of the deadline, not the default 50 µs
    // of timer slack. Only a finer schedule is lost if it is refused.
    let _ = nix::sys::prctl::set_timerslack(1);
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(os("epoll_create1"))?;
    let timer = TimerFd::new(
        ClockId::CLOCK_MONOTONIC,
        TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
    )
    .map_err(os("timerfd_create"))?;
    epoll
        .add(&timer, EpollEvent::new(EpollFlags::EPOLLIN, TIMER))
        .map_err(os("epoll_ctl"))?;
    let start = Instant::now();
    let mut conns = Vec::with_capacity(connections);
    for t in 0..connections {
        let unreachable =
            |e: std::io::Error| Failure::Unreachable(format!("bench connection {t}: {e}"));
        let stream = UnixStream::connect(socket).map_err(unreachable)?;
        stream.set_nonblocking(true).map_err(unreachable)?;
        epoll
            .add(&stream, EpollEvent::new(EpollFlags::EPOLLIN, t as u64))
            .map_err(os("epoll_ctl"))?;
        conns.push(Conn {
            stream,
            gen: RequestGen::new(t as u64, shape),
            // Spread over one gap, then each keeps its own schedule.
            next: start + gap.mul_f64(t as f64 / connections as f64),
            out: Vec::with_capacity(4096),
            got: Vec::with_capacity(64 * 1024),
            waiting: VecDeque::new(),
            open: true,
        });
    }
    let mut samples: Vec<Vec<Sample>> = conns
        .iter()
        .map(|_| methods.iter().map(|_| Sample::default()).collect())
        .collect();
    let mut buf = vec![0u8; 64 * 1024];
    let mut events = vec![EpollEvent::empty(); connections + 1];
    // After the run, replies still on their way get this long.
    let drain_until = until + Duration::from_secs(2);
    loop {
        let now = Instant::now();
        let sending = now < until;
        if !sending && (now >= drain_until || conns.iter().all(|c| c.waiting.is_empty() || !c.open))
        {
            break;
        }
        for c in conns.iter_mut().filter(|c| c.open) {
            while sending && c.next <= now {
                let (which, expect) = c.gen.next(methods, &mut c.out);
                c.waiting.push_back((which, now, expect));
                c.next += gap;
            }
            flush(c);
        }
        let wake = if sending {
            let due = conns.iter().filter(|c| c.open).map(|c| c.next).min();
            due.unwrap_or(until).min(until)
        } else {
            drain_until
        };
        // Unsent bytes: come back within 100 µs to push them.
        let wake = if conns.iter().any(|c| c.open && !c.out.is_empty()) {
            wake.min(Instant::now() + Duration::from_micros(100))
        } else {
            wake
        };
        // A zero expiration would disarm the timer: at least a nanosecond.
        let wait = wake
            .saturating_duration_since(Instant::now())
            .max(Duration::from_nanos(1));
        timer
            .set(
                Expiration::OneShot(TimeSpec::from_duration(wait)),
                TimerSetTimeFlags::empty(),
            )
            .map_err(os("timerfd_settime"))?;
        let ready = match epoll.wait(&mut events, EpollTimeout::NONE) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => 0,
            Err(e) => return Err(os("epoll_wait")(e)),
        };
        for ev in &events[..ready] {
            if ev.data() == TIMER {
                // Disarmed by the next `set`; nothing to read.
                continue;
            }
            let t = ev.data() as usize;
            let (Some(c), Some(samples)) = (conns.get_mut(t), samples.get_mut(t)) else {
                continue;
            };
            receive(c, samples, &mut buf, &epoll);
        }
    }
    // Never answered: errors of their method.
    for (c, samples) in conns.iter().zip(samples.iter_mut()) {
        for (which, t0, expect) in &c.waiting {
            record(samples, *which, *t0, false, b"", expect);
        }
    }
    Ok(samples)
}

/// Write what the socket takes; a full buffer keeps the rest for the next
/// round.
fn flush(c: &mut Conn) {
    while !c.out.is_empty() {
        match c.stream.write(&c.out) {
            Ok(k) if k > 0 => drop(c.out.drain(..k)),
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            _ => {
                c.open = false;
                break;
            }
        }
    }
}

/// One read per wake-up (what is left wakes the next round), then every
/// whole line it completed.
fn receive(c: &mut Conn, samples: &mut [Sample], buf: &mut [u8], epoll: &Epoll) {
    match c.stream.read(buf) {
        Ok(k) if k > 0 => c.got.extend_from_slice(&buf[..k]),
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        _ => {
            c.open = false;
            let _ = epoll.delete(&c.stream);
        }
    }
    let mut used = 0;
    while let Some(end) = c.got[used..].iter().position(|&b| b == b'\n') {
        if let Some((which, t0, expect)) = c.waiting.pop_front() {
            record(samples, which, t0, true, &c.got[used..used + end], &expect);
        }
        used += end + 1;
    }
    c.got.drain(..used);
}
