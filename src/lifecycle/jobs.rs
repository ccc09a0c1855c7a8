//! Retrain jobs: one at a time, each on its own OS thread, never on the
//! async reactor.
//!
//! A job runs the retrain pipeline, publishes its progress on a broadcast
//! channel (any number of listeners, none needed) and its end on a watch
//! channel. Its status sits behind a std mutex that is only ever held for a
//! copy or an update, never across an `.await`.
//!
//! A job's id is its run's id in the database's history, so it is durable:
//! the caller reserves the one slot ([`Jobs::reserve`]), records the run's
//! start, then starts the job under that id.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime};

use tokio::sync::{broadcast, watch};

use crate::protocol::{JobState, JobStatus, Progress, StageState, Trigger};
use crate::train::pipeline::{self, Event, Options, Outcome, PipelineError, Stage};

pub struct Job {
    pub id: u64,
    started: Instant,
    cancel: AtomicBool,
    /// Why a cancel was asked (shared with the pipeline, which records it).
    cancel_reason: Arc<Mutex<Option<String>>>,
    status: Mutex<JobStatus>,
    progress: broadcast::Sender<Progress>,
    done: watch::Sender<bool>,
}

impl Job {
    pub fn status(&self) -> JobStatus {
        let mut s = lock(&self.status).clone();
        if s.state == JobState::Running {
            s.seconds = self.started.elapsed().as_secs_f64();
        }
        s
    }

    /// Ask the run to stop at its next check; `reason` is recorded.
    pub fn cancel(&self, reason: &str) {
        let mut why = lock(&self.cancel_reason);
        if why.is_none() {
            *why = Some(reason.to_owned());
        }
        drop(why);
        self.cancel.store(true, Ordering::Relaxed);
    }

    /// Say whether the run is being starved of CPU (None: it is not), in
    /// its status and, when that changes to starved, on its progress.
    pub fn set_starved(&self, starved: Option<String>) {
        let line = {
            let mut s = lock(&self.status);
            if s.starved == starved {
                return;
            }
            s.starved = starved.clone();
            let stage = s.stage.unwrap_or(Stage::Train);
            starved.map(|detail| Progress {
                job: self.id,
                stage,
                state: None,
                seconds: None,
                detail: Some(format!("starved: {detail}")),
                epoch: None,
                n_epochs: None,
                train_rmse: None,
            })
        };
        if let Some(line) = line {
            tracing::warn!(
                job = self.id,
                "retrain {}",
                line.detail.as_deref().unwrap_or("")
            );
            let _ = self.progress.send(line);
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Progress> {
        self.progress.subscribe()
    }

    /// Resolves when the job has ended.
    pub async fn finished(&self) {
        let mut rx = self.done.subscribe();
        let _ = rx.wait_for(|done| *done).await;
    }

    fn update(&self, event: &Event) {
        let line = Progress {
            job: self.id,
            stage: Stage::Train,
            state: None,
            seconds: None,
            detail: None,
            epoch: None,
            n_epochs: None,
            train_rmse: None,
        };
        let progress = {
            let mut s = lock(&self.status);
            match event {
                Event::Started(stage) => {
                    s.stage = Some(*stage);
                    Progress {
                        stage: *stage,
                        state: Some(StageState::Started),
                        ..line
                    }
                }
                Event::Finished {
                    stage,
                    seconds,
                    detail,
                } => {
                    tracing::info!(
                        job = self.id,
                        "retrain {}: {detail} ({seconds:.3}s)",
                        stage.label()
                    );
                    Progress {
                        stage: *stage,
                        state: Some(StageState::Finished),
                        seconds: Some(*seconds),
                        detail: Some(detail.clone()),
                        ..line
                    }
                }
                Event::Epoch(e) => {
                    s.epoch = e.epoch;
                    s.n_epochs = e.n_epochs;
                    s.train_rmse = Some(e.train_rmse);
                    Progress {
                        epoch: Some(e.epoch),
                        n_epochs: Some(e.n_epochs),
                        train_rmse: Some(e.train_rmse),
                        seconds: Some(e.elapsed.as_secs_f64()),
                        ..line
                    }
                }
            }
        };
        // No listener is fine: progress is also in the status.
        let _ = self.progress.send(progress);
    }
}

/// A poisoned status lock only means a panic elsewhere mid-update; the data
/// are plain values, still readable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Default)]
pub struct Jobs {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    slot: Slot,
    recent: VecDeque<Arc<Job>>,
}

/// The one retrain slot.
#[derive(Default)]
enum Slot {
    #[default]
    Free,
    /// Taken by a caller recording its run's start.
    Reserved,
    Running(Arc<Job>),
}

const RECENT: usize = 32;

/// The slot, taken: [`start`](Reservation::start) a job in it, or drop it
/// to free the slot.
pub struct Reservation {
    jobs: Arc<Jobs>,
    started: bool,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.started {
            let mut inner = lock(&self.jobs.inner);
            if matches!(inner.slot, Slot::Reserved) {
                inner.slot = Slot::Free;
            }
        }
    }
}

impl Jobs {
    /// Take the one slot, unless a job holds it (its id is the error; None
    /// while one is being recorded).
    pub fn reserve(self: &Arc<Self>) -> Result<Reservation, Option<u64>> {
        let mut inner = lock(&self.inner);
        match &inner.slot {
            Slot::Free => {
                inner.slot = Slot::Reserved;
                Ok(Reservation {
                    jobs: self.clone(),
                    started: false,
                })
            }
            Slot::Reserved => Err(None),
            Slot::Running(job) => Err(Some(job.id)),
        }
    }

    /// Whether the slot is taken (a job runs, or one is being recorded).
    pub fn busy(&self) -> bool {
        !matches!(lock(&self.inner).slot, Slot::Free)
    }

    pub fn running(&self) -> Option<Arc<Job>> {
        match &lock(&self.inner).slot {
            Slot::Running(job) => Some(job.clone()),
            _ => None,
        }
    }

    /// A job of this daemon's life by id, or its newest when `id` is None.
    pub fn get(&self, id: Option<u64>) -> Option<Arc<Job>> {
        let inner = lock(&self.inner);
        match id {
            Some(id) => inner.recent.iter().find(|j| j.id == id).cloned(),
            None => inner.recent.back().cloned(),
        }
    }

    /// Free the slot, then wake the waiters: whoever wakes on `finished`
    /// sees no running job.
    fn finish(&self, job: &Job) {
        {
            let mut inner = lock(&self.inner);
            if matches!(&inner.slot, Slot::Running(j) if j.id == job.id) {
                inner.slot = Slot::Free;
            }
        }
        job.done.send_replace(true);
    }
}

impl Reservation {
    /// Start the retrain as job `id` (its run's id). `on_end` runs on the
    /// job's thread after the pipeline, before the job counts as finished;
    /// the daemon swaps the new model in there.
    pub fn start(
        mut self,
        id: u64,
        trigger: Trigger,
        mut opts: Options,
        on_end: impl FnOnce(&Job, &Result<Outcome, PipelineError>) -> Result<(), String>
            + Send
            + 'static,
    ) -> Arc<Job> {
        let cancel_reason = opts.cancel_reason.clone();
        opts.trigger = trigger;
        let job = Arc::new(Job {
            id,
            started: Instant::now(),
            cancel: AtomicBool::new(false),
            cancel_reason,
            status: Mutex::new(JobStatus {
                id,
                trigger,
                state: JobState::Running,
                stage: None,
                epoch: 0,
                n_epochs: opts.params.n_epochs,
                train_rmse: None,
                started_at: crate::clock::rfc3339(SystemTime::now()),
                finished_at: None,
                seconds: 0.0,
                outcome: None,
                reason: None,
                starved: None,
            }),
            progress: broadcast::channel(256).0,
            done: watch::channel(false).0,
        });
        let jobs = self.jobs.clone();
        {
            let mut inner = lock(&jobs.inner);
            inner.slot = Slot::Running(job.clone());
            inner.recent.push_back(job.clone());
            if inner.recent.len() > RECENT {
                inner.recent.pop_front();
            }
        }
        self.started = true;

        let worker = job.clone();
        let thread_jobs = jobs.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("{THREAD_PREFIX}{id}"))
            .spawn(move || {
                lower_priority();
                // A panic must still end the job, or the slot stays taken
                // and every later retrain (scheduled ones too) is busy.
                let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let result = pipeline::run(&opts, &worker.cancel, &mut |e| worker.update(&e));
                    let end = on_end(&worker, &result);
                    (result, end)
                }));
                match ran {
                    Ok((result, end)) => worker.record(result, end),
                    Err(panic) => {
                        let what = panic
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .unwrap_or_default();
                        tracing::error!(job = worker.id, "the retrain thread panicked: {what}");
                        worker.record(
                            Ok(Outcome::default()),
                            Err(format!("the retrain thread panicked: {what}")),
                        );
                    }
                }
                thread_jobs.finish(&worker);
                super::memory::release();
            });
        if let Err(e) = spawned {
            job.record(
                Ok(Outcome::default()),
                Err(format!("cannot start the training thread: {e}")),
            );
            jobs.finish(&job);
        }
        job
    }
}

/// The name of a retrain job's thread, before its id; the training threads
/// it starts inherit the name (Linux copies it), so their CPU time can be
/// told apart from serving's.
pub const THREAD_PREFIX: &str = "recd-retrain-";

impl Job {
    fn record(&self, result: Result<Outcome, PipelineError>, end: Result<(), String>) {
        let mut s = lock(&self.status);
        s.finished_at = Some(crate::clock::rfc3339(SystemTime::now()));
        s.seconds = self.started.elapsed().as_secs_f64();
        // The pipeline's rule, unless what came after it failed.
        s.state = match &end {
            Ok(()) => pipeline::status_of(&result),
            Err(_) => JobState::Failed,
        };
        match (result, end) {
            (Err(PipelineError::Cancelled(_)), _) => {
                s.reason = Some(
                    lock(&self.cancel_reason)
                        .clone()
                        .unwrap_or("cancelled".into()),
                );
            }
            (Err(e), _) => s.reason = Some(e.to_string()),
            (Ok(o), end) => {
                s.reason = end.err().or_else(|| o.skipped.clone());
                s.outcome = Some(o);
            }
        }
    }
}

/// Training is batch work beside latency-sensitive serving: put this thread
/// (and the training threads it starts, which inherit it) in the SCHED_IDLE
/// class, so that a serving worker that wakes up preempts it at once and it
/// runs on whatever CPU serving leaves. Where that is refused, nice 10.
fn lower_priority() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: sched_setscheduler on the calling thread (pid 0) with a valid
    // parameter block.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } == 0 {
        return;
    }
    let idle_error = std::io::Error::last_os_error();
    // SAFETY: gettid and setpriority on the calling thread; no pointers.
    let ok = unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10) == 0
    };
    if !ok {
        tracing::debug!(
            "cannot lower the training thread's priority: {idle_error}; {}",
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn training_threads_yield_the_cpu_to_serving() {
        std::thread::spawn(|| {
            super::lower_priority();
            // SAFETY: queries about the calling thread; no pointers.
            let (policy, nice) = unsafe {
                let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
                (
                    libc::sched_getscheduler(0),
                    libc::getpriority(libc::PRIO_PROCESS, tid),
                )
            };
            assert!(
                policy == libc::SCHED_IDLE || nice >= 10,
                "policy {policy}, nice {nice}"
            );
            // A thread it starts inherits it.
            // SAFETY: a query about the calling thread.
            let child = std::thread::spawn(|| unsafe { libc::sched_getscheduler(0) })
                .join()
                .unwrap();
            assert_eq!(child, policy);
        })
        .join()
        .unwrap();
    }
}
