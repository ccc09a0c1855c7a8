//! Models published by others reach the daemon: a change of `current` is
//! noticed (inotify on the models directory, and a look every
//! [`WATCH_INTERVAL`] where inotify cannot watch it), and a version that
//! differs from the one serving is reloaded, as SIGHUP would. Covers
//! `recd train` run beside the daemon, a hand-made `ln -sf`, and any other
//! tool. While nothing changes it costs a wake-up per interval.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use std::os::fd::{AsFd, AsRawFd, RawFd};

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use super::State;

/// How often `current` is looked at besides inotify's news (and the only
/// way where the directory cannot be watched).
pub const WATCH_INTERVAL: Duration = Duration::from_secs(30);

/// Inotify on the models directory: entries created or renamed into it
/// (a publish renames a new `current` over the old), and the directory
/// itself going away.
struct DirEvents(AsyncFd<Owned>);

/// The inotify instance as tokio registers it: owned, so its descriptor
/// stays open and the same for as long as the registration lives.
struct Owned(Inotify);

impl AsRawFd for Owned {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

impl DirEvents {
    fn watch(dir: &Path) -> Option<DirEvents> {
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).ok()?;
        let flags = AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_DELETE_SELF
            | AddWatchFlags::IN_MOVE_SELF;
        inotify.add_watch(dir, flags).ok()?;
        // SAFETY: `Owned` owns the descriptor and never closes or replaces
        // it while registered; it is closed when the AsyncFd drops it.
        unsafe { AsyncFd::register_with_interest(Owned(inotify), Interest::READABLE) }
            .ok()
            .map(DirEvents)
    }

    /// Wait for news; false when the watch has ended (the directory went
    /// away, or the descriptor failed) and must be set up again.
    async fn changed(&self) -> bool {
        loop {
            let Ok(mut ready) = self.0.readable().await else {
                return false;
            };
            match ready.get_inner().0.read_events() {
                Ok(events) => {
                    return !events.iter().any(|e| {
                        e.mask.intersects(
                            AddWatchFlags::IN_IGNORED
                                | AddWatchFlags::IN_DELETE_SELF
                                | AddWatchFlags::IN_MOVE_SELF,
                        )
                    });
                }
                Err(nix::errno::Errno::EAGAIN) => ready.clear_ready(),
                Err(_) => return false,
            }
        }
    }
}

impl State {
    /// Reload whenever `current` names a version other than the one
    /// serving; until shutdown. A version that failed to load is not tried
    /// again until `current` changes once more.
    pub async fn watch_current(self: Arc<Self>) {
        let mut tick = tokio::time::interval(WATCH_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut events = DirEvents::watch(self.models.path());
        let mut refused: Option<String> = None;
        loop {
            let news = async {
                match &events {
                    Some(e) => e.changed().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = tick.tick() => {
                    if events.is_none() {
                        events = DirEvents::watch(self.models.path());
                    }
                }
                still = news => {
                    if !still {
                        events = DirEvents::watch(self.models.path());
                    }
                }
            }
            // A retrain of ours publishes and then swaps on its own.
            if self.jobs.running().is_some() {
                continue;
            }
            let Ok(Some(current)) = self.models.current_version() else {
                continue;
            };
            let serving = self.served().map(|s| s.version().to_owned());
            if serving.as_deref() == Some(current.as_str())
                || refused.as_deref() == Some(current.as_str())
            {
                continue;
            }
            match self.reload("a new current model").await {
                Ok(_) => refused = None,
                Err(_) => refused = Some(current),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::config::Config;
    use crate::notify::Notifier;
    use crate::train::pipeline::{self, Options};

    fn publish(opts: &Options) -> String {
        let outcome = pipeline::run(opts, &AtomicBool::new(false), &mut |_| {}).unwrap();
        outcome.version.unwrap()
    }

    /// A daemon state serving a first model published into a temp dir, the
    /// options that publish the next, and the dir.
    async fn serving_a_first_model() -> (Arc<State>, Options, tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let shape = crate::train::synth::Shape {
            users: 60,
            items: 40,
            ratings: 1500,
            seed: 2,
        };
        crate::train::synth::generate(&shape, &dir.path().join("data"), 1).unwrap();
        let path = dir.path().join("recd.toml");
        std::fs::write(
            &path,
            "[paths]\ndataset = \"data\"\ndataset_url = \"\"\nmodels_dir = \"models\"\n\
             state_dir = \"state\"\n[training]\nn_factors = 4\nn_epochs = 2\nthreads = 1\n",
        )
        .unwrap();
        let cfg = Config::load(&path).unwrap();
        let opts = Options::from_config(&cfg);
        let first = publish(&opts);
        let shutdown = CancellationToken::new();
        let state = State::new(cfg, Notifier::disabled(), shutdown.clone()).unwrap();
        let st = state.clone();
        tokio::task::spawn_blocking(move || st.reload_blocking())
            .await
            .unwrap()
            .unwrap();
        (state, opts, dir, first)
    }

    #[tokio::test(start_paused = true)]
    async fn a_model_published_by_another_process_is_served_within_an_interval() {
        let (state, opts, _dir, first) = serving_a_first_model().await;
        let shutdown = state.shutdown.clone();
        let watch = tokio::spawn(state.clone().watch_current());

        // Another process publishes: served within one interval.
        let second = publish(&opts);
        assert_ne!(first, second);
        tokio::time::sleep(WATCH_INTERVAL * 2).await;
        assert_eq!(state.served().unwrap().version(), second);

        // A `current` that cannot be loaded leaves the old model serving.
        let third = publish(&opts);
        std::fs::write(state.models.version_path(&third), b"not a model").unwrap();
        tokio::time::sleep(WATCH_INTERVAL * 5).await;
        assert_eq!(state.served().unwrap().version(), second);

        shutdown.cancel();
        watch.await.unwrap();
    }

    /// On the real clock: inotify brings the news long before the interval.
    #[tokio::test]
    async fn a_publish_is_noticed_at_once() {
        let (state, opts, _dir, _) = serving_a_first_model().await;
        let watch = tokio::spawn(state.clone().watch_current());
        tokio::time::sleep(Duration::from_millis(100)).await;
        let published = std::time::Instant::now();
        let o = opts.clone();
        let second = tokio::task::spawn_blocking(move || publish(&o))
            .await
            .unwrap();
        while state.served().unwrap().version() != second {
            assert!(
                published.elapsed() < WATCH_INTERVAL / 4,
                "not served after {:?}",
                published.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        state.shutdown.cancel();
        watch.await.unwrap();
    }
}
