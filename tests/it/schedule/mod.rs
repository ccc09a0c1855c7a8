//! The record of training runs and the retraining schedule through the real
//! binaries: `history`, `schedule`, its pause across a restart, job ids
//! that are run ids, scheduled runs firing (and skipping, and being busy),
//! the maximum duration, notifications, and schedule keys refused.

use crate::helper;

use std::time::{Duration, Instant};

use helper::daemon::{Daemon, Setup};
use helper::Run;
use serde_json::{json, Value};

/// Daily at 03:30 in Madrid: never due while a test runs.
const DAILY: &str = "[schedule]\nmode = \"daily\"\nat = \"03:30\"\ntimezone = \"Europe/Madrid\"\n";

/// Every two seconds (six fields, seconds first).
const EVERY_2S: &str = "[schedule]\ncron = \"*/2 * * * * *\"\n";

/// Every second.
const EVERY_1S: &str = "[schedule]\ncron = \"* * * * * *\"\n";

fn daemon(training_keys: &str, sections: &str) -> Daemon {
    Daemon::start_setup(&Setup {
        training_keys,
        sections,
        ..Setup::default()
    })
}

/// Poll `probe` until it gives a value; past `limit`, fail with what it
/// last said.
fn wait_for<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        match probe() {
            Ok(t) => return t,
            Err(last) => assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; last: {last}"
            ),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `recctl --json history ARGS`: the runs, newest first.
fn history(d: &Daemon, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["--json", "history"];
    all.extend_from_slice(args);
    let j = d.recctl(&all).ok().json();
    j["runs"].as_array().expect("runs").clone()
}

fn ids(runs: &[Value]) -> Vec<i64> {
    runs.iter().map(|r| r["id"].as_i64().unwrap()).collect()
}

fn field<'a>(runs: &'a [Value], key: &str) -> Vec<&'a str> {
    runs.iter().map(|r| r[key].as_str().unwrap()).collect()
}

fn strings(list: &Value) -> Vec<&str> {
    let items = list.as_array().expect("a list");
    items.iter().map(|t| t.as_str().expect("text")).collect()
}

fn health(d: &Daemon) -> Value {
    d.recctl(&["--json", "health"]).ok().json()
}

fn schedule(d: &Daemon) -> Value {
    d.recctl(&["--json", "schedule"]).ok().json()
}

/// Restart the daemon on its config (as it is now on disk).
fn restart(d: &mut Daemon) {
    assert_eq!(d.stop(), 0, "a clean stop");
    d.spawn(&[]);
    d.wait_ready();
}

/// Change the daemon's config file in place (for its next start).
fn edit_config(d: &Daemon, from: &str, to: &str) {
    let text = std::fs::read_to_string(d.config()).unwrap();
    assert!(text.contains(from), "{from:?} not in the config:\n{text}");
    std::fs::write(d.config(), text.replace(from, to)).unwrap();
}

/// A manual retrain through recctl; its reply.
fn retrain(d: &Daemon, args: &[&str]) -> Value {
    let mut all = vec!["--json", "retrain"];
    all.extend_from_slice(args);
    d.recctl(&all).ok().json()
}

fn timestamp(text: &str) -> jiff::Timestamp {
    text.parse()
        .unwrap_or_else(|e| panic!("not an RFC 3339 time: {text:?}: {e}"))
}

#[test]
fn history_and_schedule_through_recctl() {
    let d = daemon("", DAILY);
    let manual = retrain(&d, &["--epochs", "3", "--force"]);
    assert_eq!(manual["state"], "published", "{manual}");
    assert_eq!(manual["trigger"], "manual");
    let manual_id = manual["id"].as_i64().unwrap();
    let manual_version = manual["outcome"]["version"].as_str().unwrap().to_owned();

    // `recd train` on the daemon's config records its run in the same
    // database.
    let config = d.config();
    let offline = d
        .fixture
        .train(&["--config", config.to_str().unwrap(), "--force", "--json"])
        .ok()
        .json();
    let offline_id = offline["run_id"].as_i64().expect("the offline run's id");
    let offline_version = offline["version"].as_str().unwrap().to_owned();

    // Gated: no new ratings at all, far below the threshold.
    let skipped = retrain(&d, &["--min-ratings", "1000000"]);
    assert_eq!(skipped["state"], "skipped", "{skipped}");
    let skipped_id = skipped["id"].as_i64().unwrap();
    assert!(manual_id < offline_id && offline_id < skipped_id);

    let runs = history(&d, &[]);
    assert_eq!(
        ids(&runs),
        [skipped_id, offline_id, manual_id],
        "newest first"
    );
    assert_eq!(field(&runs, "trigger"), ["manual", "offline", "manual"]);
    assert_eq!(
        field(&runs, "status"),
        ["skipped", "published", "published"]
    );
    assert_eq!(runs[2]["model_version"], json!(manual_version));
    assert_eq!(runs[1]["model_version"], json!(offline_version));
    assert_eq!(runs[0]["new_ratings"], 0);
    let reason = runs[0]["reason"].as_str().unwrap();
    assert!(reason.contains("threshold of 1000000"), "{reason}");
    for r in &runs {
        assert!(r["finished_at"].is_string(), "an ended run: {r}");
    }

    let only = history(&d, &["--status", "skipped"]);
    assert_eq!(ids(&only), [skipped_id]);
    assert_eq!(ids(&history(&d, &["--trigger", "offline"])), [offline_id]);
    assert_eq!(ids(&history(&d, &["--limit", "1"])), [skipped_id]);
    assert_eq!(ids(&history(&d, &["-n", "2"])), [skipped_id, offline_id]);
    assert!(history(&d, &["--status", "cancelled"]).is_empty());
    assert_eq!(d.recctl(&["history", "--status", "nonsense"]).code, 2);

    let human = d.recctl(&["history"]).ok().stdout;
    let lines: Vec<&str> = human.lines().collect();
    assert_eq!(lines.len(), 4, "a header and three rows:\n{human}");
    for word in ["id", "trigger", "status", "started"] {
        assert!(lines[0].contains(word), "{human}");
    }
    let offline_row = lines
        .iter()
        .find(|l| l.split_whitespace().next() == Some(&offline_id.to_string()))
        .unwrap_or_else(|| panic!("no row for run {offline_id}:\n{human}"));
    for word in ["offline", "published", &offline_version] {
        assert!(offline_row.contains(word), "{offline_row}");
    }

    let s = schedule(&d);
    assert_eq!(s["schedule"], "daily at 03:30", "{s}");
    assert_eq!(s["expression"], "30 3 * * *");
    assert_eq!(s["timezone"], "Europe/Madrid");
    assert_eq!(s["paused"], false);
    assert_eq!(s["last_success"]["id"], json!(offline_id));
    let (next, local) = (strings(&s["next"]), strings(&s["next_local"]));
    assert_eq!((next.len(), local.len()), (5, 5), "{s}");
    let now = jiff::Timestamp::now();
    let first = timestamp(next[0]);
    assert!(
        first > now && first.duration_since(now) <= jiff::SignedDuration::from_hours(25),
        "the first run is within a day: {first}"
    );
    for (i, (utc, here)) in next.iter().zip(&local).enumerate() {
        assert_eq!(
            timestamp(utc),
            timestamp(here),
            "the same time: {utc} {here}"
        );
        assert_eq!(&here[10..19], "T03:30:00", "at 03:30 in Madrid: {here}");
        if i > 0 {
            let (prev, this): (jiff::civil::Date, jiff::civil::Date) = (
                local[i - 1][..10].parse().unwrap(),
                here[..10].parse().unwrap(),
            );
            assert_eq!(prev.tomorrow().unwrap(), this, "a day apart: {local:?}");
            // A day of 24 h, unless the clocks change in it.
            let gap = timestamp(utc).duration_since(timestamp(next[i - 1]));
            if local[i - 1][19..] == here[19..] {
                assert_eq!(gap, jiff::SignedDuration::from_hours(24), "{next:?}");
            }
        }
    }
    assert_eq!(health(&d)["next_run"], json!(next[0]));
    let more = d.recctl(&["--json", "schedule", "--next", "8"]).ok().json();
    assert_eq!(more["next"].as_array().unwrap().len(), 8);
    let human = d.recctl(&["schedule"]).ok().stdout;
    for word in [
        "daily at 03:30",
        "30 3 * * *",
        "Europe/Madrid",
        &local[0][..16],
    ] {
        assert!(human.contains(word), "{word:?} not in:\n{human}");
    }
}

/// Pause, restart, resume, restart. Regression: the daemon answered
/// before it had read the pause back from the database, so right after a
/// restart `schedule` said "paused: false" and `schedule resume` said
/// "already running" and changed nothing (the pause then came back).
fn pause_and_resume(database: &str) {
    let sections = format!("{DAILY}{database}");
    let mut d = daemon("", &sections);
    let next_run = wait_for("the schedule's next run", Duration::from_secs(10), || {
        let h = health(&d);
        h["next_run"]
            .as_str()
            .map(str::to_owned)
            .ok_or(h.to_string())
    });
    let p = d.recctl(&["--json", "schedule", "pause"]).ok().json();
    assert_eq!(p, json!({ "paused": true, "changed": true }));
    let again = d.recctl(&["schedule", "pause"]).ok().stdout;
    assert_eq!(again.trim(), "schedule already paused");
    let s = schedule(&d);
    assert_eq!(s["paused"], true, "{s}");
    assert!(s["paused_at"].is_string(), "{s}");
    assert_eq!(s["next"], json!([]));
    wait_for("no next run while paused", Duration::from_secs(5), || {
        let h = health(&d);
        h.get("next_run")
            .is_none()
            .then_some(())
            .ok_or(h.to_string())
    });

    // Asked as soon as the daemon answers: the pause is the database's,
    // not only the last daemon's.
    restart(&mut d);
    let s = schedule(&d);
    assert_eq!(s["paused"], true, "still paused after a restart: {s}");
    assert_eq!(s["next"], json!([]));
    assert!(health(&d).get("next_run").is_none());

    restart(&mut d);
    let r = d.recctl(&["schedule", "resume"]).ok().stdout;
    assert_eq!(
        r.trim(),
        "schedule running",
        "resumed as soon as it answers"
    );
    let s = schedule(&d);
    assert_eq!(s["paused"], false, "{s}");
    assert_eq!(s["next"][0], json!(next_run), "the same daily time");
    wait_for("the next run back", Duration::from_secs(10), || {
        let h = health(&d);
        (h["next_run"] == json!(next_run))
            .then_some(())
            .ok_or(h.to_string())
    });
    let again = d.recctl(&["--json", "schedule", "resume"]).ok().json();
    assert_eq!(again, json!({ "paused": false, "changed": false }));

    // Resumed is durable too.
    restart(&mut d);
    assert_eq!(schedule(&d)["paused"], false);
}

#[test]
fn pause_and_resume_survive_a_restart() {
    pause_and_resume("");
}

#[test]
fn pause_and_resume_survive_a_restart_on_postgresql() {
    let Some(pg) = helper::pg::Postgres::start("pause_and_resume_survive_a_restart_on_postgresql")
    else {
        return;
    };
    let url = pg.new_database("schedule");
    pause_and_resume(&format!("[database]\nurl = \"{url}\"\n"));
}

/// A retrain's job id, the same after a restart; the next run's is larger.
fn job_ids_survive_a_restart(database: &str) {
    let mut d = daemon("", database);
    let first = retrain(&d, &["--epochs", "3", "--force"]);
    assert_eq!(first["state"], "published", "{first}");
    let id = first["id"].as_u64().unwrap();

    restart(&mut d);
    let latest = d.recctl(&["--json", "job"]).ok().json();
    let by_id = d.recctl(&["--json", "job", &id.to_string()]).ok().json();
    for job in [&latest, &by_id] {
        assert_eq!(job["id"], id, "{job}");
        assert_eq!(job["state"], "published", "{job}");
        assert_eq!(job["trigger"], "manual", "{job}");
        assert_eq!(job["n_epochs"], 3, "{job}");
        assert!(job["finished_at"].is_string(), "{job}");
    }
    let unknown = d.recctl(&["--json", "job", &(id + 1000).to_string()]);
    assert_eq!(unknown.code, 1);
    assert_eq!(unknown.json()["code"], "unknown_job");

    let second = retrain(&d, &["--epochs", "3", "--force"]);
    let id2 = second["id"].as_u64().unwrap();
    assert!(id2 > id, "run ids go on after a restart: {id} then {id2}");
    assert_eq!(d.recctl(&["--json", "job"]).ok().json()["id"], id2);
    assert_eq!(ids(&history(&d, &[])), [id2 as i64, id as i64]);
}

#[test]
fn job_ids_are_run_ids_and_survive_a_restart() {
    job_ids_survive_a_restart("");
}

#[test]
fn job_ids_are_run_ids_and_survive_a_restart_on_postgresql() {
    let Some(pg) =
        helper::pg::Postgres::start("job_ids_are_run_ids_and_survive_a_restart_on_postgresql")
    else {
        return;
    };
    let url = pg.new_database("runs");
    job_ids_survive_a_restart(&format!("[database]\nurl = \"{url}\"\n"));
}

/// Regression: on a fresh database, `history` and `schedule` asked before
/// the daemon's background migration had run failed with `internal` ("no
/// such table: training_runs").
#[test]
fn history_and_schedule_answer_on_a_fresh_database() {
    let d = daemon("", DAILY);
    assert!(history(&d, &[]).is_empty());
    assert_eq!(schedule(&d)["last_attempt"], Value::Null);
    assert_eq!(
        d.recctl(&["history"]).ok().stdout.trim(),
        "no training runs recorded"
    );
}

/// `job` before any run, asked before the daemon's background migration
/// has run, should say no job has run yet.
#[test]
fn job_on_a_fresh_database_is_unknown() {
    let d = daemon("", DAILY);
    let job = d.recctl(&["--json", "job"]);
    assert_eq!(job.code, 1);
    assert_eq!(job.json()["code"], "unknown_job", "{}", job.stdout);
}

mod runs;
