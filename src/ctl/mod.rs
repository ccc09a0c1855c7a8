//! `recctl`: one subcommand per daemon method, plus a load generator.
//!
//! It owns presentation and exit codes only: 0 ok, 1 the daemon answered
//! with an error (its message printed; with `--json`, the error object on
//! stdout) or the command did not do what it promised (a reply it cannot
//! read, a reload that did not take), 2 usage, 3 the daemon cannot be
//! reached (not running, or permission denied). Human tables by default (`print`), the typed result
//! as JSON with `--json`. Requests are `protocol::Request` values and
//! results are read as their `protocol` types.

mod backup;
mod bench;
mod print;
mod runs;

use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::client::{CallError, Client};
use crate::config::Config;
use crate::protocol::{
    self as p, Error, Health, ImportParams, JobParams, PredictParams, RateParams, RecommendParams,
    ReloadParams, Request, RetrainCheckParams, RetrainParams, RollbackParams, SimilarParams,
    UnrateParams,
};
use print::Human;

/// Command-line client of the recd daemon.
///
/// recctl sends a request to recd over its Unix socket and prints the
/// answer: a table or a list of fields, or the result as JSON with --json.
/// The socket is --socket, else $RECD_SOCKET, else daemon.socket of the
/// configuration (--config, else $RECD_CONFIG, else /etc/recd/recd.toml).
#[derive(Debug, Parser)]
#[command(name = "recctl", version)]
pub struct Cli {
    /// The daemon's socket (else $RECD_SOCKET, else the config's daemon.socket).
    #[arg(long, global = true, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Configuration file to read the socket path from (else $RECD_CONFIG, else recd.toml in
    /// $CONFIGURATION_DIRECTORY, else /etc/recd/recd.toml).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Print the daemon's result (or error) as JSON instead of a table.
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
        #[arg(value_parser = finite_rating, allow_hyphen_values = true)]
        rating: f64,
    },
    /// Remove a user's rating of a movie.
    Unrate { user: String, movie: u32 },
    /// Import a ratings file (CSV, or a MovieLens layout): this command
    /// reads it and sends its bytes; the daemon never opens it.
    Import { file: PathBuf },
    /// Erase a user: delete all their ratings, record the erasure, and stop
    /// every model trained before it from answering for them.
    Forget { user: String },
    /// Copy the ratings database (SQLite) to DEST while the daemon serves:
    /// the daemon makes the copy, this command writes it with its own rights.
    Backup { dest: PathBuf },
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
    /// Recent training runs, newest first.
    History {
        /// At most N runs.
        #[arg(short = 'n', long, default_value_t = p::HistoryParams::DEFAULT_LIMIT, value_name = "N")]
        limit: u32,
        /// Only runs that ended so: published, skipped, rejected, failed, cancelled (or running).
        #[arg(long, value_name = "STATUS")]
        status: Option<crate::store::RunStatus>,
        /// Only runs started so: scheduled, manual, offline, startup.
        #[arg(long, value_name = "TRIGGER")]
        trigger: Option<crate::store::Trigger>,
    },
    /// The retraining schedule and its next runs; pause or resume it.
    Schedule {
        #[command(subcommand)]
        action: Option<ScheduleCommand>,
        /// How many of the next run times to list.
        #[arg(long, default_value_t = p::ScheduleParams::DEFAULT_NEXT, value_name = "N")]
        next: usize,
    },
    /// Load the daemon: C connections for D seconds; throughput and latency.
    Bench(bench::BenchArgs),
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

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Stop scheduled runs (kept across restarts) until `resume`.
    Pause,
    /// Start scheduled runs again; runs due during the pause are not caught up.
    Resume,
}

#[derive(Debug, Clone, Default, Args)]
pub struct RetrainArgs {
    /// The training parameters, as `recd train` takes them.
    #[command(flatten)]
    pub params: crate::numeric::ParamOverrides,
    /// Train only with at least N new ratings.
    #[arg(long, value_name = "N")]
    pub min_ratings: Option<u64>,
    /// Do not keep the previous model as a backup.
    #[arg(long)]
    pub no_backup: bool,
    /// Publish past the quality gate.
    #[arg(long)]
    pub force: bool,
}

enum Failure {
    /// The daemon answered with an error.
    Reply(Error),
    /// The command did not do what it promised.
    Failed(String),
    Unreachable(String),
    Usage(String),
}

pub fn run(cli: Cli) -> ExitCode {
    match execute(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Reply(e)) => {
            if cli.json {
                print::json(&e);
            } else {
                eprintln!("recctl: {e}");
            }
            ExitCode::from(1)
        }
        Err(Failure::Failed(m)) => {
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

fn failed(e: CallError) -> Failure {
    match e {
        CallError::Reply(e) => Failure::Reply(e),
        // The daemon answered, but not as this recctl reads it.
        CallError::Protocol(_) => Failure::Failed(e.to_string()),
        CallError::Io(_) => Failure::Unreachable(e.to_string()),
    }
}

/// A rating as a command-line argument: a finite number (JSON has no NaN
/// or infinity to send).
fn finite_rating(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r.is_finite() => Ok(r),
        Ok(_) => Err(format!(
            "'{s}' is not a rating: a rating is a finite number"
        )),
        Err(_) => Err(format!("'{s}' is not a number")),
    }
}

/// Send a ratings file's bytes, read here with the caller's rights: only a
/// regular file, whose size is announced first.
fn import<T: DeserializeOwned>(client: &mut Client, file: &std::path::Path) -> Result<T, Failure> {
    let usage = |e: String| Failure::Usage(format!("{}: {e}", file.display()));
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(file)
        .map_err(|e| usage(e.to_string()))?;
    let meta = f.metadata().map_err(|e| usage(e.to_string()))?;
    if !meta.is_file() {
        return Err(usage("not a regular file".into()));
    }
    let request = Request::Import(ImportParams {
        bytes: meta.len(),
        name: file.file_name().map(|n| n.to_string_lossy().into_owned()),
    });
    client.call_with_body(&request, &mut f).map_err(failed)
}

fn call<T: DeserializeOwned>(client: &mut Client, request: &Request) -> Result<T, Failure> {
    client.call(request).map_err(failed)
}

/// Call, then print the result as a table or as JSON.
fn show<T: DeserializeOwned + Serialize + Human>(
    client: &mut Client,
    request: &Request,
    json: bool,
) -> Result<(), Failure> {
    let result: T = call(client, request)?;
    output(&result, json);
    Ok(())
}

fn output<T: Serialize + Human>(result: &T, json: bool) {
    if json {
        print::json(result);
    } else {
        result.print();
    }
}

fn execute(cli: &Cli) -> Result<(), Failure> {
    let socket = socket_path(cli)?;
    if let Command::Bench(args) = &cli.command {
        return bench::run(&socket, args, cli.json);
    }
    let c = &mut Client::connect(&socket).map_err(|e| Failure::Unreachable(e.to_string()))?;
    let json = cli.json;
    match &cli.command {
        Command::Health => show::<Health>(c, &Request::Health, json),
        Command::Stats => show::<p::Stats>(c, &Request::Stats, json),
        Command::Recommend { user, n } => {
            let request = Request::Recommend(RecommendParams {
                user: user.clone(),
                n: *n,
            });
            show::<p::Recommended>(c, &request, json)
        }
        Command::Predict { user, movie } => {
            let request = Request::Predict(PredictParams {
                user: user.clone(),
                movie: *movie,
            });
            show::<p::Predicted>(c, &request, json)
        }
        Command::Similar { movie, n } => {
            let request = Request::Similar(SimilarParams {
                movie: *movie,
                n: *n,
            });
            show::<p::SimilarTo>(c, &request, json)
        }
        Command::Rate {
            user,
            movie,
            rating,
        } => {
            let request = Request::Rate(RateParams {
                user: user.clone(),
                movie: *movie,
                rating: *rating,
            });
            show::<p::Rated>(c, &request, json)
        }
        Command::Unrate { user, movie } => {
            let request = Request::Unrate(UnrateParams {
                user: user.clone(),
                movie: *movie,
            });
            show::<p::Unrated>(c, &request, json)
        }
        Command::Import { file } => {
            let result: p::Imported = import(c, file)?;
            output(&result, json);
            Ok(())
        }
        Command::Forget { user } => {
            let request = Request::Forget(p::ForgetParams { user: user.clone() });
            show::<p::Forgotten>(c, &request, json)
        }
        Command::Backup { dest } => {
            let info = backup::backup(c, dest)?;
            if json {
                print::json(&info);
            } else {
                print::backed_up(&info, dest);
            }
            Ok(())
        }
        Command::Retrain {
            check: Some(RetrainCommand::Check { min_ratings }),
            ..
        } => {
            let request = Request::RetrainCheck(RetrainCheckParams {
                min_ratings: *min_ratings,
            });
            show::<p::Check>(c, &request, json)
        }
        Command::Retrain { check: None, args } => {
            let status = retrain(c, args, json)?;
            output(&status, json);
            Ok(())
        }
        Command::Job {
            action: Some(JobCommand::Cancel { id }),
            ..
        } => show::<p::JobCancelled>(c, &Request::JobCancel(JobParams { job: *id }), json),
        Command::Job { action: None, id } => {
            show::<p::JobStatus>(c, &Request::JobStatus(JobParams { job: *id }), json)
        }
        Command::Reload { wait } => {
            let reloaded = reload(c, *wait)?;
            output(&reloaded, json);
            Ok(())
        }
        Command::Models => show::<p::Models>(c, &Request::Models, json),
        Command::Rollback { version } => {
            let request = Request::Rollback(RollbackParams {
                version: version.clone(),
            });
            show::<p::RolledBack>(c, &request, json)
        }
        Command::History {
            limit,
            status,
            trigger,
        } => {
            let request = Request::History(p::HistoryParams {
                limit: Some(*limit),
                status: *status,
                trigger: *trigger,
            });
            show::<p::History>(c, &request, json)
        }
        Command::Schedule { action, next } => match action {
            None => {
                let request = Request::Schedule(p::ScheduleParams { next: Some(*next) });
                show::<p::ScheduleInfo>(c, &request, json)
            }
            Some(ScheduleCommand::Pause) => {
                show::<p::SchedulePaused>(c, &Request::SchedulePause, json)
            }
            Some(ScheduleCommand::Resume) => {
                show::<p::SchedulePaused>(c, &Request::ScheduleResume, json)
            }
        },
        Command::Bench(_) => unreachable!("handled above"),
    }
}

fn retrain(c: &mut Client, a: &RetrainArgs, json: bool) -> Result<p::JobStatus, Failure> {
    let request = Request::Retrain(RetrainParams {
        params: a.params.clone(),
        force: a.force,
        no_backup: a.no_backup,
        min_ratings: a.min_ratings,
    });
    let mut bar = print::RetrainBar::new(json, a.params.epochs);
    let result = c.call_with_progress(&request, &mut |p| bar.progress(&p));
    bar.finish();
    result.map_err(failed)
}

fn reload(c: &mut Client, wait: bool) -> Result<p::Reloaded, Failure> {
    let reloaded: p::Reloaded = call(c, &Request::Reload(ReloadParams {}))?;
    if wait {
        // The reply comes after the swap; confirm the version now answers.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let health: Health = call(c, &Request::Health)?;
            if health.model.as_ref().map(|m| &m.version) == Some(&reloaded.version) {
                break;
            }
            if Instant::now() > deadline {
                return Err(Failure::Failed(format!(
                    "reloaded, but {} was not serving after 30 s",
                    reloaded.version
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Ok(reloaded)
}
