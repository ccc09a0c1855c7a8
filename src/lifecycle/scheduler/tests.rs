//! The scheduling loop on tokio's paused clock: weeks pass in
//! milliseconds, and every fire is listed.

use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};

use super::*;

/// A schedule as the config would give it.
fn sched(cron: &str, tz: &str) -> Schedule {
    let text = format!("[schedule]\nmode = \"cron\"\ncron = \"{cron}\"\ntimezone = \"{tz}\"\n");
    crate::config::Config::parse(
        &text,
        std::path::Path::new("/etc/recd"),
        std::path::Path::new("recd.toml"),
    )
    .unwrap()
    .schedule
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// Records each fire: when it was due and when it ran (wall clock), and
/// takes `takes` of (paused) time to run.
struct Recorder<'a> {
    clock: &'a TokioClock,
    fired: Mutex<Vec<(Timestamp, Timestamp)>>,
    takes: Duration,
}

impl Fire for Recorder<'_> {
    fn fire(&self, due: Timestamp) -> impl Future<Output = Option<Timestamp>> + Send {
        let now = self.clock.now();
        self.fired.lock().unwrap().push((due, now));
        let takes = self.takes;
        async move {
            tokio::time::sleep(takes).await;
            Some(now)
        }
    }
}

impl Recorder<'_> {
    fn new(clock: &TokioClock) -> Recorder<'_> {
        Recorder {
            clock,
            fired: Mutex::new(Vec::new()),
            takes: Duration::from_secs(1),
        }
    }

    fn due(&self) -> Vec<Timestamp> {
        self.fired.lock().unwrap().iter().map(|f| f.0).collect()
    }
}

/// Drive `schedule` for `length` of paused time from the clock's now.
async fn run_for(
    schedule: &Schedule,
    clock: &TokioClock,
    control: &Control,
    rec: &impl Fire,
    length: Duration,
) {
    let shutdown = CancellationToken::new();
    let stop = async {
        tokio::time::sleep(length).await;
        shutdown.cancel();
    };
    tokio::join!(drive(schedule, clock, control, rec, &shutdown), stop);
}

const DAY: Duration = Duration::from_secs(86_400);

#[tokio::test(start_paused = true)]
async fn a_week_of_daily_at_two_fires_seven_times_once_each() {
    let clock = TokioClock::new(at("2026-11-30T12:00:00Z"));
    let (control, rec) = (Control::default(), Recorder::new(&clock));
    run_for(&sched("0 2 * * *", "UTC"), &clock, &control, &rec, 7 * DAY).await;
    let due = rec.due();
    println!(
        "0 2 * * * over a week from {}: fired {due:?}",
        at("2026-11-30T12:00:00Z")
    );
    let expected: Vec<Timestamp> = (1..=7)
        .map(|d| at("2026-11-30T02:00:00Z") + SignedDuration::from_hours(24 * d))
        .collect();
    assert_eq!(due, expected);
    // Each ran when it was due, not later.
    for (due, ran) in rec.fired.lock().unwrap().iter() {
        assert!(
            ran.duration_since(*due) < SignedDuration::from_secs(1),
            "{due} ran at {ran}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_week_of_every_quarter_hour_fires_672_times_none_doubled() {
    let start = at("2026-11-30T00:00:30Z");
    let clock = TokioClock::new(start);
    let (control, rec) = (Control::default(), Recorder::new(&clock));
    run_for(
        &sched("*/15 * * * *", "Europe/Madrid"),
        &clock,
        &control,
        &rec,
        7 * DAY,
    )
    .await;
    let due = rec.due();
    println!(
        "*/15 * * * * over a week: {} runs, first {:?}, last {:?}",
        due.len(),
        due.first(),
        due.last()
    );
    assert_eq!(due.len(), 672);
    assert!(due
        .windows(2)
        .all(|w| w[1].duration_since(w[0]) == SignedDuration::from_mins(15)));
}

#[tokio::test(start_paused = true)]
async fn three_times_missed_while_stopped_give_one_run_at_start() {
    let clock = TokioClock::new(at("2026-11-30T12:00:00Z"));
    let schedule = sched("0 2 * * *", "UTC");
    let (control, rec) = (Control::default(), Recorder::new(&clock));
    // Day 1 runs; then the daemon is stopped for three days (no loop), and
    // started again with what the database remembered: the last run's end.
    run_for(&schedule, &clock, &control, &rec, DAY).await;
    assert_eq!(rec.due(), [at("2026-12-01T02:00:00Z")]);
    tokio::time::advance(3 * DAY).await;
    let remembered = control.live();
    let control = Control::default();
    control.restore(Live {
        next: None,
        ..remembered
    });
    run_for(&schedule, &clock, &control, &rec, DAY).await;
    let fired = rec.fired.lock().unwrap().clone();
    println!("stopped across 12-02, 12-03, 12-04 at 02:00; fired (due, ran): {fired:?}");
    // 12-02, 12-03 and 12-04 02:00 were missed: one run, at start (12-04
    // 12:00), due since the first of them; then 12-05 02:00 as usual.
    assert_eq!(
        fired,
        [
            (at("2026-12-01T02:00:00Z"), at("2026-12-01T02:00:00Z")),
            (at("2026-12-02T02:00:00Z"), at("2026-12-04T12:00:00Z")),
            (at("2026-12-05T02:00:00Z"), at("2026-12-05T02:00:00Z")),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn paused_fires_nothing_and_resume_does_not_catch_up() {
    let clock = TokioClock::new(at("2026-11-30T12:00:00Z"));
    let schedule = sched("0 2 * * *", "UTC");
    let (control, rec) = (Control::default(), Recorder::new(&clock));
    control.pause(clock.now());
    let shutdown = CancellationToken::new();
    let script = async {
        tokio::time::sleep(2 * DAY).await;
        assert!(rec.due().is_empty(), "nothing fires while paused");
        assert_eq!(control.live().next, None);
        control.resume(clock.now());
        tokio::time::sleep(DAY).await;
        shutdown.cancel();
    };
    tokio::join!(drive(&schedule, &clock, &control, &rec, &shutdown), script);
    assert_eq!(rec.due(), [at("2026-12-03T02:00:00Z")]);
}

#[tokio::test(start_paused = true)]
async fn clock_jumps_neither_lose_nor_double_a_run() {
    let clock = TokioClock::new(at("2026-11-30T00:00:00Z"));
    let schedule = sched("0 2 * * *", "UTC");
    let (control, rec) = (Control::default(), Recorder::new(&clock));
    let shutdown = CancellationToken::new();
    let script = async {
        // Set forward over 02:00 (a suspend, or ntp): the run happens once,
        // within the minute the loop looks at the clock again.
        tokio::time::sleep(Duration::from_secs(3600)).await;
        clock.jump(SignedDuration::from_hours(2));
        tokio::time::sleep(Duration::from_secs(120)).await;
        assert_eq!(rec.due(), [at("2026-11-30T02:00:00Z")]);
        // Set back over 02:00: it does not run again.
        clock.jump(SignedDuration::from_hours(-2));
        tokio::time::sleep(Duration::from_secs(4 * 3600)).await;
        shutdown.cancel();
    };
    tokio::join!(drive(&schedule, &clock, &control, &rec, &shutdown), script);
    assert_eq!(rec.due(), [at("2026-11-30T02:00:00Z")]);
    let ran = rec.fired.lock().unwrap()[0].1;
    assert!(ran.duration_since(at("2026-11-30T03:00:00Z")) <= SignedDuration::from_secs(60));
}

#[tokio::test(start_paused = true)]
async fn an_idle_schedule_wakes_once_a_minute() {
    // Each wake-up of the loop reads the clock once: count the reads.
    struct Counting(TokioClock, std::sync::atomic::AtomicU64);
    impl WallClock for Counting {
        fn now(&self) -> Timestamp {
            self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.0.now()
        }
    }
    let clock = Counting(TokioClock::new(at("2026-11-30T03:00:00Z")), 0.into());
    let control = Control::default();
    let rec = Recorder::new(&clock.0);
    let shutdown = CancellationToken::new();
    let stop = async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        shutdown.cancel();
    };
    let schedule = sched("0 2 * * *", "UTC");
    tokio::join!(drive(&schedule, &clock, &control, &rec, &shutdown), stop);
    let reads = clock.1.load(std::sync::atomic::Ordering::Relaxed);
    println!("idle hour: {reads} clock reads");
    assert!((60..=62).contains(&reads), "{reads}");
}

#[tokio::test(start_paused = true)]
async fn interval_counts_from_the_last_start_across_a_restart() {
    let text = "[schedule]\nmode = \"interval\"\ninterval_hours = 6\ntimezone = \"UTC\"\n";
    let schedule = crate::config::Config::parse(
        text,
        std::path::Path::new("/etc/recd"),
        std::path::Path::new("recd.toml"),
    )
    .unwrap()
    .schedule;
    let clock = TokioClock::new(at("2026-11-30T12:00:00Z"));
    let control = Control::default();
    // The last run started at 10:00 (before a restart): next at 16:00.
    control.restore(Live {
        since: Some(at("2026-11-30T12:00:00Z")),
        last_start: Some(at("2026-11-30T10:00:00Z")),
        ..Live::default()
    });
    let rec = Recorder::new(&clock);
    run_for(&schedule, &clock, &control, &rec, DAY).await;
    assert_eq!(
        rec.due(),
        [
            at("2026-11-30T16:00:00Z"),
            at("2026-11-30T22:00:00Z"),
            at("2026-12-01T04:00:00Z"),
            at("2026-12-01T10:00:00Z"),
        ]
    );
}

/// Fails to start its first `failures` fires, then records as usual.
struct Flaky<'a> {
    inner: Recorder<'a>,
    failures: Mutex<u32>,
}

impl Fire for Flaky<'_> {
    fn fire(&self, due: Timestamp) -> impl Future<Output = Option<Timestamp>> + Send {
        let fail = {
            let mut left = self.failures.lock().unwrap();
            let fail = *left > 0;
            *left = left.saturating_sub(1);
            fail
        };
        let run = (!fail).then(|| self.inner.fire(due));
        async move {
            match run {
                Some(run) => run.await,
                None => None,
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_run_that_cannot_start_is_tried_again_each_minute_not_lost() {
    let clock = TokioClock::new(at("2026-11-30T01:59:00Z"));
    let control = Control::default();
    let flaky = Flaky {
        inner: Recorder::new(&clock),
        failures: Mutex::new(3),
    };
    run_for(
        &sched("0 2 * * *", "UTC"),
        &clock,
        &control,
        &flaky,
        Duration::from_secs(3600),
    )
    .await;
    // Due at 02:00; the database was out of reach for three tries.
    let fired = flaky.inner.fired.lock().unwrap().clone();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].0, at("2026-11-30T02:00:00Z"));
    assert_eq!(fired[0].1, at("2026-11-30T02:03:00Z"));
}
