//! The `recd` command line: arguments, output and exit codes.
//!
//! It owns presentation only: each subcommand calls one library entry point
//! and prints its result as text, or as one JSON object with `--json`. Exit
//! codes are decided here and nowhere else: 0 success, 1 failure (one line
//! on stderr saying why), 2 usage.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

mod check;
mod restore;
mod train;
use train::train;

use crate::config::Config;
use crate::model::Model;
use crate::numeric::ParamOverrides;
use crate::train::pipeline;
use crate::train::synth::{self, Shape};

/// Self-hosted movie recommendation daemon.
///
/// Without a command, recd runs the daemon in the foreground. It reads its
/// configuration, binds the Unix socket that daemon.socket names (or takes
/// it from recd.socket under systemd), serves the model that `current` in
/// paths.models_dir names, and answers recctl's requests. With no model yet
/// it trains one from paths.dataset while already answering; with no
/// dataset either, it downloads paths.dataset_url, or logs the directory
/// where MovieLens 1M's ratings.dat and movies.dat belong. It retrains on
/// its [schedule] or on request, and reloads the model on SIGHUP.
///
/// The commands below work offline, beside a running daemon or without one.
#[derive(Debug, Parser)]
#[command(name = "recd", version)]
pub struct Cli {
    /// Configuration file (else $RECD_CONFIG, else recd.toml in $CONFIGURATION_DIRECTORY, else
    /// /etc/recd/recd.toml, else built-in defaults).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Without a command, recd runs the daemon in the foreground.
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Retrain offline: load, combine, train, evaluate, and publish a new model.
    Train(TrainArgs),
    /// Train on one ratings file and score another.
    Eval(EvalArgs),
    /// Write a synthetic dataset in MovieLens 1M format.
    Synth(SynthArgs),
    /// Model file tools.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Put a backup (`recctl backup`) in place of the SQLite ratings
    /// database, with the daemon stopped. The file is checked first (an
    /// SQLite database recd wrote, whole, with a schema this recd knows);
    /// the database it replaces is kept as DB.before-restore.
    Restore {
        /// The backup file (a regular file).
        file: PathBuf,
        /// Print one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Check a config and that the paths it names are usable by the
    /// user running the check, without starting anything (exit 1 on any
    /// error; warnings do not fail it).
    CheckConfig,
    /// Make a bearer token for the HTTP API: print its secret (once) and
    /// the [[http.tokens]] table, with the secret's SHA-256, to add to the
    /// config.
    Token {
        /// Who holds it (the table's name, shown in the logs).
        name: String,
        /// What it may call.
        #[arg(long, value_delimiter = ',', default_value = "read")]
        scopes: Vec<crate::config::Scope>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Verify a model file and print its metadata.
    Inspect {
        /// A model file, or a models directory (its current model).
        path: PathBuf,
        /// Print one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Base dataset directory (paths.dataset).
    #[arg(long, value_name = "DIR")]
    pub dataset: Option<PathBuf>,
    /// Models directory (paths.models_dir).
    #[arg(long, value_name = "DIR")]
    pub models_dir: Option<PathBuf>,
    #[command(flatten)]
    pub params: ParamOverrides,
    /// Only report whether retraining is due; train nothing.
    #[arg(long)]
    pub check_only: bool,
    /// Train only if at least N ratings arrived since the current model.
    #[arg(long, value_name = "N")]
    pub min_ratings: Option<u64>,
    /// Do not keep the previous model as a backup.
    #[arg(long)]
    pub no_backup: bool,
    /// Publish even if the quality gate or --min-ratings would refuse.
    #[arg(long)]
    pub force: bool,
    /// Train on the dataset alone: do not read (or record the run in) the
    /// ratings database.
    #[arg(long)]
    pub no_database: bool,
    /// Do not ask a daemon serving this models directory to reload the
    /// model published (it notices a new `current` within seconds anyway).
    #[arg(long)]
    pub no_reload: bool,
    /// Print one JSON object on stdout (progress goes to stderr).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Ratings file to train on (MovieLens `::`, tab or CSV layout).
    #[arg(long, value_name = "FILE")]
    pub train: PathBuf,
    /// Ratings file to score.
    #[arg(long, value_name = "FILE")]
    pub test: PathBuf,
    #[command(flatten)]
    pub params: ParamOverrides,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Number of users.
    #[arg(long)]
    pub users: u32,
    /// Number of movies.
    #[arg(long)]
    pub items: u32,
    /// Number of ratings.
    #[arg(long)]
    pub ratings: u64,
    /// Seed of the generator: one seed, one dataset.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output directory (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        None => return daemon(cli.config),
        Some(Command::Train(args)) => train(cli.config, args),
        Some(Command::Eval(args)) => eval(cli.config, args),
        Some(Command::Synth(args)) => synth(args),
        Some(Command::Model(ModelCommand::Inspect { path, json })) => inspect(path, json),
        Some(Command::Restore { file, json }) => restore::restore(cli.config, &file, json),
        Some(Command::CheckConfig) => return check::check_config(cli.config.as_deref()),
        Some(Command::Token { name, scopes }) => token(&name, &scopes),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CmdError::NotDue) => ExitCode::from(NOT_DUE),
        Err(CmdError::Failed(message)) => {
            eprintln!("recd: error: {message}");
            ExitCode::from(1)
        }
    }
}

/// `recd train --check-only`'s exit status when retraining is not due
/// (0 when it is), so a script can test it.
pub const NOT_DUE: u8 = 3;

/// How a command ends when it does not succeed.
#[derive(Debug)]
pub enum CmdError {
    /// It failed: why, printed as one line.
    Failed(String),
    /// `--check-only` found retraining not due (not a failure).
    NotDue,
}

impl From<String> for CmdError {
    fn from(message: String) -> CmdError {
        CmdError::Failed(message)
    }
}

type CmdResult = Result<(), CmdError>;

fn print_json(value: &impl serde::Serialize) -> CmdResult {
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    println!("{text}");
    Ok(())
}

/// Run the daemon. Once logging is up, a failure is reported through it
/// alone (on stderr and in the log file), not printed a second time.
fn daemon(config: Option<PathBuf>) -> ExitCode {
    let setup = Config::locate(config.as_deref())
        .map_err(|e| e.to_string())
        .and_then(|cfg| Ok((crate::logging::init(&cfg.logging)?, cfg)));
    let (_guard, cfg) = match setup {
        Ok(ready) => ready,
        Err(message) => {
            eprintln!("recd: error: {message}");
            return ExitCode::from(1);
        }
    };
    match crate::daemon::main(cfg) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::from(1)
        }
    }
}

fn eval(config: Option<PathBuf>, args: EvalArgs) -> CmdResult {
    let cfg = Config::locate(config.as_deref()).map_err(|e| e.to_string())?;
    let params = cfg
        .training
        .params_with(&args.params)
        .map_err(|e| e.to_string())?;
    let report =
        pipeline::eval_files(&args.train, &args.test, &params).map_err(|e| e.to_string())?;
    if args.json {
        return print_json(&report);
    }
    println!("rmse           {:.4}", report.rmse);
    println!("mae            {:.4}", report.mae);
    if let Some(rmse) = report.posterior_mean_rmse {
        println!("posterior_rmse {rmse:.4}");
    }
    if let Some(c) = report.std_dev {
        println!(
            "std_dev        reported mean {:.4}, sampled mean {:.4}, correlation {:.3}, 95% coverage {:.3}",
            c.reported_mean, c.sampled_mean, c.correlation, c.coverage_95
        );
    }
    println!("fit_seconds    {:.3}", report.fit_seconds);
    println!("train_ratings  {}", report.train_ratings);
    println!("test_ratings   {}", report.test_ratings);
    println!(
        "params         {}, {} threads",
        params.summary(),
        report.threads
    );
    Ok(())
}

fn synth(args: SynthArgs) -> CmdResult {
    let shape = Shape {
        users: args.users,
        items: args.items,
        ratings: args.ratings,
        seed: args.seed,
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let start = std::time::Instant::now();
    synth::generate(&shape, &args.out, threads).map_err(|e| e.to_string())?;
    println!(
        "wrote {} ratings of {} users on {} movies to {} in {:.1}s",
        args.ratings,
        args.users,
        args.items,
        args.out.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn inspect(path: PathBuf, json: bool) -> CmdResult {
    let file = if path.is_dir() {
        let dir = crate::model::publish::ModelsDir::new(&path);
        let version = dir
            .current_version()
            .map_err(|e| format!("{}: {e}", path.display()))?
            .ok_or_else(|| format!("{}: no current model", path.display()))?;
        dir.version_path(&version)
    } else {
        path
    };
    let start = std::time::Instant::now();
    let model = Model::open(&file).map_err(|e| e.to_string())?;
    let open_ms = start.elapsed().as_secs_f64() * 1e3;
    let meta = model.metadata();
    if json {
        return print_json(&serde_json::json!({
            "path": file,
            "verified": true,
            "bytes": model.file_len(),
            "open_ms": open_ms,
            "users": model.n_users(),
            "items": model.n_items(),
            "factors": model.n_factors(),
            "global_mean": model.global_mean(),
            "scale": model.scale(),
            "metadata": meta,
        }));
    }
    println!(
        "{}: ok (checksum and structure verified in {open_ms:.1} ms)",
        file.display()
    );
    println!("  version       {}", meta.version);
    println!("  trained_at    {}", meta.trained_at);
    println!("  recd          {}", meta.recd_version);
    println!("  size          {} bytes", model.file_len());
    println!("  users         {}", model.n_users());
    println!("  items         {}", model.n_items());
    println!("  factors       {}", model.n_factors());
    println!("  global mean   {:.4}", model.global_mean());
    println!(
        "  scale         {}..{}",
        model.scale().min,
        model.scale().max
    );
    println!("  params        {}", meta.params.summary());
    match meta.metrics {
        Some(m) => println!(
            "  holdout       RMSE {:.4}  MAE {:.4} ({:.0}%)",
            m.rmse,
            m.mae,
            meta.holdout_fraction * 100.0
        ),
        None => println!("  holdout       none"),
    }
    let c = &meta.counts;
    println!(
        "  ratings       {} ({} train, {} held out; {} dataset, {} database)",
        c.ratings, c.train_ratings, c.test_ratings, c.dataset_ratings, c.database_ratings
    );
    println!("  watermark     {}", meta.db_watermark);
    println!("  dataset       {}", meta.dataset);
    println!("  training      {:.2}s", meta.training_seconds);
    Ok(())
}

fn token(name: &str, scopes: &[crate::config::Scope]) -> Result<(), CmdError> {
    if name.trim().is_empty() || name.contains(['"', '\\', '\n']) {
        return Err(CmdError::Failed(format!(
            "token name {name:?}: give a plain, non-empty name"
        )));
    }
    let secret = crate::http::auth::generate()
        .map_err(|e| CmdError::Failed(format!("cannot read random bytes: {e}")))?;
    let scopes: Vec<String> = scopes
        .iter()
        .map(|s| format!("\"{}\"", s.as_str()))
        .collect();
    println!("secret: {secret}");
    println!("(shown once: give it to the client, which sends \"Authorization: Bearer SECRET\";");
    println!(" add the table below to the config, then restart recd)");
    println!();
    println!("[[http.tokens]]");
    println!("name = \"{name}\"");
    println!("sha256 = \"{}\"", crate::http::auth::hash(&secret));
    println!("scopes = [{}]", scopes.join(", "));
    Ok(())
}
