//! What `/metrics` says, in the Prometheus text format (0.0.4).
//!
//! Two sources: the server's counters and histograms as they stand
//! (`server::stats`, kept on the request path), and, read at each scrape,
//! what `health` reports (the status, the model serving), the runs the
//! daemon has announced, the next scheduled run, the ratings written, and
//! the newest ended run the database records (one indexed query, which is
//! also what says whether the database is up). Label values come from the
//! enums they name (`HealthStatus`, `RunStatus`), never from a list here.
//!
//! The `prometheus` crate writes the text: its `TextEncoder` gives every
//! family `# HELP` and `# TYPE` lines and `_total` counters as Prometheus
//! 2's `promtool check metrics` expects (`prometheus-client` writes
//! OpenMetrics, which that promtool reads as counters without help text).

use std::time::{Duration, SystemTime};

use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};
use prometheus::{Encoder, TextEncoder};
use strum::IntoEnumIterator;

use crate::lifecycle::State;
use crate::protocol::HealthStatus;
use crate::server::Server;
use crate::store::{Run, RunFilter, RunStatus};

/// What `/metrics` is sent as.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How long a scrape waits for the database before calling it down.
const DB_WAIT: Duration = Duration::from_secs(2);

/// Runs read to find the newest that has ended: runs in progress come
/// first (the daemon's one, and offline ones beside it).
const RUNS_READ: u32 = 8;

/// Every family, as the text format writes it.
pub async fn render(server: &Server) -> Result<String, prometheus::Error> {
    let families = gather(server).await;
    let mut out = Vec::with_capacity(32 * 1024);
    TextEncoder::new().encode(&families, &mut out)?;
    // The encoder writes only the `&str`s it is given.
    String::from_utf8(out).map_err(|e| prometheus::Error::Msg(e.to_string()))
}

/// Every family, sorted by name.
async fn gather(server: &Server) -> Vec<MetricFamily> {
    let state = &server.state;
    let (db_up, last) = last_ended_run(state).await;
    let mut families = server.stats.gather();
    families.extend(state_families(state, db_up, last.as_ref()));
    families.sort_by(|a, b| a.name().cmp(b.name()));
    families
}

/// Whether the database answered, and the newest run it records as ended.
async fn last_ended_run(state: &State) -> (bool, Option<Run>) {
    // Not reached (or migrated) yet: no table to read.
    if state.db.catalogue().is_err() {
        return (false, None);
    }
    let read = state.db.store.runs(RUNS_READ, RunFilter::default());
    match tokio::time::timeout(DB_WAIT, read).await {
        Ok(Ok(runs)) => (
            true,
            runs.into_iter().find(|r| r.status != RunStatus::Running),
        ),
        Ok(Err(e)) => {
            tracing::debug!("metrics: the database did not answer: {e}");
            (false, None)
        }
        Err(_) => (false, None),
    }
}

/// The families read from the state at a scrape.
fn state_families(state: &State, db_up: bool, last: Option<&Run>) -> Vec<MetricFamily> {
    let health = crate::server::methods::health(state);
    let now = crate::clock::unix_seconds(SystemTime::now());
    let mut out = vec![
        gauge(
            "recd_build_info",
            "The recd release running, as a label; always 1.",
            vec![labelled(&[("version", env!("CARGO_PKG_VERSION"))], 1.0)],
        ),
        gauge(
            "recd_health_status",
            "1 for the status health reports (ok, degraded, training, ...), 0 for the others.",
            HealthStatus::iter()
                .map(|s| labelled(&[("status", s.into())], (s == health.status).into()))
                .collect(),
        ),
        gauge(
            "recd_database_up",
            "1 if the ratings database answered this scrape within 2 s, else 0.",
            vec![value(db_up.into())],
        ),
        counter(
            "recd_ratings_written_total",
            "Ratings written to the database by rate and import since the daemon started.",
            vec![value(state.db.ratings_written() as f64)],
        ),
        counter(
            "recd_training_runs_total",
            "Training runs the daemon ran that ended since it started, by how they ended.",
            RunStatus::iter()
                .filter(|&s| s != RunStatus::Running)
                .map(|s| labelled(&[("status", s.name())], state.runs_ended.get(s) as f64))
                .collect(),
        ),
        gauge(
            "recd_training_in_progress",
            "1 while the daemon runs a retrain, else 0.",
            vec![value(state.jobs.busy().into())],
        ),
    ];
    let mut add = |name: &str, help: &str, v: Option<f64>| {
        if let Some(v) = v {
            out.push(gauge(name, help, vec![value(v)]));
        }
    };
    let model = health.model.as_ref();
    let trained = model.and_then(|m| crate::clock::parse_rfc3339(&m.details.trained_at));
    add(
        "recd_model_trained_timestamp_seconds",
        "When the model serving was trained (Unix time).",
        trained.map(|t| t as f64),
    );
    add(
        "recd_model_age_seconds",
        "Seconds since the model serving was trained.",
        trained.map(|t| (now - t).max(0) as f64),
    );
    add(
        "recd_model_holdout_rmse",
        "Holdout RMSE of the model serving, as measured when it was trained.",
        model.and_then(|m| m.details.metrics.map(|x| x.rmse)),
    );
    add(
        "recd_schedule_next_run_timestamp_seconds",
        "When the schedule runs the next retrain (Unix time); absent when none is due.",
        state.schedule.live().next.map(|t| t.as_second() as f64),
    );
    add(
        "recd_training_last_run_duration_seconds",
        "How long the newest ended training run the database records took.",
        last.and_then(|r| r.seconds),
    );
    add(
        "recd_training_last_run_end_timestamp_seconds",
        "When the newest ended training run the database records ended (Unix time).",
        last.and_then(|r| r.finished_at).map(|t| t as f64),
    );
    add(
        "recd_training_last_run_holdout_rmse",
        "Holdout RMSE of the model the newest ended training run trained, published or not.",
        last.and_then(|r| r.metrics.as_ref()?.get("rmse")?.as_f64()),
    );
    if let Some(m) = model {
        out.push(gauge(
            "recd_model_info",
            "The model serving, its version as a label; always 1.",
            vec![labelled(&[("version", &m.version)], 1.0)],
        ));
    }
    if let Some(run) = last {
        out.push(gauge(
            "recd_training_last_run_status",
            "1 for how the newest ended training run the database records ended, 0 for the others.",
            RunStatus::iter()
                .filter(|&s| s != RunStatus::Running)
                .map(|s| labelled(&[("status", s.name())], (s == run.status).into()))
                .collect(),
        ));
    }
    out
}

/// One series of a family: its labels and its value.
type Series = (Vec<LabelPair>, f64);

/// A family of `kind`, each series' value set on its metric by `set`.
fn family(
    name: &str,
    help: &str,
    kind: MetricType,
    series: Vec<Series>,
    set: impl Fn(&mut Metric, f64),
) -> MetricFamily {
    let mut f = MetricFamily::default();
    f.set_name(name.to_owned());
    f.set_help(help.to_owned());
    f.set_field_type(kind);
    f.set_metric(
        series
            .into_iter()
            .map(|(labels, v)| {
                let mut m = Metric::from_label(labels);
                set(&mut m, v);
                m
            })
            .collect(),
    );
    f
}

fn gauge(name: &str, help: &str, series: Vec<Series>) -> MetricFamily {
    family(name, help, MetricType::GAUGE, series, |m, v| {
        let mut g = Gauge::default();
        g.set_value(v);
        m.set_gauge(g);
    })
}

fn counter(name: &str, help: &str, series: Vec<Series>) -> MetricFamily {
    family(name, help, MetricType::COUNTER, series, |m, v| {
        let mut c = Counter::default();
        c.set_value(v);
        m.set_counter(c);
    })
}

fn value(v: f64) -> Series {
    (Vec::new(), v)
}

fn labelled(labels: &[(&str, &str)], v: f64) -> Series {
    let pairs = labels
        .iter()
        .map(|(name, value)| {
            let mut l = LabelPair::default();
            l.set_name((*name).to_owned());
            l.set_value((*value).to_owned());
            l
        })
        .collect();
    (pairs, v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(families: &[MetricFamily]) -> String {
        TextEncoder::new().encode_to_string(families).unwrap()
    }

    #[test]
    fn families_are_written_with_help_type_and_labels() {
        let out = text(&[
            counter(
                "recd_things_total",
                "Things.",
                vec![
                    labelled(&[("kind", "a")], 3.0),
                    labelled(&[("kind", "b")], 0.0),
                ],
            ),
            gauge("recd_level", "A level.", vec![value(0.25)]),
        ]);
        assert_eq!(
            out,
            "# HELP recd_things_total Things.\n\
             # TYPE recd_things_total counter\n\
             recd_things_total{kind=\"a\"} 3\n\
             recd_things_total{kind=\"b\"} 0\n\
             # HELP recd_level A level.\n\
             # TYPE recd_level gauge\n\
             recd_level 0.25\n"
        );
    }

    /// A model version is a label value: whatever it holds is escaped.
    #[test]
    fn label_values_and_help_are_escaped() {
        let out = text(&[gauge(
            "recd_model_info",
            "Back\\slash and\nnewline.",
            vec![labelled(&[("version", "a\"b\\c\nd")], 1.0)],
        )]);
        assert!(
            out.contains("# HELP recd_model_info Back\\\\slash and\\nnewline.\n"),
            "{out}"
        );
        assert!(
            out.contains("recd_model_info{version=\"a\\\"b\\\\c\\nd\"} 1\n"),
            "{out}"
        );
    }

    #[test]
    fn large_and_fractional_values_are_written_in_full() {
        let out = text(&[gauge(
            "recd_t",
            "T.",
            vec![
                labelled(&[("k", "a")], 1_767_225_600.0),
                labelled(&[("k", "b")], 0.857_123),
            ],
        )]);
        assert!(out.contains("recd_t{k=\"a\"} 1767225600\n"), "{out}");
        assert!(out.contains("recd_t{k=\"b\"} 0.857123\n"), "{out}");
    }
}
