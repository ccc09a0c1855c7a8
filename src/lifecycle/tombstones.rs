//! Users erased by `forget` whom the served model may still hold: no model
//! answers for them with what it learnt of them. An erasure is a tombstone
//! for every model trained before it (the model's `erased_through` is
//! below the erasure's id). A model trained after it has no row for the
//! user, so the tombstone stops applying once such a model serves, and
//! applies again after a rollback to an older model.
//!
//! Filled from the database's `erasures` when the daemon reaches it, and
//! at once by each `forget`; it never queries the database itself. Until
//! it has been filled, who was erased is not known: the caller serves
//! every application user as one the model has not seen (fail closed).
//! It holds one entry per erased user (their latest erasure), a few dozen
//! bytes each.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::RwLock;

use crate::store::Erasure;

#[derive(Debug, Default)]
pub struct Tombstones {
    /// Erased user and the id of their latest erasure.
    users: RwLock<HashMap<String, i64>>,
    /// The served model's `erased_through`.
    through: AtomicI64,
    /// Set once the database's erasures have been loaded.
    loaded: AtomicBool,
}

impl Tombstones {
    /// Whether the served model must not answer for `user`.
    pub fn contains(&self, user: &str) -> bool {
        let users = self.users.read().unwrap_or_else(|e| e.into_inner());
        users
            .get(user)
            .is_some_and(|&id| id > self.through.load(Ordering::Relaxed))
    }

    /// Whether the database's erasures have been loaded: until then, any
    /// application user may have been erased.
    pub fn known(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    /// How many users the served model must not answer for.
    pub fn active(&self) -> usize {
        let through = self.through.load(Ordering::Relaxed);
        let users = self.users.read().unwrap_or_else(|e| e.into_inner());
        users.values().filter(|&&id| id > through).count()
    }

    /// `user` was erased by erasure `id`.
    pub fn add(&self, user: &str, id: i64) {
        let mut users = self.users.write().unwrap_or_else(|e| e.into_inner());
        let latest = users.entry(user.to_owned()).or_insert(id);
        *latest = (*latest).max(id);
    }

    /// The erasures recorded in the database.
    pub fn load(&self, erasures: &[Erasure]) {
        for e in erasures {
            self.add(&e.user, e.id);
        }
        self.loaded.store(true, Ordering::Release);
    }

    /// A model whose `erased_through` is `through` serves.
    pub fn model_changed(&self, through: i64) {
        self.through.store(through, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tombstone_applies_to_models_trained_before_it() {
        let t = Tombstones::default();
        assert!(!t.known());
        t.model_changed(3);
        t.add("old", 2);
        assert!(!t.contains("old"), "a model trained after erasure 2 serves");
        t.add("a", 4);
        t.load(&[Erasure {
            id: 5,
            user: "b".into(),
            ratings_deleted: 1,
            erased_at: 0,
            by_uid: None,
        }]);
        assert!(t.contains("a") && t.contains("b") && !t.contains("c"));
        assert!(t.known());
        assert_eq!(t.active(), 2);
        t.model_changed(4);
        assert!(!t.contains("a") && t.contains("b"));
        // A rollback to a model trained before both.
        t.model_changed(0);
        assert!(t.contains("a") && t.contains("b") && t.contains("old"));
        // Erased again after rating again: the latest erasure counts.
        t.add("a", 9);
        t.model_changed(5);
        assert!(t.contains("a") && !t.contains("b"));
    }
}
