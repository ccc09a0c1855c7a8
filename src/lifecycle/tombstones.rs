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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;

use crate::store::Erasure;

#[derive(Debug, Default)]
pub struct Tombstones {
    /// Erased user and the id of their latest erasure.
    users: RwLock<HashMap<String, i64>>,
    /// Set once the database's erasures have been loaded.
    loaded: AtomicBool,
}

impl Tombstones {
    /// Whether a model whose `erased_through` is `through` must not answer
    /// for `user`. The caller passes the model it is answering from, so a
    /// request that holds a model while a newer one is swapped in judges
    /// by its own.
    pub fn contains(&self, user: &str, through: i64) -> bool {
        let users = self.users.read().unwrap_or_else(|e| e.into_inner());
        users.get(user).is_some_and(|&id| id > through)
    }

    /// Whether the database's erasures have been loaded: until then, any
    /// application user may have been erased.
    pub fn known(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tombstone_applies_to_models_trained_before_it() {
        let t = Tombstones::default();
        assert!(!t.known());
        t.add("old", 2);
        assert!(!t.contains("old", 3), "a model trained after erasure 2");
        t.add("a", 4);
        t.load(&[Erasure {
            id: 5,
            user: "b".into(),
            ratings_deleted: 1,
            erased_at: 0,
            by_uid: None,
            by_token: None,
        }]);
        assert!(t.contains("a", 3) && t.contains("b", 3) && !t.contains("c", 3));
        assert!(t.known());
        assert!(!t.contains("a", 4) && t.contains("b", 4));
        // A model trained before both (a rollback, or a request still
        // holding the model a newer one replaced).
        assert!(t.contains("a", 0) && t.contains("b", 0) && t.contains("old", 0));
        // Erased again after rating again: the latest erasure counts.
        t.add("a", 9);
        assert!(t.contains("a", 5) && !t.contains("b", 5));
    }
}
