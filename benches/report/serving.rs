//! The daemon as applications meet it: `recommend` latency against the
//! offered load (`recctl bench` on the split90 model), and the time a
//! `reload` takes (read, verify, swap) against the model's size.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::run;
use crate::common::shapes::Shape;
use crate::common::{datasets_root, median};
use crate::plot::{Chart, Series};
use crate::Report;

/// Offered loads, requests a second; 0 is the closed loop.
const RATES: [u32; 7] = [5_000, 10_000, 20_000, 30_000, 40_000, 50_000, 0];
const CONNECTIONS: &str = "32";
const SECONDS: &str = "3";
const RELOADS: usize = 7;

/// The real daemon on a private config, stopped when dropped.
struct Daemon {
    child: Child,
    socket: PathBuf,
}

impl Daemon {
    fn start(dir: &Path, dataset: &Path, models: &Path) -> Daemon {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).expect("daemon dir");
        let socket = dir.join("recd.sock");
        let config = dir.join("recd.toml");
        let text = format!(
            "[paths]\ndataset = \"{}\"\ndataset_url = \"\"\nmodels_dir = \"{}\"\n\
             state_dir = \"{}\"\n[daemon]\nsocket = \"{}\"\nadmin_group = \"\"\n\
             [logging]\ndir = \"{}\"\nlevel = \"warn\"\n",
            dataset.display(),
            models.display(),
            dir.join("state").display(),
            socket.display(),
            dir.join("logs").display(),
        );
        std::fs::write(&config, text).expect("daemon config");
        let child = Command::new(env!("CARGO_BIN_EXE_recd"))
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("recd starts");
        let d = Daemon { child, socket };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let health = d.call("health").ok();
            let stats = d.call("stats").ok();
            let ready = health.is_some_and(|h| h["result"]["status"] == "ok")
                && stats.is_some_and(|s| s["result"]["database"]["available"] == true);
            if ready {
                return d;
            }
            assert!(
                Instant::now() < deadline,
                "the daemon in {} never became ready",
                dir.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// One request on a connection of its own; its reply.
    fn call(&self, method: &str) -> std::io::Result<serde_json::Value> {
        let mut s = UnixStream::connect(&self.socket)?;
        s.set_read_timeout(Some(Duration::from_secs(120)))?;
        writeln!(s, "{{\"id\":1,\"method\":\"{method}\"}}")?;
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line)?;
        serde_json::from_str(&line).map_err(std::io::Error::other)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}

/// `shapes`: each shape, its set and the models directory of its `svd`
/// model.
pub fn run(report: &mut Report, root: &Path, shapes: &[(Shape, PathBuf, PathBuf)]) {
    let Some((data, split90)) = split90_model(root) else {
        report.section(
            "Serving",
            "Not measured: no split90 set (set RECD_DATASETS).",
        );
        return;
    };
    latency(report, root, &data, &split90);
    let mut models = vec![("split90".to_string(), data, split90)];
    for (shape, data, dir) in shapes {
        models.push((shape.name.to_string(), data.clone(), dir.clone()));
    }
    reloads(report, root, &models);
}

/// The split90 set as a dataset directory, and its model, trained by `recd
/// train` into `root/split90-model`; None without the set.
fn split90_model(root: &Path) -> Option<(PathBuf, PathBuf)> {
    let split = datasets_root().join("ml-1m-part");
    if !split.join("split90/train.dat").is_file() {
        return None;
    }
    let data = root.join("split90-data");
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).expect("split90 data dir");
    for (from, to) in [
        ("split90/train.dat", "ratings.dat"),
        ("movies.dat", "movies.dat"),
    ] {
        std::os::unix::fs::symlink(split.join(from), data.join(to))
            .expect("link the split90 files");
    }
    let state = root.join("split90-state");
    run::train(&state, "", &data, &["--no-database", "--algorithm", "svd"]);
    let kept = root.join("split90-model");
    let _ = std::fs::remove_dir_all(&kept);
    std::fs::rename(state.join("models"), &kept).expect("keep the model");
    Some((data, kept))
}

#[derive(Default)]
struct Load {
    throughput: Vec<f64>,
    p50: Vec<f64>,
    p99: Vec<f64>,
    max: Vec<f64>,
}

fn latency(report: &mut Report, root: &Path, data: &Path, models: &Path) {
    let daemon = Daemon::start(&root.join("daemon-latency"), data, models);
    let recctl = Path::new(env!("CARGO_BIN_EXE_recctl"));
    let socket = daemon.socket.to_str().expect("a UTF-8 path").to_owned();
    let mut loads: Vec<Load> = RATES.iter().map(|_| Load::default()).collect();
    for _ in 0..3 {
        for (rate, load) in RATES.iter().zip(&mut loads) {
            let rate = rate.to_string();
            let args = [
                "--socket",
                &socket,
                "--json",
                "bench",
                "-c",
                CONNECTIONS,
                "-d",
                SECONDS,
                "-r",
                &rate,
            ];
            let ran = run::process(recctl, &args);
            let j: serde_json::Value = serde_json::from_str(&ran.stdout).expect("bench's JSON");
            let m = &j["methods"][0];
            let f = |k: &str| m[k].as_f64().unwrap_or(f64::NAN);
            load.throughput.push(f("throughput_per_s"));
            load.p50.push(f("p50_us"));
            load.p99.push(f("p99_us"));
            load.max.push(f("max_us"));
        }
    }
    drop(daemon);
    report.section(
        "`recommend` latency against offered load",
        &format!(
            "The daemon serving the split90 model (100 factors), the load generator on the \
             same machine: `recctl bench -c {CONNECTIONS} -d {SECONDS} -r RATE`, `recommend` \
             with n = 10 for random users of the model. Paced runs send on fixed schedules \
             adding up to RATE; the closed loop (RATE 0) sends each connection's next \
             request when its reply arrives, so its latency is mostly queueing. Latency \
             runs from a request's send to its reply. Three runs of each, interleaved; \
             medians."
        ),
    );
    let mut rows = Vec::new();
    // Paced: p50, p99, max; the closed loop: the same, apart.
    let mut series: Vec<Series> = [
        "p50",
        "p99",
        "max",
        "closed loop p50",
        "closed loop p99",
        "closed loop max",
    ]
    .into_iter()
    .map(|name| Series::new(name, Vec::new()))
    .collect();
    for (rate, l) in RATES.iter().zip(&mut loads) {
        let t = median(&mut l.throughput);
        let (a, b, c) = (median(&mut l.p50), median(&mut l.p99), median(&mut l.max));
        let first = if *rate == 0 { 3 } else { 0 };
        for (k, y) in [a, b, c].into_iter().enumerate() {
            series[first + k].points.push((t, y));
        }
        let offered = if *rate == 0 {
            "closed loop".to_string()
        } else {
            rate.to_string()
        };
        rows.push(vec![
            offered,
            format!("{t:.0}"),
            format!("{a:.0}"),
            format!("{b:.0}"),
            format!("{c:.0}"),
        ]);
    }
    report.table(
        &[
            "offered req/s",
            "served req/s",
            "p50 µs",
            "p99 µs",
            "max µs",
        ],
        &rows,
    );
    let chart = Chart {
        title: "recommend latency against load",
        x: "requests per second served",
        y: "latency, µs",
        log_x: false,
        log_y: true,
    };
    report.chart("recommend-latency", &chart, &series);
}

fn reloads(report: &mut Report, root: &Path, models: &[(String, PathBuf, PathBuf)]) {
    let mut rows = Vec::new();
    let mut points = Vec::new();
    for (name, dataset, dir) in models {
        let bytes = std::fs::metadata(dir.join("current")).map_or(0, |m| m.len());
        let daemon = Daemon::start(&root.join(format!("daemon-reload-{name}")), dataset, dir);
        let mut times: Vec<f64> = (0..RELOADS)
            .map(|_| {
                let start = Instant::now();
                let reply = daemon.call("reload").expect("reload answers");
                assert!(reply.get("result").is_some(), "reload failed: {reply}");
                start.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        drop(daemon);
        let slowest = times.iter().copied().fold(0.0, f64::max);
        let m = median(&mut times);
        let mib = bytes as f64 / 1048576.0;
        points.push((mib, m));
        rows.push(vec![
            name.clone(),
            format!("{mib:.1}"),
            format!("{m:.1}"),
            format!("{slowest:.1}"),
        ]);
    }
    report.section(
        "Reload time against model size",
        &format!(
            "The `reload` method (what SIGHUP does): open the model `current` names, read \
             and verify its checksum, swap it in; from the request's send to its reply, \
             on an idle daemon, {RELOADS} times for each model (the split90 model and \
             the `svd` models trained above); median and slowest."
        ),
    );
    report.table(&["model", "size MiB", "median ms", "slowest ms"], &rows);
    let chart = Chart {
        title: "Reload time against model size",
        x: "model file, MiB",
        y: "reload, ms",
        log_x: true,
        log_y: true,
    };
    report.chart(
        "reload-time",
        &chart,
        &[Series::new("reload (median)", points)],
    );
}
