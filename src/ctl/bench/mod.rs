//! `recctl bench`: load the daemon with a mix of methods over C
//! connections for D seconds, closed-loop (`closed`: each connection sends
//! when its reply is in) or paced (`paced`: each on a fixed schedule), and
//! report throughput and latency percentiles per method.
//!
//! Dataset users are taken from the served model (`ml:1` to `ml:D`, D its
//! dataset users), so no request asks for a user the model does not have.

mod closed;
mod paced;
mod requests;

use std::path::Path;
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;

use super::{call, print, Failure};
use crate::client::Client;
use crate::protocol::{Health, Method, RecommendParams, Recommended, Request};
use requests::{Sample, Shape};

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Concurrent connections.
    #[arg(short, long, default_value_t = 32)]
    pub connections: usize,
    /// Seconds to run.
    #[arg(short, long, default_value_t = 10.0)]
    pub duration: f64,
    /// Methods to mix, comma-separated: recommend, predict, similar, health,
    /// rate (which writes: a new user `bench-C-K` rates a movie each time).
    #[arg(short, long, default_value = "recommend")]
    pub methods: String,
    /// Recommendations per request.
    #[arg(short, long, default_value_t = 10)]
    pub n: usize,
    /// Total requests per second, spread evenly over the connections (each
    /// sends on a fixed schedule); 0 sends as fast as replies come back.
    #[arg(short, long, default_value_t = 0.0)]
    pub rate: f64,
    /// Ask recommend and predict for this user on every request (else the
    /// model's dataset users at random): a user the model has not seen, for one.
    #[arg(short, long)]
    pub user: Option<String>,
    /// Send over the HTTP API at this address (HOST:PORT, plain HTTP,
    /// closed-loop) instead of the socket, which still tells the model's
    /// users. The token is read from $RECD_TOKEN.
    #[arg(long, value_name = "HOST:PORT")]
    pub http: Option<String>,
}

/// One method's figures.
#[derive(Debug, Serialize)]
struct MethodReport {
    method: &'static str,
    requests: usize,
    errors: u64,
    throughput_per_s: f64,
    p50_us: u32,
    p99_us: u32,
    max_us: u32,
}

#[derive(Debug, Serialize)]
struct Report {
    connections: usize,
    seconds: f64,
    target_rate: f64,
    methods: Vec<MethodReport>,
}

fn parse_methods(list: &str) -> Result<Vec<Method>, Failure> {
    let supported: Vec<&str> = <Method as strum::IntoEnumIterator>::iter()
        .filter(|&m| requests::supported(m))
        .map(Method::name)
        .collect();
    list.split(',')
        .map(|m| {
            let m = m.trim();
            m.parse::<Method>()
                .ok()
                .filter(|&m| requests::supported(m))
                .ok_or_else(|| {
                    Failure::Usage(format!(
                        "--methods: '{m}' is not one of {}",
                        supported.join(", ")
                    ))
                })
        })
        .collect()
}

pub fn run(socket: &Path, a: &BenchArgs, json: bool) -> Result<(), Failure> {
    let methods = parse_methods(&a.methods)?;
    if a.connections == 0 || !(a.duration > 0.0 && a.duration <= 3600.0) {
        return Err(Failure::Usage(
            "--connections must be positive and --duration between 0 and 3600 s".into(),
        ));
    }
    if a.http.is_some() && a.rate > 0.0 {
        return Err(Failure::Usage(
            "--http runs closed-loop: leave --rate out".into(),
        ));
    }
    if !(a.rate >= 0.0 && a.rate.is_finite()) {
        return Err(Failure::Usage(
            "--rate must be a non-negative number".into(),
        ));
    }
    let mut probe = Client::connect(socket).map_err(|e| Failure::Unreachable(e.to_string()))?;
    let health: Health = call(&mut probe, &Request::Health)?;
    // A daemon older than `dataset_users` does not say: ask for all of
    // `users`, as recctl used to.
    let users = health.model.as_ref().map_or(0, |m| {
        m.details.dataset_users.unwrap_or(m.details.users) as u64
    });
    let asks_for_users = methods
        .iter()
        .any(|m| matches!(m, Method::Recommend | Method::Predict));
    if users == 0 && a.user.is_none() && asks_for_users {
        return Err(Failure::Failed(
            "the served model has no dataset users to ask for; name one with --user".into(),
        ));
    }
    let sample = Request::Recommend(RecommendParams {
        user: "ml:1".into(),
        n: 1,
    });
    let movie = call::<Recommended>(&mut probe, &sample)
        .ok()
        .and_then(|r| r.items.first().map(|i| i.movie))
        .unwrap_or(1);
    let shape = Shape {
        users,
        user: a.user.clone(),
        movie,
        n: a.n,
    };
    // Each connection sends on its own schedule: one request every `gap`.
    let gap = (a.rate > 0.0).then(|| Duration::from_secs_f64(a.connections as f64 / a.rate));
    let until = Instant::now() + Duration::from_secs_f64(a.duration);
    let started = Instant::now();
    let target = match &a.http {
        None => closed::Target::Socket(socket.to_owned()),
        Some(address) => {
            let token = std::env::var("RECD_TOKEN").ok().filter(|t| !t.is_empty());
            closed::Target::Http(address.clone(), token)
        }
    };
    let results: Vec<Vec<Sample>> = match gap {
        None => closed::run(&target, a.connections, &methods, &shape, until)?,
        Some(gap) => paced::run(socket, a.connections, &methods, &shape, gap, until)?,
    };
    let elapsed = started.elapsed().as_secs_f64();
    let report = Report {
        connections: a.connections,
        seconds: elapsed,
        target_rate: a.rate,
        methods: methods
            .iter()
            .enumerate()
            .map(|(i, m)| summarise(m.name(), &results, i, elapsed))
            .collect(),
    };
    if json {
        print::json(&report);
    } else {
        print_report(&report, a.rate);
    }
    Ok(())
}

fn summarise(
    method: &'static str,
    results: &[Vec<Sample>],
    i: usize,
    elapsed: f64,
) -> MethodReport {
    let mut all: Vec<u32> = results
        .iter()
        .filter_map(|r| r.get(i))
        .flat_map(|s| s.micros.iter().copied())
        .collect();
    let errors: u64 = results
        .iter()
        .filter_map(|r| r.get(i))
        .map(|s| s.errors)
        .sum();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    MethodReport {
        method,
        requests: all.len(),
        errors,
        throughput_per_s: all.len() as f64 / elapsed,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        max_us: all.last().copied().unwrap_or(0),
    }
}

fn print_report(report: &Report, rate: f64) {
    let paced = if rate > 0.0 {
        format!(", paced at {rate:.0} requests/s")
    } else {
        String::new()
    };
    println!(
        "{} connections, {:.1} s{paced}",
        report.connections, report.seconds
    );
    println!(
        "{:<10} {:>10} {:>7} {:>12} {:>9} {:>9} {:>9}",
        "method", "requests", "errors", "req/s", "p50 us", "p99 us", "max us"
    );
    for r in &report.methods {
        println!(
            "{:<10} {:>10} {:>7} {:>12.0} {:>9} {:>9} {:>9}",
            r.method, r.requests, r.errors, r.throughput_per_s, r.p50_us, r.p99_us, r.max_us
        );
    }
}
