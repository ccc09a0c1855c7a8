//! Dense indices: ratings as parallel arrays, and the map from sparse
//! external ids to dense indices in first-seen order.
//!
//! Pure data structures; they never read a file.

use std::collections::HashMap;

/// Ratings as parallel arrays of dense indices (12 bytes a rating). A
/// retrain keeps one such set from loading to export: it is split, reordered
/// for training and read for the model's tables in place, never copied.
#[derive(Debug, Default, Clone)]
pub struct Ratings {
    pub users: Vec<u32>,
    pub items: Vec<u32>,
    pub values: Vec<f32>,
}

impl Ratings {
    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn push(&mut self, user: u32, item: u32, value: f32) {
        self.users.push(user);
        self.items.push(item);
        self.values.push(value);
    }

    /// Move the ratings `take` picks into a new set, in their order, and
    /// keep the others here, in theirs: each rating stays in memory once,
    /// and the space the moved ones held goes back to the allocator.
    pub fn split_off_where(&mut self, mut take: impl FnMut(u32, u32) -> bool) -> Ratings {
        let mut taken = Ratings::default();
        let mut kept = 0;
        for k in 0..self.len() {
            let (u, i, v) = (self.users[k], self.items[k], self.values[k]);
            if take(u, i) {
                taken.push(u, i, v);
            } else {
                self.users[kept] = u;
                self.items[kept] = i;
                self.values[kept] = v;
                kept += 1;
            }
        }
        self.users.truncate(kept);
        self.items.truncate(kept);
        self.values.truncate(kept);
        self.users.shrink_to_fit();
        self.items.shrink_to_fit();
        self.values.shrink_to_fit();
        taken
    }
}

/// Maps sparse external numeric ids to dense indices in first-seen order.
#[derive(Debug, Default, Clone)]
pub struct Interner {
    // Ids below DENSE_LIMIT use a direct table: MovieLens ids are small and
    // this is the hot path of loading (a hash lookup costs 3x as much).
    table: Vec<u32>,
    spill: HashMap<u32, u32>,
    ids: Vec<u32>,
}

const DENSE_LIMIT: u32 = 1 << 24;
const ABSENT: u32 = u32::MAX;

impl Interner {
    pub fn intern(&mut self, id: u32) -> u32 {
        if id < DENSE_LIMIT {
            let slot = id as usize;
            if slot >= self.table.len() {
                self.table
                    .resize((slot + 1).max(self.table.len() * 2), ABSENT);
            }
            if self.table[slot] == ABSENT {
                self.table[slot] = self.ids.len() as u32;
                self.ids.push(id);
            }
            self.table[slot]
        } else {
            let next = self.ids.len() as u32;
            let idx = *self.spill.entry(id).or_insert(next);
            if idx == next {
                self.ids.push(id);
            }
            idx
        }
    }

    /// The interner that gives `ids[k]` index `k`; None if an id repeats.
    pub fn from_ids(ids: Vec<u32>) -> Option<Interner> {
        let mut interner = Interner::default();
        for &id in &ids {
            let before = interner.ids.len();
            interner.intern(id);
            if interner.ids.len() == before {
                return None;
            }
        }
        debug_assert_eq!(interner.ids, ids);
        Some(interner)
    }

    pub fn get(&self, id: u32) -> Option<u32> {
        if id < DENSE_LIMIT {
            self.table
                .get(id as usize)
                .copied()
                .filter(|&i| i != ABSENT)
        } else {
            self.spill.get(&id).copied()
        }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// External ids by dense index.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }
}
