//! Request, error, latency and connection counters, for `stats` and for
//! `/metrics`, lock-free.
//!
//! One counter and one latency histogram per [`Method`], one counter per
//! [`ErrorCode`], sized and named from the enums themselves, so a new
//! method or code is counted without being listed here. They are the
//! `prometheus` crate's types, registered once under their exported names:
//! `stats` reads their values, `/metrics` gathers them. A request costs an
//! atomic add on its method's counter and a histogram observation (a few
//! atomic adds); nothing here takes a lock on the request path.

use std::collections::BTreeMap;
use std::time::Duration;

use prometheus::core::Collector;
use prometheus::proto::MetricFamily;
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};
use strum::IntoEnumIterator;

use crate::protocol::{Connections, ErrorCode, Method, Requests};

/// The latency buckets' upper bounds, in seconds: from a query's tens of
/// microseconds to an import's or a retrain's minutes (what takes longer
/// falls in `+Inf`). Fixed, so every scrape has the same series.
pub const LATENCY_BUCKETS: [f64; 19] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0, 300.0,
];

pub struct Stats {
    pub connections_total: IntCounter,
    pub connections_open: IntGauge,
    pub connections_rejected: IntCounter,
    /// By `Method as usize`.
    methods: Vec<IntCounter>,
    /// By `ErrorCode as usize`.
    errors: Vec<IntCounter>,
    /// By `Method as usize`.
    latency: Vec<Histogram>,
    registry: Registry,
}

impl Default for Stats {
    fn default() -> Stats {
        // Every name, help text and label here is a constant, and the unit
        // tests build a `Stats`: these cannot fail at run time.
        const VALID: &str = "the server's metric definitions are valid";
        let registry = Registry::new();
        let register = |c: Box<dyn Collector>| registry.register(c).expect(VALID);

        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect(VALID);
            register(Box::new(c.clone()));
            c
        };
        let connections_total = counter(
            "recd_connections_total",
            "Connections accepted on the socket, including those refused over the limit.",
        );
        let connections_rejected = counter(
            "recd_connections_rejected_total",
            "Connections refused because daemon.max_connections were open.",
        );
        let connections_open = IntGauge::new(
            "recd_connections_open",
            "Connections open on the socket now.",
        )
        .expect(VALID);
        register(Box::new(connections_open.clone()));

        let requests = IntCounterVec::new(
            Opts::new(
                "recd_requests_total",
                "Requests received on the socket, by method (those that failed included).",
            ),
            &["method"],
        )
        .expect(VALID);
        let errors = IntCounterVec::new(
            Opts::new(
                "recd_errors_total",
                "Error replies sent on the socket, by error code.",
            ),
            &["code"],
        )
        .expect(VALID);
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "recd_request_duration_seconds",
                "Time from a request's line read to its reply ready, by method.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["method"],
        )
        .expect(VALID);
        register(Box::new(requests.clone()));
        register(Box::new(errors.clone()));
        register(Box::new(latency.clone()));

        // Each series made now, so every method and code is exported from
        // the start, at zero.
        Stats {
            connections_total,
            connections_open,
            connections_rejected,
            methods: Method::iter()
                .map(|m| requests.with_label_values(&[m.name()]))
                .collect(),
            errors: ErrorCode::iter()
                .map(|c| errors.with_label_values(&[c.as_str()]))
                .collect(),
            latency: Method::iter()
                .map(|m| latency.with_label_values(&[m.name()]))
                .collect(),
            registry,
        }
    }
}

impl Stats {
    pub fn count_method(&self, method: Method) {
        self.methods[method as usize].inc();
    }

    pub fn count_error(&self, code: ErrorCode) {
        self.errors[code as usize].inc();
    }

    /// How long a request of `method` took.
    pub fn observe(&self, method: Method, took: Duration) {
        self.latency[method as usize].observe(took.as_secs_f64());
    }

    pub fn connections(&self) -> Connections {
        Connections {
            open: self.connections_open.get().max(0) as u64,
            total: self.connections_total.get(),
            rejected: self.connections_rejected.get(),
        }
    }

    /// Every method, counted or not.
    pub fn requests(&self) -> Requests {
        let by_method: BTreeMap<String, u64> = Method::iter()
            .map(|m| (m.name().to_owned(), self.methods[m as usize].get()))
            .collect();
        Requests {
            total: by_method.values().sum(),
            by_method,
        }
    }

    /// The codes sent at least once.
    pub fn errors(&self) -> BTreeMap<String, u64> {
        ErrorCode::iter()
            .map(|c| (c.as_str().to_owned(), self.errors[c as usize].get()))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// Every counter and histogram here, for `/metrics`.
    pub fn gather(&self) -> Vec<MetricFamily> {
        self.registry.gather()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::EnumCount;

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

    fn family<'a>(families: &'a [MetricFamily], name: &str) -> &'a MetricFamily {
        families
            .iter()
            .find(|f| f.name() == name)
            .unwrap_or_else(|| panic!("no family {name}"))
    }

    /// The label values of a family's series, sorted.
    fn labels(f: &MetricFamily) -> Vec<String> {
        let mut v: Vec<String> = f
            .get_metric()
            .iter()
            .map(|m| m.get_label()[0].value().to_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn every_method_and_code_is_exported_before_it_is_counted() {
        let families = Stats::default().gather();
        let mut methods: Vec<String> = Method::iter().map(|m| m.name().to_owned()).collect();
        methods.sort();
        let mut codes: Vec<String> = ErrorCode::iter().map(|c| c.as_str().to_owned()).collect();
        codes.sort();
        assert_eq!(labels(family(&families, "recd_requests_total")), methods);
        assert_eq!(
            labels(family(&families, "recd_request_duration_seconds")),
            methods
        );
        assert_eq!(labels(family(&families, "recd_errors_total")), codes);
        for f in &families {
            assert!(f.name().starts_with("recd_"), "{}", f.name());
            assert!(!f.help().is_empty(), "{}", f.name());
        }
    }

    #[test]
    fn latencies_fall_in_their_buckets() {
        let stats = Stats::default();
        for micros in [50, 100, 150, 2_000, 400_000_000] {
            stats.observe(Method::Recommend, Duration::from_micros(micros));
        }
        stats.observe(Method::Rate, Duration::from_millis(3));
        let families = stats.gather();
        let f = family(&families, "recd_request_duration_seconds");
        let h = f
            .get_metric()
            .iter()
            .find(|m| m.get_label()[0].value() == "recommend")
            .unwrap()
            .get_histogram();
        assert_eq!(h.get_sample_count(), 5);
        assert!(
            (h.get_sample_sum() - 400.0023).abs() < 1e-9,
            "{}",
            h.get_sample_sum()
        );
        let cumulative: Vec<(f64, u64)> = h
            .get_bucket()
            .iter()
            .map(|b| (b.upper_bound(), b.cumulative_count()))
            .collect();
        assert_eq!(cumulative.len(), LATENCY_BUCKETS.len());
        // 50 µs and 100 µs (a bound is inclusive), then 150 µs, then 2 ms;
        // 400 s is past the last bound: only in the count (`+Inf`).
        assert_eq!(cumulative[0], (0.0001, 2));
        assert_eq!(cumulative[1], (0.00025, 3));
        assert_eq!(cumulative[4], (0.0025, 4));
        assert_eq!(*cumulative.last().unwrap(), (300.0, 4));
    }
}
