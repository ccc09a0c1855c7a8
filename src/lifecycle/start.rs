//! Startup: reach the database in the background, serve `current`, or,
//! with no model yet, train the first one (downloading the dataset first
//! when it is missing and a URL is configured) while already answering.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::State;

const PUT_FILES: &str = "put the MovieLens 1M files (ratings.dat, movies.dat, from ml-1m.zip) in the directory \
     paths.dataset names, or point paths.dataset at a MovieLens directory, then call retrain or restart";

impl State {
    /// Start reaching the database, and load `current`; with no model,
    /// start training the first one. Returns the status line for systemd.
    pub async fn start(self: &Arc<Self>) -> String {
        tokio::spawn(
            self.db
                .clone()
                .prepare(self.config.paths.dataset.clone(), self.shutdown.clone()),
        );
        let st = self.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            // What a publish killed mid-way left behind does not outlive
            // the next start.
            match st.models.remove_leftovers() {
                Ok(removed) => {
                    for path in removed {
                        tracing::info!(
                            "removed {}, left by an interrupted publish",
                            path.display()
                        );
                    }
                }
                Err(e) => tracing::warn!(
                    "cannot remove what an interrupted publish left in {}: {e}",
                    st.models.path().display()
                ),
            }
            st.reload_blocking()
        })
        .await;
        match loaded {
            Ok(Ok(Some(s))) => {
                tracing::info!(version = %s.version, "serving model {}", s.version);
                format!("serving model {}", s.version)
            }
            Ok(Ok(None)) => self.first_model(),
            Ok(Err(e)) => {
                let st = self.clone();
                let why = e.to_string();
                let fallen = tokio::task::spawn_blocking(move || st.fall_back(&why)).await;
                match fallen {
                    Ok(Some(s)) => {
                        format!("degraded: serving {} (current is unreadable)", s.version)
                    }
                    _ => {
                        tracing::error!(
                            "the current model cannot be served: {e}, and no other version can; \
                             fix or roll back, then reload"
                        );
                        "no model: the current model file is unreadable".into()
                    }
                }
            }
            Err(e) => {
                tracing::error!("loading the model failed: {e}");
                "no model".into()
            }
        }
    }

    /// `current` cannot be loaded: serve the newest version that can, and
    /// say so (the log, `health`). `current` itself is left for the
    /// operator to fix or roll back. Blocking.
    fn fall_back(&self, why: &str) -> Option<super::Swapped> {
        let _guard = self.swap_lock.lock().unwrap_or_else(|e| e.into_inner());
        let bad = self.models.current_version().ok().flatten();
        let versions = self.models.versions().ok()?;
        let newest_valid = versions
            .iter()
            .rev()
            .filter(|v| Some(*v) != bad.as_ref())
            .find_map(|v| crate::model::Model::open(&self.models.version_path(v)).ok())?;
        let swapped = self.swap_in(newest_valid);
        let reason = format!(
            "current ({}) cannot be loaded: {why}; serving {}, the newest version that can be",
            bad.as_deref().unwrap_or("?"),
            swapped.version
        );
        tracing::error!("{reason}; fix it or roll back, then reload");
        *self.degraded.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
        Some(swapped)
    }

    fn first_model(self: &Arc<Self>) -> String {
        let dataset = &self.config.paths.dataset;
        if dataset.is_dir() {
            return self.train_first();
        }
        let Some(url) = self.config.paths.dataset_url.clone() else {
            tracing::error!(
                "no model yet and no dataset at {}: {}",
                dataset.display(),
                PUT_FILES
            );
            return format!("no model: no dataset at {}", dataset.display());
        };
        self.downloading.store(true, Ordering::Relaxed);
        let st = self.clone();
        let spawned = std::thread::Builder::new()
            .name("recd-download".into())
            .spawn(move || st.download_then_train(&url));
        if let Err(e) = spawned {
            self.downloading.store(false, Ordering::Relaxed);
            tracing::error!("cannot start the download: {e}");
        }
        "downloading the dataset".into()
    }

    /// Download the dataset from `url`, then train the first model on it; on
    /// the download's thread.
    fn download_then_train(self: &Arc<Self>, url: &str) {
        let dest = self.config.paths.dataset.clone();
        tracing::info!(
            "no model and no dataset: downloading {url} into {}",
            dest.display()
        );
        let mut next_report = 0u64;
        let result = crate::train::download::fetch(
            url,
            &self.config.paths.dataset_md5,
            &dest,
            &mut |done, total| {
                if done < next_report {
                    return;
                }
                match total {
                    Some(t) => tracing::info!(
                        "downloading the dataset: {:.1} of {:.1} MB",
                        done as f64 / 1e6,
                        t as f64 / 1e6
                    ),
                    None => {
                        tracing::info!("downloading the dataset: {:.1} MB", done as f64 / 1e6)
                    }
                }
                next_report = done + total.map_or(4 << 20, |t| (t / 10).max(1));
            },
        );
        self.downloading.store(false, Ordering::Relaxed);
        match result {
            Ok(()) => {
                tracing::info!("dataset ready in {}", dest.display());
                self.train_first();
            }
            Err(e) => {
                tracing::error!("{e}; no model: {PUT_FILES} (directory {})", dest.display());
                self.notify
                    .status(&format!("no model: no dataset at {}", dest.display()));
            }
        }
    }

    /// Start training the first model (from the runtime or the download's
    /// thread); it is recorded with the trigger `startup`.
    fn train_first(self: &Arc<Self>) -> String {
        let opts = crate::train::pipeline::Options {
            database: Some(self.database()),
            ..crate::train::pipeline::Options::from_config(&self.config)
        };
        // The slot is taken at once, so health says `training` from now.
        let slot = match self.jobs.reserve() {
            Ok(slot) => slot,
            Err(_) => return "training".into(),
        };
        let st = self.clone();
        self.runtime.spawn(async move {
            match st
                .begin_in(slot, opts, crate::store::Trigger::Startup)
                .await
            {
                Ok(job) => tracing::info!(
                    job = job.id,
                    "no model yet: training the first one from {}",
                    st.config.paths.dataset.display()
                ),
                Err(e) => tracing::error!("no model yet, and the first cannot be trained: {e}"),
            }
        });
        "training the first model".into()
    }
}
