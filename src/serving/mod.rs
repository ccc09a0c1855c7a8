//! Serving policy: how a user is answered by the model in service.
//!
//! It owns [`Served`] (a mapped model with what is derived from it on
//! demand: the 8-bit item matrix, item norms, popularity, raters, and the
//! users folded in since it was loaded), the choice of strategy for a user
//! (in the model, folded in, folded in among related movies, popularity),
//! and the ranked lists each strategy gives. It never queries the database
//! (the caller hands it the user's ratings the model does not know) and
//! never writes a reply (it returns model item indices and scores).

mod strategy;

pub use strategy::{Answer, Known, NotInModel, Strategy};

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use crate::model::foldin::Folded;
use crate::model::quant::{self, QuantItems};
use crate::model::related::Raters;
use crate::model::Model;

/// A model in service, with what is derived from it on demand.
pub struct Served {
    pub model: Model,
    norms: OnceLock<Vec<f32>>,
    /// The 8-bit item matrix for the first scoring pass, where the CPU runs
    /// it. Built here, on the thread that loads the model, before it serves.
    quant: Option<QuantItems>,
    /// Users the model has not seen, until the next model (or their next
    /// rating).
    unseen: Mutex<HashMap<String, Arc<Unseen>>>,
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

    /// The `n` movies most similar to item `i`, with their similarity.
    pub fn similar(&self, i: u32, n: usize) -> Vec<(u32, f32)> {
        self.model.similar(self.quant(), i, n, self.norms())
    }
}
