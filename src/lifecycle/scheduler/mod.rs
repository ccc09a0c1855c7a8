//! The retraining schedule in the daemon: when the next run is due, firing
//! it through the same entry point as the `retrain` method, and the
//! durable pause.
//!
//! The next run time comes from the wall clock and is looked at again at
//! least once a minute, so a suspend, a resume or a clock set forward or
//! back neither loses nor doubles a run: a fire time is run once if it fell
//! after the last one handled (`since`) and is not later than now. Missed
//! times collapse into one run (systemd's `Persistent=`): at start, `since`
//! is the end of the last scheduled run the database recorded. While
//! paused the loop sleeps with no timer at all; times that fall in a pause
//! are not caught up on resume.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::schedule::Schedule;

/// The longest the loop sleeps without looking at the wall clock.
pub const RECHECK: Duration = Duration::from_secs(60);

/// The wall clock, injected so tests run on tokio's paused time.
pub trait WallClock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The system's clock.
pub struct SystemClock;

impl WallClock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A wall clock that moves with tokio's clock from `origin` (paused time
/// in tests); `jump` sets it forward or back as an operator would.
pub struct TokioClock {
    origin: Mutex<Timestamp>,
    start: tokio::time::Instant,
}

impl TokioClock {
    pub fn new(origin: Timestamp) -> TokioClock {
        TokioClock {
            origin: Mutex::new(origin),
            start: tokio::time::Instant::now(),
        }
    }

    pub fn jump(&self, by: jiff::SignedDuration) {
        let mut o = self.origin.lock().unwrap_or_else(|e| e.into_inner());
        *o = o.checked_add(by).unwrap_or(*o);
    }
}

impl WallClock for TokioClock {
    fn now(&self) -> Timestamp {
        let o = *self.origin.lock().unwrap_or_else(|e| e.into_inner());
        let elapsed = jiff::SignedDuration::try_from(self.start.elapsed()).unwrap_or_default();
        o.checked_add(elapsed).unwrap_or(o)
    }
}

/// The schedule's live state, shared with the methods that show or change
/// it.
#[derive(Default)]
pub struct Control {
    inner: Mutex<Live>,
    wake: Notify,
    /// Set once the durable state has been loaded: until then `inner` is
    /// not what the database says (a pause from before a restart).
    restored: tokio::sync::OnceCell<()>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Live {
    /// Paused since then.
    pub paused: Option<Timestamp>,
    /// Fire times up to this one have been handled.
    pub since: Option<Timestamp>,
    /// The last run's start (for `interval`).
    pub last_start: Option<Timestamp>,
    /// When the next run is due, as the loop last worked it out.
    pub next: Option<Timestamp>,
}

impl Control {
    pub fn live(&self) -> Live {
        *self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, f: impl FnOnce(&mut Live)) {
        f(&mut self.inner.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Load what the database remembers (before the loop starts).
    pub fn restore(&self, live: Live) {
        self.update(|l| *l = live);
    }

    /// Pause from `at`; false if it was paused already.
    pub fn pause(&self, at: Timestamp) -> bool {
        let mut changed = false;
        self.update(|l| {
            if l.paused.is_none() {
                l.paused = Some(at);
                changed = true;
            }
        });
        self.wake.notify_one();
        changed
    }

    /// A run started at `at`, whatever started it: intervals count from it.
    pub fn started(&self, at: Timestamp) {
        self.update(|l| l.last_start = Some(l.last_start.map_or(at, |s| s.max(at))));
    }

    /// Resume at `at`: fire times during the pause are not caught up.
    pub fn resume(&self, at: Timestamp) -> bool {
        let mut changed = false;
        self.update(|l| {
            if l.paused.take().is_some() {
                changed = true;
                l.since = Some(l.since.map_or(at, |s| s.max(at)));
            }
        });
        self.wake.notify_one();
        changed
    }
}

/// What firing a run does: in the daemon, a retrain with the trigger
/// `scheduled` that waits for its end. Returns when the run started, or
/// None if it could not start: it is then tried again a minute later,
/// until it can.
pub trait Fire: Send + Sync {
    fn fire(&self, due: Timestamp) -> impl Future<Output = Option<Timestamp>> + Send;
}

/// Run `schedule` until `shutdown`.
pub async fn drive<F: Fire>(
    schedule: &Schedule,
    clock: &dyn WallClock,
    control: &Control,
    fire: &F,
    shutdown: &CancellationToken,
) {
    if schedule.is_off() {
        return;
    }
    let mut rng = crate::rng::Rng::new(clock.now().as_nanosecond() as u64);
    loop {
        let now = clock.now();
        let live = control.live();
        if live.paused.is_some() {
            control.update(|l| l.next = None);
            tokio::select! {
                _ = control.wake.notified() => continue,
                _ = shutdown.cancelled() => return,
            }
        }
        let since = live.since.unwrap_or(now);
        let Some(next) = schedule.next_after(since, live.last_start) else {
            control.update(|l| l.next = None);
            tokio::select! {
                _ = control.wake.notified() => continue,
                _ = shutdown.cancelled() => return,
            }
        };
        control.update(|l| {
            l.since = Some(since);
            l.next = Some(next);
        });
        if next > now {
            let wait = now.duration_until(next).unsigned_abs().min(RECHECK);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = control.wake.notified() => {}
                _ = shutdown.cancelled() => return,
            }
            continue;
        }
        // Due: on time, or missed while the daemon was down or asleep.
        let late = jiff::SignedDuration::try_from(RECHECK * 2).unwrap_or_default();
        if !schedule.catch_up() && now.duration_since(next) > late {
            tracing::info!("skipping the run due at {next}: missed, and schedule.catch_up is off");
            control.update(|l| l.since = Some(now));
            continue;
        }
        let spread = schedule.random_delay();
        if !spread.is_zero() {
            let delay = Duration::from_millis(rng.below(spread.as_millis().max(1) as u64));
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.cancelled() => return,
            }
        }
        if control.live().paused.is_some() {
            continue;
        }
        let Some(started) = fire.fire(next).await else {
            // It could not start (the database is out of reach): the time
            // stays due, and is tried again at the next look.
            control.update(|l| l.next = Some(next));
            tokio::select! {
                _ = tokio::time::sleep(RECHECK) => {}
                _ = shutdown.cancelled() => return,
            }
            continue;
        };
        let started = Some(started);
        let after = clock.now();
        control.update(|l| {
            l.since = Some(l.since.map_or(after, |s| s.max(after)));
            if let Some(started) = started {
                l.last_start = Some(l.last_start.map_or(started, |s| s.max(started)));
            }
        });
    }
}

mod daemon;
#[cfg(test)]
mod tests;
