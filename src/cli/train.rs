//! `recd train`: run the retrain pipeline offline (or only check whether
//! a retrain is due), print its steps and summary, and have a daemon
//! serving the same models directory reload what was published.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use super::{print_json, CmdError, CmdResult, TrainArgs};
use crate::client::{Client, ConnectError};
use crate::config::Config;
use crate::protocol::{ErrorCode, Health, ReloadParams, Reloaded, Request};
use crate::train::pipeline::{self, Event, Options, Outcome};

pub(super) fn train(config: Option<PathBuf>, args: TrainArgs) -> CmdResult {
    let cfg = Config::locate(config.as_deref()).map_err(|e| e.to_string())?;
    let base = Options::from_config(&cfg);
    let opts = Options {
        dataset: args.dataset.unwrap_or(base.dataset),
        models_dir: args.models_dir.unwrap_or(base.models_dir),
        params: cfg
            .training
            .params_with(&args.params)
            .map_err(|e| e.to_string())?,
        backup: !args.no_backup,
        force: args.force,
        min_new_ratings: args.min_ratings,
        trigger: crate::store::Trigger::Offline,
        ..base
    };
    // The database is reached through a small runtime of our own; it lives
    // until the run ends.
    let runtime;
    let opts = if args.no_database {
        opts
    } else {
        runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start a runtime for the database: {e}"))?;
        let store = runtime
            .block_on(crate::store::Store::open(
                &cfg.database.target,
                cfg.database.options(),
            ))
            .map_err(|e| {
                format!(
                    "ratings database {}: {e} (--no-database trains on the dataset alone)",
                    cfg.database.target.display()
                )
            })?;
        Options {
            database: Some(crate::store::Blocking {
                store,
                handle: runtime.handle().clone(),
            }),
            ..opts
        }
    };
    if args.check_only {
        let check = pipeline::check(
            &opts,
            args.min_ratings.unwrap_or(cfg.training.min_new_ratings),
        )
        .map_err(|e| e.to_string())?;
        if args.json {
            print_json(&check)?;
            return if check.retrain {
                Ok(())
            } else {
                Err(CmdError::NotDue)
            };
        }
        println!(
            "current model   {}",
            check.current_version.as_deref().unwrap_or("none")
        );
        println!("watermark       {}", check.watermark);
        println!("database        {}", check.database);
        println!(
            "new ratings     {} (threshold {})",
            check.new_ratings, check.threshold
        );
        let verdict = match check.current_version {
            None => "retraining necessary (no model yet)".to_string(),
            Some(_) => check.verdict.describe(check.threshold),
        };
        println!("verdict         {verdict}");
        println!(
            "retrain         {}",
            if check.retrain { "yes" } else { "no" }
        );
        return if check.retrain {
            Ok(())
        } else {
            Err(CmdError::NotDue)
        };
    }

    let mut opts = Options {
        protect: served_version(&cfg, &opts.models_dir).into_iter().collect(),
        ..opts
    };
    // The run is recorded here first, so that whatever its end, it can be
    // read back and announced.
    if let Some(db) = &opts.database {
        let id = pipeline::record_start(db, &opts)
            .map_err(|e| format!("cannot record the run in the ratings database: {e}"))?;
        opts.run_id = Some(id);
    }
    let mut progress = Progress::new(args.json, opts.params.n_epochs);
    let cancel = cancel_on_signals();
    let result = pipeline::run(&opts, &cancel, &mut |e| progress.event(e));
    announce(&cfg, &opts);
    let outcome = result.map_err(|e| e.to_string())?;
    let told =
        (outcome.published && !args.no_reload).then(|| tell_the_daemon(&cfg, &opts.models_dir));
    if args.json {
        print_json(&outcome)?;
        // stdout holds the one JSON object; the daemon's news goes beside it.
        if let Some(line) = told {
            eprintln!("{line}");
        }
        return Ok(());
    }
    summary(&outcome);
    if let Some(line) = told {
        println!("{line}");
    }
    Ok(())
}

/// A flag SIGINT and SIGTERM raise, so that the run stops at its next
/// check and is recorded as cancelled (not left `running`); a second
/// signal exits at once.
fn cancel_on_signals() -> std::sync::Arc<AtomicBool> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let flag = std::sync::Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        // Registration only fails for forbidden signals, which these are not.
        let _ = signal_hook::flag::register_conditional_shutdown(sig, 130, flag.clone());
        let _ = signal_hook::flag::register(sig, flag.clone());
    }
    flag
}

/// Send the `[notify]` notifications for the run just recorded, and wait
/// for them (bounded by their timeouts and retries): the process is about
/// to end.
fn announce(cfg: &Config, opts: &Options) {
    let (Some(db), Some(id)) = (&opts.database, opts.run_id) else {
        return;
    };
    let notifier = crate::notifications::Notifier::new(&cfg.notify);
    if !notifier.is_enabled() {
        return;
    }
    match db.get_run(id) {
        Ok(Some(run)) => {
            if let Some(sending) = crate::lifecycle::announce::send(&notifier, &run) {
                let _ = sending.join();
            }
        }
        Ok(None) => {}
        Err(e) => eprintln!("cannot read run {id} back to announce it: {e}"),
    }
}

/// The daemon on the configured socket, if it serves `models_dir`; else
/// why not, as a line for the summary.
fn daemon_for(cfg: &Config, models_dir: &std::path::Path) -> Result<Client, String> {
    let same_dir =
        std::path::absolute(models_dir).ok() == std::path::absolute(&cfg.paths.models_dir).ok();
    let socket = &cfg.daemon.socket;
    if !same_dir {
        return Err(format!(
            "daemon       not told: it serves {}, not this models directory",
            cfg.paths.models_dir.display()
        ));
    }
    Client::connect(socket).map_err(|e| match e {
        ConnectError::NotRunning(_) | ConnectError::Refused(_) => {
            format!("daemon       none running on {}", socket.display())
        }
        e => format!("daemon       not told ({e}); it loads the new model within seconds"),
    })
}

/// The version a daemon serving `models_dir` serves: never to be removed
/// by `--no-backup` or pruning.
fn served_version(cfg: &Config, models_dir: &std::path::Path) -> Option<String> {
    let mut client = daemon_for(cfg, models_dir).ok()?;
    let health: Health = client.call(&Request::Health).ok()?;
    health.model.map(|m| m.version)
}

/// Ask the daemon on the configured socket to reload, if it serves the
/// models directory just published into; what happened, in a line.
fn tell_the_daemon(cfg: &Config, models_dir: &std::path::Path) -> String {
    let mut client = match daemon_for(cfg, models_dir) {
        Ok(c) => c,
        Err(line) => return line,
    };
    match client.call::<Reloaded>(&Request::Reload(ReloadParams {})) {
        Ok(r) => format!(
            "daemon       now serving {} (on {})",
            r.version,
            cfg.daemon.socket.display()
        ),
        Err(e) if e.code() == Some(ErrorCode::PermissionDenied) => {
            format!("daemon       not told ({e}); it loads the new model within seconds")
        }
        Err(e) => format!("daemon       did not reload: {e}"),
    }
}

fn summary(o: &Outcome) {
    if let Some(why) = &o.skipped {
        println!("not retrained: {why} (use --force to train anyway)");
        return;
    }
    println!("published {}", o.version.as_deref().unwrap_or("?"));
    if let Some(id) = o.run_id {
        println!("  run        {id} (recctl history)");
    }
    if let Some(p) = &o.path {
        println!("  path       {}", p.display());
    }
    match (o.rmse, o.mae) {
        (Some(r), Some(m)) => println!("  holdout    RMSE {r:.4}  MAE {m:.4}"),
        _ => println!("  holdout    none"),
    }
    println!(
        "  ratings    {} ({} users, {} movies)",
        o.ratings, o.users, o.items
    );
    println!("  training   {:.2}s", o.training_seconds);
    println!("  total      {:.2}s", o.total_seconds);
    match &o.backup {
        Some(b) => println!("  backup     {}", b.display()),
        None => println!("  backup     none"),
    }
    for r in &o.removed {
        println!("  removed    {}", r.display());
    }
}

/// Step and epoch lines go to stdout (stderr under --json); on a terminal
/// epochs are redrawn in place on stderr, elsewhere they are thinned out.
struct Progress {
    json: bool,
    tty: bool,
    every: usize,
    step: usize,
}

impl Progress {
    fn new(json: bool, n_epochs: usize) -> Progress {
        Progress {
            json,
            tty: std::io::stderr().is_terminal(),
            every: n_epochs.div_ceil(10).max(1),
            step: 0,
        }
    }

    fn line(&self, text: &str) {
        if self.json {
            eprintln!("{text}");
        } else {
            println!("{text}");
        }
    }

    fn event(&mut self, event: Event) {
        match event {
            Event::Started(stage) => {
                self.step += 1;
                if self.json || !self.tty {
                    return;
                }
                eprint!("[{}/6] {}...\r", self.step, stage.label());
            }
            Event::Finished {
                stage,
                seconds,
                detail,
            } => {
                if self.tty {
                    eprint!("\x1b[2K");
                }
                self.line(&format!(
                    "[{}/6] {:<22} {:>7.3}s  {detail}",
                    self.step,
                    stage.label(),
                    seconds
                ));
            }
            Event::Epoch(e) => {
                let text = format!(
                    "      epoch {:>3}/{}  train RMSE {:.4}  {:.2}s",
                    e.epoch,
                    e.n_epochs,
                    e.train_rmse,
                    e.elapsed.as_secs_f64()
                );
                if self.tty {
                    eprint!("\x1b[2K{text}\r");
                } else if e.epoch % self.every == 0 || e.epoch == e.n_epochs {
                    self.line(&text);
                }
                let _ = std::io::stderr().flush();
            }
        }
    }
}
