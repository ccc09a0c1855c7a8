//! Request, error and connection counters for `stats`, lock-free.
//!
//! One counter per [`Method`] and per [`ErrorCode`], sized and named from
//! the enums themselves, so a new method or code is counted without being
//! listed here.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use strum::{EnumCount, IntoEnumIterator};

use crate::protocol::{Connections, ErrorCode, Method, Requests};

pub struct Stats {
    pub connections_total: AtomicU64,
    pub connections_open: AtomicU64,
    pub connections_rejected: AtomicU64,
    methods: [AtomicU64; Method::COUNT],
    errors: [AtomicU64; ErrorCode::COUNT],
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

impl Stats {
    pub fn count_method(&self, method: Method) {
        self.methods[method as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_error(&self, code: ErrorCode) {
        self.errors[code as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn connections(&self) -> Connections {
        Connections {
            open: self.connections_open.load(Ordering::Relaxed),
            total: self.connections_total.load(Ordering::Relaxed),
            rejected: self.connections_rejected.load(Ordering::Relaxed),
        }
    }

    /// Every method, counted or not.
    pub fn requests(&self) -> Requests {
        let by_method: BTreeMap<String, u64> = Method::iter()
            .map(|m| {
                (
                    m.name().to_owned(),
                    self.methods[m as usize].load(Ordering::Relaxed),
                )
            })
            .collect();
        Requests {
            total: by_method.values().sum(),
            by_method,
        }
    }

    /// The codes sent at least once.
    pub fn errors(&self) -> BTreeMap<String, u64> {
        ErrorCode::iter()
            .map(|c| {
                (
                    c.as_str().to_owned(),
                    self.errors[c as usize].load(Ordering::Relaxed),
                )
            })
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_code_is_counted() {
        let stats = Stats::default();
        for (k, code) in ErrorCode::iter().enumerate() {
            for _ in 0..=k {
                stats.count_error(code);
            }
        }
        let errors = stats.errors();
        assert_eq!(errors.len(), ErrorCode::COUNT);
        for (k, code) in ErrorCode::iter().enumerate() {
            assert_eq!(errors.get(code.as_str()), Some(&(k as u64 + 1)), "{code:?}");
        }
        // The codes the old hand-kept list left out.
        for code in ["invalid_rating", "invalid_user", "db_unavailable"] {
            assert!(errors.contains_key(code), "{code}");
        }
    }

    #[test]
    fn every_method_is_listed_and_counted() {
        let stats = Stats::default();
        for m in Method::iter() {
            stats.count_method(m);
        }
        let r = stats.requests();
        assert_eq!(r.by_method.len(), Method::COUNT);
        assert_eq!(r.total, Method::COUNT as u64);
        assert!(r.by_method.values().all(|&n| n == 1));
    }
}
