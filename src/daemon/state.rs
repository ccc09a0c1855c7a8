//! What the daemon's tasks share: the served model, the models directory,
//! the retrain jobs, counters, and the shutdown token.
//!
//! The served model is an `Arc` behind an atomic swap. A request loads one
//! snapshot and keeps it to its end, so a reload neither blocks nor fails a
//! request in flight; the old model is unmapped when its last request ends.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use arc_swap::ArcSwapOption;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::jobs::Jobs;
use crate::model::foldin::Folded;
use crate::model::format::ModelError;
use crate::model::publish::ModelsDir;
use crate::model::quant::{self, QuantItems};
use crate::model::related::Raters;
use crate::model::Model;
use crate::notify::Notifier;
use crate::protocol::{ErrorCode, METHODS};

/// A model in service, with what is derived from it on demand.
pub struct Served {
    pub model: Model,
    norms: OnceLock<Vec<f32>>,
    /// The 8-bit item matrix for the first scoring pass, where the CPU runs
    /// it. Built here, on the thread that loads the model, before it serves.
    quant: Option<QuantItems>,
    /// Users the model has not seen, until the next model (or their next
    /// rating).
    unseen: std::sync::Mutex<std::collections::HashMap<String, Arc<Unseen>>>,
    /// Damped mean rating per item, for users with no ratings.
    popularity: OnceLock<Vec<f32>>,
    /// Who rated each item, for the movies related to a new user's.
    raters: OnceLock<Raters>,
}

/// A user the model has not seen, as served from their database ratings.
#[derive(Debug)]
pub struct Unseen {
    pub folded: Folded,
    /// Movies related to the ones they rated, most related first: what a
    /// user with few ratings is recommended from. Empty for the others.
    pub related: Vec<u32>,
}

impl Served {
    pub fn new(model: Model) -> Served {
        let quant = if quant::supported() {
            QuantItems::new(model.item_factor_matrix(), model.stride())
        } else {
            None
        };
        Served {
            model,
            norms: OnceLock::new(),
            quant,
            unseen: Default::default(),
            popularity: OnceLock::new(),
            raters: OnceLock::new(),
        }
    }

    /// The damped mean rating of every item, computed on first use.
    pub fn popularity(&self, damping: f32) -> &[f32] {
        self.popularity
            .get_or_init(|| self.model.damped_means(damping))
    }

    /// `user` folded in from `ratings` (movie id, rating), with up to
    /// `related` movies related to theirs, from the cache when it is there.
    /// At most `cache` users are kept; when full, the cache starts over.
    pub fn unseen(
        &self,
        user: &str,
        ratings: &[(u32, f32)],
        reg: f64,
        related: usize,
        cache: usize,
    ) -> Arc<Unseen> {
        if let Some(f) = self.unseen.lock().ok().and_then(|c| c.get(user).cloned()) {
            return f;
        }
        let items: Vec<(u32, f32)> = ratings
            .iter()
            .filter_map(|&(movie, r)| Some((self.model.item_index(movie)?, r)))
            .collect();
        let m = &self.model;
        let f = Arc::new(Unseen {
            folded: m.fold_in(&items, reg),
            related: if related > 0 {
                m.related(self.raters.get_or_init(|| Raters::new(m)), &items, related)
            } else {
                Vec::new()
            },
        });
        if cache > 0 {
            if let Ok(mut c) = self.unseen.lock() {
                if c.len() >= cache {
                    c.clear();
                }
                c.insert(user.to_owned(), f.clone());
            }
        }
        f
    }

    /// Forget a folded-in user (they rated again).
    pub fn forget(&self, user: &str) {
        if let Ok(mut c) = self.unseen.lock() {
            c.remove(user);
        }
    }

    pub fn quant(&self) -> Option<&QuantItems> {
        self.quant.as_ref()
    }

    pub fn version(&self) -> &str {
        &self.model.metadata().version
    }

    /// Item factor norms for `similar`, computed on first use.
    pub fn norms(&self) -> &[f32] {
        self.norms.get_or_init(|| self.model.item_norms())
    }
}

pub struct State {
    pub config: Config,
    pub models: ModelsDir,
    pub served: ArcSwapOption<Served>,
    pub jobs: Arc<Jobs>,
    pub stats: Stats,
    pub started: Instant,
    pub notify: Notifier,
    pub shutdown: CancellationToken,
    pub admin: Admin,
    /// The ratings database.
    pub db: Arc<super::db::Db>,
    /// The daemon's runtime, for threads outside it that need the database.
    pub runtime: tokio::runtime::Handle,
    /// Set while the dataset is being downloaded on first start.
    pub downloading: std::sync::atomic::AtomicBool,
    /// Serialises reload, rollback and the swap after a retrain, so two of
    /// them cannot interleave their read of `current` and their swap. Held
    /// only on blocking threads, never across an `.await`.
    swap_lock: std::sync::Mutex<()>,
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swapped {
    pub previous: Option<String>,
    pub version: String,
}

impl State {
    /// Call it on the daemon's runtime.
    pub fn new(
        config: Config,
        db: Arc<super::db::Db>,
        notify: Notifier,
        shutdown: CancellationToken,
    ) -> State {
        let admin = Admin::resolve(config.daemon.admin_group.as_deref());
        State {
            db,
            runtime: tokio::runtime::Handle::current(),
            models: ModelsDir::new(&config.paths.models_dir),
            config,
            served: ArcSwapOption::empty(),
            jobs: Arc::new(Jobs::default()),
            stats: Stats::default(),
            started: Instant::now(),
            notify,
            shutdown,
            admin,
            downloading: std::sync::atomic::AtomicBool::new(false),
            swap_lock: std::sync::Mutex::new(()),
        }
    }

    /// A rating or a removal, committed, and the user's folded-in vector
    /// (built from their old ratings) forgotten.
    pub async fn write(
        &self,
        write: crate::store::Write,
    ) -> Result<crate::store::Done, crate::store::StoreError> {
        let user = write.user().to_owned();
        let done = self.db.write(write).await?;
        if let Some(s) = self.served() {
            s.forget(&user);
        }
        Ok(done)
    }

    /// The database for the retrain pipeline (which runs off the runtime).
    pub fn database(&self) -> crate::store::Blocking {
        crate::store::Blocking {
            store: self.db.store.clone(),
            handle: self.runtime.clone(),
        }
    }

    pub fn served(&self) -> Option<Arc<Served>> {
        self.served.load_full()
    }

    /// Open the model `current` points at and swap it in. Blocking (it reads
    /// and verifies the whole file): call it off the reactor. On any error
    /// the model in service stays.
    pub fn reload_blocking(&self) -> Result<Option<Swapped>, ModelError> {
        let _guard = self.swap_lock.lock().unwrap_or_else(|e| e.into_inner());
        let Some(model) = self.models.open_current()? else {
            return Ok(None);
        };
        Ok(Some(self.swap(model)))
    }

    /// Point `current` at `version`, verified first, and serve it.
    pub fn rollback_blocking(&self, version: &str) -> Result<Swapped, RollbackError> {
        let _guard = self.swap_lock.lock().unwrap_or_else(|e| e.into_inner());
        let known = self
            .models
            .versions()
            .map_err(|e| RollbackError::Io(e.to_string()))?;
        if !known.iter().any(|v| v == version) {
            return Err(RollbackError::Unknown(known));
        }
        let model =
            Model::open(&self.models.version_path(version)).map_err(RollbackError::Model)?;
        self.models
            .switch_current(version)
            .map_err(|e| RollbackError::Io(e.to_string()))?;
        Ok(self.swap(model))
    }

    fn swap(&self, model: Model) -> Swapped {
        let version = model.metadata().version.clone();
        self.db
            .model_changed(model.metadata().db_watermark, &self.runtime);
        let old = self.served.swap(Some(Arc::new(Served::new(model))));
        Swapped {
            previous: old.map(|o| o.version().to_owned()),
            version,
        }
    }
}

#[derive(Debug)]
pub enum RollbackError {
    Unknown(Vec<String>),
    Model(ModelError),
    Io(String),
}

/// Request and error counters, lock-free.
pub struct Stats {
    pub connections_total: AtomicU64,
    pub connections_open: AtomicU64,
    pub connections_rejected: AtomicU64,
    methods: [AtomicU64; METHODS.len()],
    errors: [AtomicU64; ERROR_CODES.len()],
}

impl Default for Stats {
    fn default() -> Stats {
        Stats {
            connections_total: AtomicU64::new(0),
            connections_open: AtomicU64::new(0),
            connections_rejected: AtomicU64::new(0),
            methods: std::array::from_fn(|_| AtomicU64::new(0)),
            errors: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

pub const ERROR_CODES: [ErrorCode; 17] = [
    ErrorCode::ParseError,
    ErrorCode::InvalidRequest,
    ErrorCode::LineTooLong,
    ErrorCode::UnknownMethod,
    ErrorCode::InvalidParams,
    ErrorCode::UnknownUser,
    ErrorCode::UnknownMovie,
    ErrorCode::NoModel,
    ErrorCode::Busy,
    ErrorCode::UnknownJob,
    ErrorCode::UnknownVersion,
    ErrorCode::ReloadFailed,
    ErrorCode::TrainFailed,
    ErrorCode::PermissionDenied,
    ErrorCode::ShuttingDown,
    ErrorCode::TooManyConnections,
    ErrorCode::Internal,
];

impl Stats {
    pub fn count_method(&self, method: &str) {
        if let Some(i) = METHODS.iter().position(|m| *m == method) {
            self.methods[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn count_error(&self, code: ErrorCode) {
        if let Some(i) = ERROR_CODES.iter().position(|c| *c == code) {
            self.errors[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn snapshot(&self) -> serde_json::Value {
        let methods: serde_json::Map<_, _> = METHODS
            .iter()
            .zip(&self.methods)
            .map(|(m, n)| (m.to_string(), n.load(Ordering::Relaxed).into()))
            .collect();
        let errors: serde_json::Map<_, _> = ERROR_CODES
            .iter()
            .zip(&self.errors)
            .filter(|(_, n)| n.load(Ordering::Relaxed) > 0)
            .map(|(c, n)| (c.as_str().to_string(), n.load(Ordering::Relaxed).into()))
            .collect();
        let total: u64 = self.methods.iter().map(|n| n.load(Ordering::Relaxed)).sum();
        serde_json::json!({
            "connections": {
                "open": self.connections_open.load(Ordering::Relaxed),
                "total": self.connections_total.load(Ordering::Relaxed),
                "rejected": self.connections_rejected.load(Ordering::Relaxed),
            },
            "requests": { "total": total, "by_method": methods },
            "errors": errors,
        })
    }
}

/// Who may call admin methods: root, the daemon's own user, and members of
/// the admin group (resolved once at start).
#[derive(Debug, Clone)]
pub struct Admin {
    own_uid: u32,
    group: Option<(u32, Vec<String>)>,
}

impl Admin {
    fn resolve(group: Option<&str>) -> Admin {
        let group = group.and_then(|name| match nix::unistd::Group::from_name(name) {
            Ok(Some(g)) => Some((g.gid.as_raw(), g.mem)),
            Ok(None) => {
                tracing::info!("admin group '{name}' does not exist; admin methods are for root and recd's own user");
                None
            }
            Err(e) => {
                tracing::warn!("cannot look up admin group '{name}': {e}");
                None
            }
        });
        Admin {
            own_uid: nix::unistd::geteuid().as_raw(),
            group,
        }
    }

    /// Whether the peer (uid, gid, pid from SO_PEERCRED) may call admin methods.
    pub fn allows(&self, uid: u32, gid: u32, pid: Option<i32>) -> bool {
        if uid == 0 || uid == self.own_uid {
            return true;
        }
        let Some((admin_gid, members)) = &self.group else {
            return false;
        };
        if gid == *admin_gid {
            return true;
        }
        // The peer process's supplementary groups, as the kernel has them.
        if let Some(groups) =
            pid.and_then(|p| std::fs::read_to_string(format!("/proc/{p}/status")).ok())
        {
            let listed = groups
                .lines()
                .find_map(|l| l.strip_prefix("Groups:"))
                .is_some_and(|g| g.split_whitespace().any(|g| g.parse() == Ok(*admin_gid)));
            if listed {
                return true;
            }
        }
        nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
            .ok()
            .flatten()
            .is_some_and(|u| members.contains(&u.name))
    }
}
