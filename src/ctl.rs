//! `recctl`: one subcommand per daemon method, plus a load generator.
//!
//! It owns presentation and exit codes only: 0 ok, 1 the daemon answered
//! with an error (its message printed), 2 usage, 3 the daemon cannot be
//! reached (not running, or permission denied). Human tables by default,
//! the daemon's JSON with `--json`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use serde_json::{json, Value};

use crate::client::{CallError, Client};
use crate::config::Config;

#[derive(Debug, Parser)]
#[command(
    name = "recctl",
    version,
    about = "Command-line client of the recd daemon"
)]
pub struct Cli {
    /// The daemon's socket (else $RECD_SOCKET, else the config's daemon.socket).
    #[arg(long, global = true, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Configuration file to read the socket path from (else $RECD_CONFIG, else /etc/recd/recd.toml).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Print the daemon's JSON result instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Daemon status, model and running job.
    Health,
    /// Request and error counters.
    Stats,
    /// Top movies for a user.
    Recommend {
        user: String,
        #[arg(short, long, default_value_t = 10)]
        n: usize,
    },
    /// Predicted rating of a movie by a user.
    Predict { user: String, movie: u32 },
    /// Movies most similar to a movie.
    Similar {
        movie: u32,
        #[arg(short, long, default_value_t = 10)]
        n: usize,
    },
    /// Record a user's rating of a movie (a new rating replaces the old one).
    Rate {
        user: String,
        movie: u32,
        rating: f64,
    },
    /// Remove a user's rating of a movie.
    Unrate { user: String, movie: u32 },
    /// Import a ratings file (CSV, or a MovieLens layout) in one transaction.
    Import { file: PathBuf },
    /// Retrain now, with a progress bar; `retrain check` only says whether it is due.
    #[command(args_conflicts_with_subcommands = true)]
    Retrain {
        #[command(subcommand)]
        check: Option<RetrainCommand>,
        #[command(flatten)]
        args: RetrainArgs,
    },
    /// Status of a retrain job (the latest by default), or cancel it.
    Job {
        #[command(subcommand)]
        action: Option<JobCommand>,
        /// Job id.
        id: Option<u64>,
    },
    /// Reload the current model from disk.
    Reload {
        /// Return only once the reloaded model answers requests.
        #[arg(long)]
        wait: bool,
    },
    /// Model versions on disk.
    Models,
    /// Serve an earlier version (by id, as `models` lists it).
    Rollback { version: String },
    /// Load the daemon: C connections for D seconds; throughput and latency.
    Bench(BenchArgs),
}

#[derive(Debug, Subcommand)]
pub enum RetrainCommand {
    /// Ratings since the current model and whether retraining is due.
    Check {
        #[arg(long, value_name = "N")]
        min_ratings: Option<u64>,
    },
}

#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// Cancel the running job (or the given one).
    Cancel { id: Option<u64> },
}

#[derive(Debug, Clone, Default, Args)]
pub struct RetrainArgs {
    /// The training parameters, as `recd train` takes them.
    #[command(flatten)]
    pub params: crate::numeric::ParamOverrides,
    /// Train only with at least N new ratings.
    #[arg(long, value_name = "N")]
    pub min_ratings: Option<u64>,
    #[arg(long)]
    pub no_backup: bool,
    /// Publish past the quality gate.
    #[arg(long)]
    pub force: bool,
}

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
    /// Ask recommend and predict for this user on every request (else users
    /// of the model at random): a user the model has not seen, for one.
    #[arg(short, long)]
    pub user: Option<String>,
}

enum Failure {
    Reply(String),
    Unreachable(String),
    Usage(String),
}

pub fn run(cli: Cli) -> ExitCode {
    match execute(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Reply(m)) => {
            eprintln!("recctl: {m}");
            ExitCode::from(1)
        }
        Err(Failure::Usage(m)) => {
            eprintln!("recctl: {m}");
            ExitCode::from(2)
        }
        Err(Failure::Unreachable(m)) => {
            eprintln!("recctl: {m}");
            ExitCode::from(3)
        }
    }
}

fn socket_path(cli: &Cli) -> Result<PathBuf, Failure> {
    if let Some(p) = &cli.socket {
        return Ok(p.clone());
    }
    if let Some(p) = std::env::var_os("RECD_SOCKET").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    Config::locate(cli.config.as_deref())
        .map(|c| c.daemon.socket)
        .map_err(|e| Failure::Usage(e.to_string()))
}

fn connect(cli: &Cli) -> Result<Client, Failure> {
    Client::connect(&socket_path(cli)?).map_err(|e| Failure::Unreachable(e.to_string()))
}

fn failed(e: CallError) -> Failure {
    match e {
        CallError::Reply(e) => Failure::Reply(format!("{}: {}", e.code.as_str(), e.message)),
        other => Failure::Unreachable(other.to_string()),
    }
}

fn call(client: &mut Client, method: &str, params: Value) -> Result<Value, Failure> {
    client.call(method, params).map_err(failed)
}

fn execute(cli: &Cli) -> Result<(), Failure> {
    if let Command::Bench(args) = &cli.command {
        return bench(&socket_path(cli)?, args, cli.json);
    }
    let mut c = connect(cli)?;
    let (result, printer): (Value, fn(&Value)) = match &cli.command {
        Command::Health => (call(&mut c, "health", json!({}))?, print_health),
        Command::Stats => (call(&mut c, "stats", json!({}))?, print_stats),
        Command::Recommend { user, n } => (
            call(&mut c, "recommend", json!({ "user": user, "n": n }))?,
            print_items,
        ),
        Command::Predict { user, movie } => (
            call(&mut c, "predict", json!({ "user": user, "movie": movie }))?,
            print_predict,
        ),
        Command::Similar { movie, n } => (
            call(&mut c, "similar", json!({ "movie": movie, "n": n }))?,
            print_items,
        ),
        Command::Retrain {
            check: Some(RetrainCommand::Check { min_ratings }),
            ..
        } => (
            call(
                &mut c,
                "retrain.check",
                json!({ "min_ratings": min_ratings }),
            )?,
            print_check,
        ),
        Command::Retrain { check: None, args } => (retrain(&mut c, args, cli.json)?, print_job),
        Command::Job {
            action: Some(JobCommand::Cancel { id }),
            ..
        } => (call(&mut c, "job.cancel", json!({ "job": id }))?, print_kv),
        Command::Job { action: None, id } => {
            (call(&mut c, "job.status", json!({ "job": id }))?, print_job)
        }
        Command::Reload { wait } => (reload(&mut c, *wait)?, print_kv),
        Command::Rate {
            user,
            movie,
            rating,
        } => (
            call(
                &mut c,
                "rate",
                json!({ "user": user, "movie": movie, "rating": rating }),
            )?,
            print_kv,
        ),
        Command::Unrate { user, movie } => (
            call(&mut c, "unrate", json!({ "user": user, "movie": movie }))?,
            print_kv,
        ),
        Command::Import { file } => {
            // The daemon reads the file: give it a path that does not
            // depend on this shell's directory.
            let path = std::fs::canonicalize(file)
                .map_err(|e| Failure::Usage(format!("{}: {e}", file.display())))?;
            (
                call(&mut c, "import", json!({ "path": path }))?,
                print_import,
            )
        }
        Command::Models => (call(&mut c, "models", json!({}))?, print_models),
        Command::Rollback { version } => (
            call(&mut c, "rollback", json!({ "version": version }))?,
            print_kv,
        ),
        Command::Bench(_) => unreachable!("handled above"),
    };
    if cli.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&result).unwrap_or_default()
        );
    } else {
        printer(&result);
    }
    Ok(())
}

fn retrain(c: &mut Client, a: &RetrainArgs, json_out: bool) -> Result<Value, Failure> {
    let p = &a.params;
    let request = crate::protocol::RetrainParams {
        factors: p.factors,
        epochs: p.epochs,
        lr: p.lr,
        reg: p.reg,
        init_std_dev: p.init_std_dev,
        threads: p.threads,
        seed: p.seed,
        force: a.force,
        no_backup: a.no_backup,
        min_ratings: a.min_ratings,
    };
    let params = serde_json::to_value(request).map_err(|e| Failure::Usage(e.to_string()))?;
    let bar = if json_out {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(p.epochs.unwrap_or(0) as u64)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {msg:24} [{bar:30}] {pos}/{len} epochs {elapsed}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let result = c.call_with_progress("retrain", params, &mut |p| {
        if let Some(stage) = p.get("stage").and_then(Value::as_str) {
            bar.set_message(stage.replace('_', " "));
        }
        if let (Some(e), Some(n)) = (
            p.get("epoch").and_then(Value::as_u64),
            p.get("n_epochs").and_then(Value::as_u64),
        ) {
            bar.set_length(n);
            bar.set_position(e);
        }
        if p.get("state").and_then(Value::as_str) == Some("finished") {
            if let (Some(stage), Some(secs), Some(detail)) =
                (p.get("stage"), p.get("seconds"), p.get("detail"))
            {
                bar.println(format!(
                    "{:<22} {:>7.3}s  {}",
                    stage.as_str().unwrap_or("").replace('_', " "),
                    secs.as_f64().unwrap_or(0.0),
                    detail.as_str().unwrap_or("")
                ));
            }
        }
    });
    bar.finish_and_clear();
    result.map_err(failed)
}

fn reload(c: &mut Client, wait: bool) -> Result<Value, Failure> {
    let result = call(c, "reload", json!({}))?;
    if wait {
        // The reply comes after the swap; confirm the version now answers.
        let want = result.get("version").cloned().unwrap_or(Value::Null);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let health = call(c, "health", json!({}))?;
            if health.pointer("/model/version") == Some(&want) {
                break;
            }
            if Instant::now() > deadline {
                return Err(Failure::Reply(format!(
                    "reloaded, but {want} was not serving after 30 s"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Ok(result)
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        Value::Number(n) => n
            .as_f64()
            .filter(|f| f.fract() != 0.0)
            .map_or(n.to_string(), |f| format!("{f:.4}")),
        other => other.to_string(),
    }
}

fn print_kv(v: &Value) {
    if let Some(obj) = v.as_object() {
        for (k, v) in obj {
            println!("{:<16} {}", k, text(v));
        }
    }
}

fn print_health(v: &Value) {
    println!("status           {}", text(&v["status"]));
    println!(
        "uptime           {:.0}s",
        v["uptime_seconds"].as_f64().unwrap_or(0.0)
    );
    println!("protocol         {}", text(&v["protocol_version"]));
    match v.get("model").filter(|m| !m.is_null()) {
        Some(m) => {
            println!("model            {}", text(&m["version"]));
            println!("trained_at       {}", text(&m["trained_at"]));
            println!("holdout RMSE     {}", text(&m["metrics"]["rmse"]));
            println!(
                "users / items    {} / {}",
                text(&m["users"]),
                text(&m["items"])
            );
        }
        None => println!("model            none"),
    }
    if let Some(j) = v.get("job").filter(|j| !j.is_null()) {
        println!(
            "job              {} {} (stage {}, epoch {}/{})",
            text(&j["id"]),
            text(&j["state"]),
            text(&j["stage"]),
            text(&j["epoch"]),
            text(&j["n_epochs"])
        );
    }
}

fn print_stats(v: &Value) {
    println!(
        "uptime           {:.0}s",
        v["uptime_seconds"].as_f64().unwrap_or(0.0)
    );
    println!(
        "connections      {} open, {} total, {} rejected",
        text(&v["connections"]["open"]),
        text(&v["connections"]["total"]),
        text(&v["connections"]["rejected"])
    );
    println!("requests         {}", text(&v["requests"]["total"]));
    if let Some(by) = v["requests"]["by_method"].as_object() {
        for (m, n) in by.iter().filter(|(_, n)| n.as_u64() != Some(0)) {
            println!("  {m:<14} {}", text(n));
        }
    }
    if let Some(errs) = v["errors"].as_object() {
        for (code, n) in errs {
            println!("error {code:<10} {}", text(n));
        }
    }
    println!("model            {}", text(&v["model"]["version"]));
    let db = &v["database"];
    if db["available"] == json!(true) {
        println!(
            "database         {}: {} ratings, {} users, {} movies rated",
            text(&db["backend"]),
            text(&db["ratings"]),
            text(&db["users"]),
            text(&db["movies"])
        );
        println!(
            "new ratings      {} since the model's watermark {}",
            text(&db["since_watermark"]),
            text(&db["watermark"])
        );
        if let Some(run) = db["last_run"].as_object() {
            println!(
                "last training    {} (run {}, model {})",
                text(&run["status"]),
                text(&run["id"]),
                text(&run["model_version"])
            );
        }
    } else {
        println!(
            "database         {}: unavailable: {}",
            text(&db["target"]),
            text(&db["error"])
        );
    }
}

fn print_import(v: &Value) {
    println!("file             {}", text(&v["path"]));
    println!("accepted         {}", text(&v["accepted"]));
    println!("written          {}", text(&v["written"]));
    println!("rejected         {}", text(&v["rejected_count"]));
    for r in v["rejected"].as_array().into_iter().flatten() {
        println!(
            "  line {:<8} {:<16} {}",
            text(&r["line"]),
            text(&r["code"]),
            text(&r["reason"])
        );
    }
}

fn print_items(v: &Value) {
    let key = if v["items"]
        .get(0)
        .and_then(|i| i.get("similarity"))
        .is_some()
    {
        "similarity"
    } else {
        "score"
    };
    println!("{:>4}  {:>7}  {:>10}  title", "rank", "movie", key);
    for (rank, item) in v["items"].as_array().into_iter().flatten().enumerate() {
        println!(
            "{:>4}  {:>7}  {:>10.4}  {}",
            rank + 1,
            text(&item["movie"]),
            item[key].as_f64().unwrap_or(0.0),
            text(&item["title"])
        );
    }
}

fn print_predict(v: &Value) {
    println!(
        "{:.3}  user {} movie {} ({})",
        v["rating"].as_f64().unwrap_or(0.0),
        text(&v["user"]),
        text(&v["movie"]),
        text(&v["title"])
    );
}

fn print_check(v: &Value) {
    for k in [
        "current_version",
        "watermark",
        "new_ratings",
        "threshold",
        "verdict",
        "retrain",
    ] {
        println!("{k:<16} {}", text(&v[k]));
    }
}

fn print_job(v: &Value) {
    for k in [
        "id",
        "state",
        "stage",
        "epoch",
        "n_epochs",
        "started_at",
        "finished_at",
        "error",
    ] {
        println!("{k:<16} {}", text(&v[k]));
    }
    if let Some(o) = v.get("outcome").filter(|o| !o.is_null()) {
        for k in [
            "version",
            "rmse",
            "mae",
            "training_seconds",
            "total_seconds",
            "backup",
            "skipped",
        ] {
            println!("{k:<16} {}", text(&o[k]));
        }
    }
}

fn print_models(v: &Value) {
    println!(
        "{:<1} {:<24} {:>8} {:>8} {:>10}  trained_at",
        "", "version", "rmse", "factors", "ratings"
    );
    for m in v["versions"].as_array().into_iter().flatten() {
        let mark = if m["current"] == json!(true) {
            "*"
        } else {
            " "
        };
        if m["valid"] == json!(false) {
            println!(
                "{mark} {:<24} invalid: {}",
                text(&m["version"]),
                text(&m["error"])
            );
            continue;
        }
        println!(
            "{mark} {:<24} {:>8} {:>8} {:>10}  {}",
            text(&m["version"]),
            text(&m["metrics"]["rmse"]),
            text(&m["factors"]),
            text(&m["counts"]["ratings"]),
            text(&m["trained_at"])
        );
    }
}

/// Per-method latencies in microseconds and error count.
#[derive(Default)]
struct Sample {
    micros: Vec<u32>,
    errors: u64,
}

fn bench(socket: &std::path::Path, a: &BenchArgs, json_out: bool) -> Result<(), Failure> {
    let methods: Vec<String> = a.methods.split(',').map(|m| m.trim().to_string()).collect();
    if let Some(bad) = methods
        .iter()
        .find(|m| !["recommend", "predict", "similar", "health", "rate"].contains(&m.as_str()))
    {
        return Err(Failure::Usage(format!(
            "--methods: '{bad}' is not one of recommend, predict, similar, health, rate"
        )));
    }
    if a.connections == 0 || !(a.duration > 0.0 && a.duration <= 3600.0) {
        return Err(Failure::Usage(
            "--connections must be positive and --duration between 0 and 3600 s".into(),
        ));
    }
    let mut probe = Client::connect(socket).map_err(|e| Failure::Unreachable(e.to_string()))?;
    let health = call(&mut probe, "health", json!({}))?;
    let users = health
        .pointer("/model/users")
        .and_then(Value::as_u64)
        .unwrap_or(0)
        .max(1);
    let sample_movie = call(&mut probe, "recommend", json!({ "user": "ml:1", "n": 1 }))
        .ok()
        .and_then(|r| r.pointer("/items/0/movie").and_then(Value::as_u64))
        .unwrap_or(1);
    if !(a.rate >= 0.0 && a.rate.is_finite()) {
        return Err(Failure::Usage(
            "--rate must be a non-negative number".into(),
        ));
    }
    let shape = Shape {
        users,
        user: a.user.as_ref().map(|u| json!(u).to_string()),
        movie: sample_movie,
        n: a.n,
    };
    // Each connection sends on its own schedule: one request every `gap`.
    let gap = (a.rate > 0.0).then(|| Duration::from_secs_f64(a.connections as f64 / a.rate));
    let until = Instant::now() + Duration::from_secs_f64(a.duration);
    let started = Instant::now();
    let results: Vec<Vec<Sample>> = match gap {
        // Closed loop: all connections on one thread (an async runtime), so
        // the load generator's own context switches do not crowd the cores.
        None => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Failure::Usage(format!("cannot start the bench runtime: {e}")))?;
            rt.block_on(async {
                let tasks: Vec<_> = (0..a.connections)
                    .map(|t| {
                        let (socket, methods, shape) =
                            (socket.to_owned(), methods.clone(), shape.clone());
                        tokio::spawn(async move {
                            closed_loop(&socket, &methods, t as u64, &shape, until).await
                        })
                    })
                    .collect();
                let mut out = Vec::new();
                for t in tasks {
                    out.push(t.await.unwrap_or_default());
                }
                out
            })
        }
        Some(gap) => paced(socket, a.connections, &methods, &shape, gap, until)?,
    };
    let elapsed = started.elapsed().as_secs_f64();
    let mut report = Vec::new();
    for (i, m) in methods.iter().enumerate() {
        let mut all: Vec<u32> = results
            .iter()
            .flat_map(|r| r.get(i).map(|s| s.micros.clone()).unwrap_or_default())
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
        report.push(json!({
            "method": m, "requests": all.len(), "errors": errors,
            "throughput_per_s": all.len() as f64 / elapsed,
            "p50_us": pct(0.50), "p99_us": pct(0.99), "max_us": all.last().copied().unwrap_or(0),
        }));
    }
    let out = json!({ "connections": a.connections, "seconds": elapsed, "target_rate": a.rate, "methods": report });
    if json_out {
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        let paced = if a.rate > 0.0 {
            format!(", paced at {:.0} requests/s", a.rate)
        } else {
            String::new()
        };
        println!("{} connections, {:.1} s{paced}", a.connections, elapsed);
        println!(
            "{:<10} {:>10} {:>7} {:>12} {:>9} {:>9} {:>9}",
            "method", "requests", "errors", "req/s", "p50 us", "p99 us", "max us"
        );
        for r in &report {
            println!(
                "{:<10} {:>10} {:>7} {:>12.0} {:>9} {:>9} {:>9}",
                text(&r["method"]),
                text(&r["requests"]),
                text(&r["errors"]),
                r["throughput_per_s"].as_f64().unwrap_or(0.0),
                text(&r["p50_us"]),
                text(&r["p99_us"]),
                text(&r["max_us"])
            );
        }
    }
    Ok(())
}

/// What bench requests ask for.
#[derive(Debug, Clone)]
struct Shape {
    /// Users of the model, `ml:1` to `ml:users`, at random...
    users: u64,
    /// ...unless this one user, as a JSON string.
    user: Option<String>,
    movie: u64,
    n: usize,
}

/// The next request of a bench connection: which method and its line.
struct RequestGen {
    /// The connection's number.
    seed: u64,
    k: u64,
    id: u64,
    shape: Shape,
}

impl RequestGen {
    fn new(seed: u64, shape: &Shape) -> RequestGen {
        RequestGen {
            seed,
            k: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            id: 0,
            shape: shape.clone(),
        }
    }

    fn next(&mut self, methods: &[String]) -> (usize, String, String) {
        self.k = self
            .k
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let which = (self.k >> 33) as usize % methods.len();
        let user = match &self.shape.user {
            Some(u) => u.clone(),
            None => format!("\"ml:{}\"", (self.k >> 17) % self.shape.users + 1),
        };
        self.id += 1;
        let (id, movie, n) = (self.id, self.shape.movie, self.shape.n);
        let line = match methods[which].as_str() {
            "recommend" => format!("{{\"id\":{id},\"method\":\"recommend\",\"params\":{{\"user\":{user},\"n\":{n}}}}}\n"),
            "predict" => format!("{{\"id\":{id},\"method\":\"predict\",\"params\":{{\"user\":{user},\"movie\":{movie}}}}}\n"),
            "similar" => format!("{{\"id\":{id},\"method\":\"similar\",\"params\":{{\"movie\":{movie},\"n\":{n}}}}}\n"),
            "rate" => format!(
                "{{\"id\":{id},\"method\":\"rate\",\"params\":{{\"user\":\"bench-{}-{id}\",\"movie\":{movie},\"rating\":{}}}}}\n",
                self.seed,
                1 + id % 5
            ),
            _ => format!("{{\"id\":{id},\"method\":\"health\"}}\n"),
        };
        // Replies are only checked for their id and a result member, so the
        // client costs as little CPU as possible on a shared machine.
        (which, line, format!("{{\"id\":{id},\"result\""))
    }
}

/// Record one request; false ends the connection.
fn record(
    samples: &mut [Sample],
    which: usize,
    t0: Instant,
    sent_and_read: bool,
    line: &str,
    expect: &str,
) -> bool {
    let s = &mut samples[which];
    s.micros
        .push(t0.elapsed().as_micros().min(u32::MAX as u128) as u32);
    if !sent_and_read || !line.starts_with(expect) {
        s.errors += 1;
    }
    sent_and_read
}

async fn closed_loop(
    socket: &std::path::Path,
    methods: &[String],
    seed: u64,
    shape: &Shape,
    until: Instant,
) -> Vec<Sample> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let mut samples: Vec<Sample> = methods.iter().map(|_| Sample::default()).collect();
    let Ok(stream) = tokio::net::UnixStream::connect(socket).await else {
        return samples;
    };
    let (rd, mut writer) = stream.into_split();
    let mut reader = tokio::io::BufReader::with_capacity(64 * 1024, rd);
    let mut line = String::with_capacity(4096);
    let mut gen = RequestGen::new(seed, shape);
    while Instant::now() < until {
        let (which, request, expect) = gen.next(methods);
        let t0 = Instant::now();
        line.clear();
        let ok = writer.write_all(request.as_bytes()).await.is_ok()
            && reader
                .read_line(&mut line)
                .await
                .map(|r| r > 0)
                .unwrap_or(false);
        if !record(&mut samples, which, t0, ok, &line, &expect) {
            break;
        }
    }
    samples
}

/// One paced bench connection.
struct PacedConn {
    stream: std::os::unix::net::UnixStream,
    gen: RequestGen,
    /// When its next request is due.
    next: Instant,
    /// Bytes written into the socket yet.
    out: Vec<u8>,
    /// Bytes read and not yet a whole line.
    got: Vec<u8>,
    /// Requests sent and not answered, oldest first: method, send time,
    /// expected reply prefix.
    waiting: std::collections::VecDeque<(usize, Instant, String)>,
    open: bool,
}

/// Paced load from one thread: every connection sends on its own fixed
/// schedule (whether or not its previous reply is in: the daemon answers
/// pipelined requests in order), and one `epoll_pwait2` waits for the next
/// reply or the next due request. One thread, not a thread per connection,
/// so that the load generator costs the shared cores as little as it can.
fn paced(
    socket: &std::path::Path,
    connections: usize,
    methods: &[String],
    shape: &Shape,
    gap: Duration,
    until: Instant,
) -> Result<Vec<Vec<Sample>>, Failure> {
    use std::io::{ErrorKind, Read, Write};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let failed = |what: &str| {
        Failure::Unreachable(format!(
            "bench: {what}: {}",
            std::io::Error::last_os_error()
        ))
    };
    // Wake-ups within a microsecond of the deadline, not the default 50 µs
    // of timer slack.
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
    // SAFETY: plain system call; the descriptor is owned below.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ep < 0 {
        return Err(failed("epoll_create1"));
    }
    // SAFETY: `ep` is a new descriptor that nothing else owns.
    let ep = unsafe { OwnedFd::from_raw_fd(ep) };
    let start = Instant::now();
    let mut conns = Vec::with_capacity(connections);
    for t in 0..connections {
        let stream = std::os::unix::net::UnixStream::connect(socket)
            .map_err(|e| Failure::Unreachable(format!("bench connection {t}: {e}")))?;
        stream
            .set_nonblocking(true)
            .map_err(|e| Failure::Unreachable(format!("bench connection {t}: {e}")))?;
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: t as u64,
        };
        // SAFETY: both descriptors are open; `ev` is a valid event.
        if unsafe {
            libc::epoll_ctl(
                ep.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                stream.as_raw_fd(),
                &mut ev,
            )
        } < 0
        {
            return Err(failed("epoll_ctl"));
        }
        conns.push(PacedConn {
            stream,
            gen: RequestGen::new(t as u64, shape),
            // Spread over one gap, then each keeps its own schedule.
            next: start + gap.mul_f64(t as f64 / connections as f64),
            out: Vec::with_capacity(4096),
            got: Vec::with_capacity(64 * 1024),
            waiting: Default::default(),
            open: true,
        });
    }
    let mut samples: Vec<Vec<Sample>> = conns
        .iter()
        .map(|_| methods.iter().map(|_| Sample::default()).collect())
        .collect();
    let mut buf = vec![0u8; 64 * 1024];
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; connections.max(1)];
    // After the run, replies still on their way get this long.
    let drain_until = until + Duration::from_secs(2);
    loop {
        let now = Instant::now();
        let sending = now < until;
        if !sending && (now >= drain_until || conns.iter().all(|c| c.waiting.is_empty() || !c.open))
        {
            break;
        }
        for c in conns.iter_mut().filter(|c| c.open) {
            while sending && c.next <= now {
                let (which, line, expect) = c.gen.next(methods);
                c.out.extend_from_slice(line.as_bytes());
                c.waiting.push_back((which, now, expect));
                c.next += gap;
            }
            // A full socket buffer keeps the rest for the next round.
            while !c.out.is_empty() {
                match c.stream.write(&c.out) {
                    Ok(k) if k > 0 => drop(c.out.drain(..k)),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    _ => {
                        c.open = false;
                        break;
                    }
                }
            }
        }
        let wake = if sending {
            let due = conns.iter().filter(|c| c.open).map(|c| c.next).min();
            due.unwrap_or(until).min(until)
        } else {
            drain_until
        };
        // Unsent bytes: come back within 100 µs to push them.
        let wake = if conns.iter().any(|c| c.open && !c.out.is_empty()) {
            wake.min(Instant::now() + Duration::from_micros(100))
        } else {
            wake
        };
        let wait = wake.saturating_duration_since(Instant::now());
        let ts = libc::timespec {
            tv_sec: wait.as_secs() as libc::time_t,
            tv_nsec: wait.subsec_nanos() as libc::c_long,
        };
        // SAFETY: `events` is a writable array of its length; `ts` outlives
        // the call.
        let ready = unsafe {
            libc::epoll_pwait2(
                ep.as_raw_fd(),
                events.as_mut_ptr(),
                events.len() as libc::c_int,
                &ts,
                std::ptr::null(),
            )
        };
        for ev in events.iter().take(ready.max(0) as usize) {
            let t = ev.u64 as usize;
            let (Some(c), Some(samples)) = (conns.get_mut(t), samples.get_mut(t)) else {
                continue;
            };
            // One read per wake-up: what is left wakes the next round.
            match c.stream.read(&mut buf) {
                Ok(k) if k > 0 => c.got.extend_from_slice(&buf[..k]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                _ => {
                    c.open = false;
                    // SAFETY: both descriptors are open.
                    unsafe {
                        libc::epoll_ctl(
                            ep.as_raw_fd(),
                            libc::EPOLL_CTL_DEL,
                            c.stream.as_raw_fd(),
                            std::ptr::null_mut(),
                        )
                    };
                }
            }
            let mut used = 0;
            while let Some(end) = c.got[used..].iter().position(|&b| b == b'\n') {
                let line = String::from_utf8_lossy(&c.got[used..used + end]);
                if let Some((which, t0, expect)) = c.waiting.pop_front() {
                    record(samples, which, t0, true, &line, &expect);
                }
                used += end + 1;
            }
            c.got.drain(..used);
        }
    }
    // Never answered: errors of their method.
    for (c, samples) in conns.iter().zip(samples.iter_mut()) {
        for (which, t0, expect) in &c.waiting {
            record(samples, *which, *t0, false, "", expect);
        }
    }
    Ok(samples)
}
