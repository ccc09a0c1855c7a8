//! The server in this process, on a real Unix socket in a temp dir, with
//! no binary: the state built from a config, `server::run` given its
//! listener and shutdown token, and the typed client speaking to it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use recd::client::{CallError, Client};
use recd::config::Config;
use recd::lifecycle::State;
use recd::notify::Notifier;
use recd::protocol::{
    self as p, ErrorCode, Health, HealthStatus, RateParams, RecommendParams, Request, StrategyName,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

/// A config for `dir`: its dataset, models, database and socket there.
fn config(dir: &Path, daemon_keys: &str) -> Config {
    let path = dir.join("recd.toml");
    std::fs::write(
        &path,
        format!(
            "[paths]\ndataset = \"data\"\ndataset_url = \"\"\nmodels_dir = \"models\"\nstate_dir = \"state\"\n\
             [training]\nn_factors = 8\nn_epochs = 10\nthreads = 2\n\
             [daemon]\nsocket = \"recd.sock\"\nadmin_group = \"\"\n{daemon_keys}\n\
             [logging]\ndir = \"logs\"\n"
        ),
    )
    .unwrap();
    Config::load(&path).unwrap()
}

/// A synthetic dataset and a model trained on it, through the library.
fn trained(dir: &Path) -> Config {
    let shape = recd::train::synth::Shape {
        users: 200,
        items: 100,
        ratings: 8000,
        seed: 5,
    };
    recd::train::synth::generate(&shape, &dir.join("data"), 2).unwrap();
    let cfg = config(dir, "");
    let opts = recd::train::pipeline::Options::from_config(&cfg);
    let never = std::sync::atomic::AtomicBool::new(false);
    let outcome = recd::train::pipeline::run(&opts, &never, &mut |_| {}).unwrap();
    assert!(outcome.published);
    cfg
}

/// Serve `state` on a socket in `dir`; the server's task ends when
/// `shutdown` is cancelled.
fn serve(
    dir: &Path,
    state: &Arc<State>,
    shutdown: &CancellationToken,
) -> (std::path::PathBuf, tokio::task::JoinHandle<()>) {
    let socket = dir.join("recd.sock");
    let listener = tokio::net::UnixListener::bind(&socket).unwrap();
    let server = tokio::spawn(recd::server::run(listener, shutdown.clone(), state.clone()));
    (socket, server)
}

/// Run blocking client calls off the runtime.
async fn client<T: Send + 'static>(
    socket: &Path,
    f: impl FnOnce(&mut Client) -> T + Send + 'static,
) -> T {
    let socket = socket.to_owned();
    tokio::task::spawn_blocking(move || f(&mut Client::connect(&socket).unwrap()))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_answers_typed_requests_and_counts_every_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = trained(dir.path());
    let shutdown = CancellationToken::new();
    let state = State::new(cfg, Notifier::disabled(), shutdown.clone()).unwrap();
    assert_eq!(
        state.start().await,
        format!("serving model {}", state.served().unwrap().version())
    );
    let (socket, server) = serve(dir.path(), &state, &shutdown);

    let replies = client(&socket, |c| {
        let health: Health = c.call(&Request::Health).unwrap();
        let rec: p::Recommended = c
            .call(&Request::Recommend(RecommendParams {
                user: "ml:3".into(),
                n: 5,
            }))
            .unwrap();
        // Wait for the database (reached in the background at start).
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !c
            .call::<p::Stats>(&Request::Stats)
            .unwrap()
            .database
            .available
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the database never came up"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // One of each code the old counters forgot.
        let bad_rating = c.call::<p::Rated>(&Request::Rate(RateParams {
            user: "app-1".into(),
            movie: 1,
            rating: 9.0,
        }));
        let bad_user = c.call::<p::Rated>(&Request::Rate(RateParams {
            user: "ml:1".into(),
            movie: 1,
            rating: 3.0,
        }));
        let stats: p::Stats = c.call(&Request::Stats).unwrap();
        (health, rec, bad_rating, bad_user, stats)
    })
    .await;
    let (health, rec, bad_rating, bad_user, stats) = replies;
    assert_eq!(health.status, HealthStatus::Ok);
    assert_eq!(health.model.unwrap().details.dataset_users, Some(200));
    assert_eq!(rec.strategy, StrategyName::Model);
    assert_eq!(rec.items.len(), 5);
    let code = |r: Result<p::Rated, CallError>| r.unwrap_err().code().unwrap();
    assert_eq!(code(bad_rating), ErrorCode::InvalidRating);
    assert_eq!(code(bad_user), ErrorCode::InvalidUser);
    assert_eq!(
        stats.errors.get("invalid_rating"),
        Some(&1),
        "{:?}",
        stats.errors
    );
    assert_eq!(
        stats.errors.get("invalid_user"),
        Some(&1),
        "{:?}",
        stats.errors
    );
    assert_eq!(stats.requests.by_method["rate"], 2);

    // Shutdown ends the accept loop and the server's task.
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops on shutdown")
        .unwrap();
}

/// The idle timeout on tokio's paused clock: a minute passes at once.
#[tokio::test(start_paused = true)]
async fn an_idle_connection_is_closed_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "idle_timeout_secs = 60");
    let shutdown = CancellationToken::new();
    let state = State::new(cfg, Notifier::disabled(), shutdown.clone()).unwrap();
    let (socket, server) = serve(dir.path(), &state, &shutdown);

    let stream = tokio::net::UnixStream::connect(&socket).await.unwrap();
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    wr.write_all(b"{\"id\":1,\"method\":\"health\"}\n")
        .await
        .unwrap();
    let mut line = String::new();
    rd.read_line(&mut line).await.unwrap();
    assert!(line.contains("\"no_model\""), "{line}");
    // A bad `n` is named before the missing model is.
    wr.write_all(b"{\"id\":2,\"method\":\"recommend\",\"params\":{\"user\":\"a\",\"n\":0}}\n")
        .await
        .unwrap();
    line.clear();
    rd.read_line(&mut line).await.unwrap();
    assert!(line.contains("\"invalid_params\""), "{line}");
    let started = tokio::time::Instant::now();
    line.clear();
    assert_eq!(rd.read_line(&mut line).await.unwrap(), 0, "end of file");
    let idle = started.elapsed();
    assert!(
        idle >= Duration::from_secs(60) && idle < Duration::from_secs(61),
        "closed after {idle:?}"
    );
    shutdown.cancel();
    server.await.unwrap();
}
