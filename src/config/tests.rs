//! Keys, defaults, limits and error messages of the config file.

use super::*;

pub(super) fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("/etc/recd"), Path::new("recd.toml"))
}

#[test]
fn empty_file_is_the_embedded_defaults() {
    let c = parse("").unwrap();
    assert_eq!(c, Config::embedded());
}

#[test]
fn keys_are_read_and_relative_paths_follow_the_file() {
    let c = parse(
        "[paths]\nmodels_dir = \"models\"\ndataset = \"/data/ml-1m\"\n\
         [training]\nn_factors = 150\nn_epochs = 25\nlr_all = 0.01\nreg_all = 0.05\nthreads = 2\nholdout_fraction = 0.2\n\
         [models]\nkeep_backups = 3\n",
    )
    .unwrap();
    assert_eq!(c.paths.models_dir, PathBuf::from("/etc/recd/models"));
    assert_eq!(c.paths.dataset, PathBuf::from("/data/ml-1m"));
    assert_eq!(
        (
            c.training.params.n_factors,
            c.training.params.n_epochs,
            c.training.params.threads
        ),
        (150, 25, 2)
    );
    assert_eq!(c.training.holdout_fraction, 0.2);
    assert_eq!(c.models.keep_backups, 3);
}

#[test]
fn errors_name_the_key() {
    let e = parse("[training]\nn_factors = 0\n")
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "recd.toml: training.n_factors: must be between 1 and 1024, got 0"
    );
    let e = parse("[training]\nholdout_fraction = 0.9\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("training.holdout_fraction"), "{e}");
    let e = parse("[training]\nn_factor = 10\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown field `n_factor`"), "{e}");
    // The dataset's binary copy: on by default.
    assert!(parse("").unwrap().training.dataset_cache);
    let off = parse("[training]\ndataset_cache = false\n").unwrap();
    assert!(!off.training.dataset_cache);
    let e = parse("[training]\ndataset_cache = \"yes\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("dataset_cache") && e.contains("invalid type"),
        "{e}"
    );
    let e = parse("[training]\nn_factors = \"many\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("n_factors") && e.contains("invalid type"), "{e}");
    let e = parse("[paths]\nmodels_dir = \"\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("paths.models_dir: must not be empty"), "{e}");
    let e = parse("[daemon]\nmax_connections = 0\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("daemon.max_connections: must be between 1"),
        "{e}"
    );
    let e = parse(&format!("[daemon]\nsocket = \"/{}\"\n", "s".repeat(120)))
        .unwrap_err()
        .to_string();
    assert!(e.contains("daemon.socket: path is 121 bytes"), "{e}");
    let e = parse("[logging]\nlevel = \"loud\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("logging.level: must be one of"), "{e}");
    let e = parse("[database]\nurl = \"mysql://x\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("database.url: must be empty"), "{e}");
    let e = parse("[fold_in]\nrelated_movies = 0\n")
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "recd.toml: fold_in.related_movies: must be between 1 and 10000, got 0"
    );
    let c = parse("[fold_in]\nmin_ratings = 3\nrelated_movies = 7\n").unwrap();
    assert_eq!((c.fold_in.min_ratings, c.fold_in.related_movies), (3, 7));
    let e = parse("[ratings]\nstep = 0\n").unwrap_err().to_string();
    assert!(e.contains("ratings.step"), "{e}");
    let c = parse("[paths]\nstate_dir = \"st\"\n").unwrap();
    assert_eq!(
        c.database.target,
        crate::store::Target::Sqlite(PathBuf::from("/etc/recd/st/recd.db"))
    );
    let c = parse("[database]\nurl = \"sqlite:db/r.db\"\n").unwrap();
    assert_eq!(
        c.database.target,
        crate::store::Target::Sqlite(PathBuf::from("/etc/recd/db/r.db"))
    );
    let e = parse("[training\n").unwrap_err().to_string();
    assert!(e.starts_with("recd.toml: "), "{e}");
}

#[test]
fn the_repository_config_parses_and_documents_every_key() {
    let text = include_str!("../../config/recd.toml");
    parse(text).unwrap();
    for key in [
        "models_dir",
        "dataset",
        "dataset_url",
        "dataset_md5",
        "algorithm",
        "burn_in",
        "lr_all",
        "reg_all",
        "threads",
        "seed",
        "holdout_fraction",
        "min_new_ratings",
        "max_rmse_increase",
        "dataset_cache",
        "keep_backups",
        "socket",
        "admin_group",
        "max_connections",
        "max_line_bytes",
        "loopback_scopes",
        "idle_timeout_secs",
        "write_timeout_secs",
        "max_import_bytes",
        "shutdown_timeout_secs",
        "dir",
        "keep_files",
        "level",
        "state_dir",
        "url",
        "busy_timeout_ms",
        "min",
        "max",
        "step",
        "max_user_id_bytes",
        "min_ratings",
        "related_movies",
        "popularity_damping",
        "cache_users",
        "mode",
        "cron",
        "interval_hours",
        "at",
        "day",
        "timezone",
        "random_delay_secs",
        "catch_up",
        "listen",
    ] {
        assert!(
            text.contains(&format!("\n{key} = ")),
            "config/recd.toml does not document {key}"
        );
    }
    // Keys whose default is "none" or depends on the algorithm are shown
    // commented out.
    for key in [
        "n_factors",
        "n_epochs",
        "init_std_dev",
        "webhook",
        "command",
        "events",
        "timeout_secs",
        "retries",
        "tls_cert",
        "tls_key",
        "name",
        "sha256",
        "scopes",
    ] {
        assert!(
            text.contains(&format!("\n# {key} = ")),
            "config/recd.toml does not show {key} commented out"
        );
    }
    parse(include_str!("../../packaging/recd.toml")).unwrap();
}

#[test]
fn the_schedule_is_off_by_default_and_its_errors_name_the_key() {
    assert!(parse("").unwrap().schedule.is_off());
    let c = parse(
        "[schedule]\nmode = \"daily\"\nat = \"03:30\"\ntimezone = \"Europe/Madrid\"\n\
         random_delay_secs = 600\ncatch_up = false\n",
    )
    .unwrap();
    let s = &c.schedule;
    assert_eq!(
        (
            s.describe().as_str(),
            s.expression().as_deref(),
            s.timezone()
        ),
        ("daily at 03:30", Some("30 3 * * *"), "Europe/Madrid")
    );
    assert_eq!(s.random_delay(), std::time::Duration::from_secs(600));
    assert!(!s.catch_up());
    let c = parse("[schedule]\ncron = \"*/30 * * * *\"\ntimezone = \"UTC\"\n").unwrap();
    assert_eq!(c.schedule.describe(), "*/30 * * * *");

    let e = parse("[schedule]\ncron = \"60 * * * *\"\n")
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "recd.toml: schedule.cron: minute '60': number out of bounds (minute takes 0-59)"
    );
    for (text, key) in [
        ("mode = \"hourly\"", "mode"),
        ("mode = \"cron\"", "cron"),
        ("cron = \"0 2 * *\"", "cron"),
        ("mode = \"interval\"\ninterval_hours = 0", "interval_hours"),
        ("at = \"24:00\"", "at"),
        ("day = \"someday\"", "day"),
        ("timezone = \"Europe/Atlantis\"", "timezone"),
        ("random_delay_secs = 100000", "random_delay_secs"),
    ] {
        let e = parse(&format!("[schedule]\n{text}\n"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&format!("recd.toml: schedule.{key}: ")),
            "{text}: {e}"
        );
    }
    let e = parse("[schedule]\nfrequency = 1\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown field `frequency`"), "{e}");
    let e = parse("[schedule]\ncatch_up = \"yes\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("catch_up") || e.contains("invalid type"), "{e}");
}

/// Regression: a TOML syntax error was squashed onto one line, which lost
/// the parser's display of the offending line with a caret under it.
#[test]
fn a_syntax_error_keeps_the_parsers_caret_display() {
    let e = parse("[training]\nn_factors = 5\n[daemon\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("recd.toml: TOML parse error at line 3, column 8\n"),
        "{e}"
    );
    assert!(e.contains("\n3 | [daemon\n"), "{e}");
    assert!(e.contains("\n  |        ^\n"), "{e}");
    // A bad value in [training] points at its own line, not the table's.
    let e = parse("[training]\nseed = 1\nn_epochs = -3\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("\n3 | n_epochs = -3\n"), "{e}");
    let e = parse("[training]\nseed = 1\nn_factor = 3\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("\n3 | n_factor = 3\n"), "{e}");
}

/// Regression: relative paths were joined onto the config's directory as
/// it was named, so `models_dir = "../models"` in `config/recd.toml` was
/// printed, and stored in model metadata, as `config/../models`.
#[test]
fn every_path_comes_out_absolute_and_folded() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("config");
    std::fs::create_dir(&conf).unwrap();
    std::fs::write(
        conf.join("recd.toml"),
        "[paths]\nmodels_dir = \"../models\"\ndataset = \"../../shared/./ml-1m\"\nstate_dir = \".\"\n\
         [daemon]\nsocket = \"run/../recd.sock\"\n\
         [database]\nurl = \"sqlite:../db/r.db\"\n\
         [logging]\ndir = \"../logs/\"\n",
    )
    .unwrap();
    let c = Config::load(&dir.path().join("config/../config/./recd.toml")).unwrap();
    let top = dir.path().parent().unwrap();
    assert_eq!(c.paths.models_dir, dir.path().join("models"));
    assert_eq!(c.paths.dataset, top.join("shared/ml-1m"));
    assert_eq!(c.paths.state_dir, conf);
    assert_eq!(c.daemon.socket, conf.join("recd.sock"));
    assert_eq!(
        c.database.target,
        crate::store::Target::Sqlite(dir.path().join("db/r.db"))
    );
    assert_eq!(c.logging.dir, Some(dir.path().join("logs")));

    // A config named by a relative path resolves from the current directory.
    let c = Config::parse(
        "[paths]\nmodels_dir = \"../models\"\n",
        Path::new("config"),
        Path::new("config/recd.toml"),
    )
    .unwrap();
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(c.paths.models_dir, cwd.join("models"));
    assert!(c.paths.models_dir.is_absolute());
}

#[test]
fn normalize_folds_dots_lexically() {
    for (path, want) in [
        ("/a/./b/../c", "/a/c"),
        ("/..", "/"),
        ("/a/../../b", "/b"),
        ("a/../../b", "../b"),
        ("./a/", "a"),
    ] {
        assert_eq!(normalize(Path::new(path)), PathBuf::from(want), "{path}");
    }
}

/// The commented-out `[notify]` keys, uncommented, are valid, and those with
/// a default show it.
#[test]
fn the_documented_notify_keys_parse_and_show_their_defaults() {
    let text = include_str!("../../config/recd.toml");
    let section = &text[text.find("\n[notify]\n").unwrap()..];
    let uncommented: String = section
        .lines()
        .map(|l| {
            l.strip_prefix("# ")
                .filter(|k| k.contains(" = "))
                .unwrap_or(l)
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let c = parse(&uncommented).unwrap();
    let defaults = crate::notifications::Settings::default();
    assert_eq!(c.notify.events, defaults.events);
    assert_eq!(c.notify.timeout, defaults.timeout);
    assert_eq!(c.notify.retries, defaults.retries);
    assert!(c.notify.webhook.is_some() && c.notify.command.is_some());
    assert_eq!(parse(text).unwrap().notify, defaults);
}

#[test]
fn notify_keys_are_read_and_errors_name_them() {
    let c = parse(
        "[notify]\nwebhook = \"https://hooks.example.org/x\"\ncommand = [\"/bin/true\"]\n\
         events = [\"failed\"]\ntimeout_secs = 5\nretries = 0\n",
    )
    .unwrap();
    assert_eq!(
        c.notify.webhook.as_deref(),
        Some("https://hooks.example.org/x")
    );
    assert_eq!(c.notify.command, Some(vec!["/bin/true".to_owned()]));
    assert_eq!(c.notify.events, ["failed"]);
    assert_eq!(c.notify.timeout, std::time::Duration::from_secs(5));
    assert_eq!(c.notify.retries, 0);
    // "" is no webhook, as dataset_url's "" is no download.
    assert_eq!(
        parse("[notify]\nwebhook = \"\"\n").unwrap().notify.webhook,
        None
    );
    for (text, want) in [
        (
            "webhook = \"ftp://files.example.org/x\"",
            "notify.webhook: must be an http:// or https:// URL, not ftp://",
        ),
        ("webhook = \"hooks.example.org/x\"", "notify.webhook: must be an absolute"),
        ("webhook = \"https://exa mple.org/\"", "notify.webhook: is not a URL"),
        ("command = []", "notify.command: must start with a program"),
        ("command = [\"\", \"x\"]", "notify.command: must start with a program"),
        (
            "events = [\"failed\", \"exploded\"]",
            "notify.events: 'exploded' is not a run status; the statuses are published, skipped, rejected, failed, cancelled",
        ),
        ("timeout_secs = 0", "notify.timeout_secs: must be between 1 and 3600, got 0"),
        ("retries = 11", "notify.retries: must be between 0 and 10, got 11"),
    ] {
        let e = parse(&format!("[notify]\n{text}\n")).unwrap_err().to_string();
        assert!(e.starts_with(&format!("recd.toml: {want}")), "{text}: {e}");
    }
    let e = parse("[notify]\nurl = \"x\"\n").unwrap_err().to_string();
    assert!(e.contains("unknown field `url`"), "{e}");
    // The secret in a bad URL's path is not repeated.
    let e = parse("[notify]\nwebhook = \"smtp://h/SECRET\"\n")
        .unwrap_err()
        .to_string();
    assert!(!e.contains("SECRET"), "{e}");
}

#[test]
fn the_metrics_endpoint_is_off_by_default_and_its_errors_name_the_key() {
    assert_eq!(parse("").unwrap().metrics.address, None);
    assert_eq!(
        parse("[metrics]\nlisten = \"\"\n").unwrap().metrics.address,
        None
    );
    let c = parse("[metrics]\nlisten = \"127.0.0.1:9464\"\n").unwrap();
    assert_eq!(c.metrics.address, Some("127.0.0.1:9464".parse().unwrap()));
    let c = parse("[metrics]\nlisten = \"[::1]:9464\"\n").unwrap();
    assert_eq!(c.metrics.address, Some("[::1]:9464".parse().unwrap()));
    for bad in [
        "localhost:9464",
        "9464",
        "127.0.0.1",
        "127.0.0.1:99999",
        ":9464",
    ] {
        let e = parse(&format!("[metrics]\nlisten = \"{bad}\"\n"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            format!(
                "recd.toml: metrics.listen: must be \"\" (no endpoint) or an IP address and a \
                 port, such as 127.0.0.1:9464 or [::1]:9464; got '{bad}'"
            )
        );
    }
    let e = parse("[metrics]\nport = 9464\n").unwrap_err().to_string();
    assert!(e.contains("unknown field `port`"), "{e}");
}

/// The `key = ` lines of a config file, set or shown commented out, as
/// (section, key).
fn keys_shown(text: &str) -> Vec<(String, String)> {
    let mut section = String::new();
    let mut keys = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
        } else if let Some((key, _)) = line.strip_prefix("# ").unwrap_or(line).split_once(" = ") {
            if !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                keys.push((section.clone(), key.to_owned()));
            }
        }
    }
    keys
}

/// The packaged /etc/recd/recd.toml shows every key that config/recd.toml
/// documents (which the test above holds to every key recd reads), in the
/// same section, and names the paths the package and its units set up.
#[test]
fn the_packaged_config_shows_every_key_and_the_system_paths() {
    let packaged = include_str!("../../packaging/recd.toml");
    let shown = keys_shown(packaged);
    let documented = keys_shown(include_str!("../../config/recd.toml"));
    assert!(documented.len() > 50, "{documented:?}");
    for key in &documented {
        assert!(
            shown.contains(key),
            "packaging/recd.toml does not show {}.{}",
            key.0,
            key.1
        );
    }
    let c = parse(packaged).unwrap();
    assert_eq!(c.daemon.socket, Path::new("/run/recd/recd.sock"));
    assert_eq!(c.daemon.admin_group.as_deref(), Some("recd-admin"));
    assert_eq!(c.paths.state_dir, Path::new("/var/lib/recd"));
    assert_eq!(c.paths.models_dir, Path::new("/var/lib/recd/models"));
    assert_eq!(c.paths.dataset, Path::new("/var/lib/recd/datasets/ml-1m"));
    assert_eq!(c.logging.dir.as_deref(), Some(Path::new("/var/log/recd")));
}
