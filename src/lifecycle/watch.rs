//! Models published by others reach the daemon: `current` is looked at
//! every [`WATCH_INTERVAL`], and a version that differs from the one
//! serving is reloaded, as SIGHUP would. Covers `recd train` run beside the
//! daemon, a hand-made `ln -sf`, and any other tool. Reading a symlink is
//! all it costs while nothing changes.

use std::sync::Arc;
use std::time::Duration;

use super::State;

/// How often `current` is looked at.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(2);

impl State {
    /// Reload whenever `current` names a version other than the one
    /// serving; until shutdown. A version that failed to load is not tried
    /// again until `current` changes once more.
    pub async fn watch_current(self: Arc<Self>) {
        let mut tick = tokio::time::interval(WATCH_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut refused: Option<String> = None;
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = tick.tick() => {}
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

    #[tokio::test(start_paused = true)]
    async fn a_model_published_by_another_process_is_served_within_an_interval() {
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
}
