//! How long a retrain takes to read N ratings out of the ratings database:
//! `recd train --epochs 1` on the ML-1M shape with N database ratings, its
//! "load database ratings" step, on SQLite (a file) and on PostgreSQL (a
//! private server, when its binaries are installed).

use std::path::Path;

use crate::common::run::TrainRun;

#[path = "../../tests/it/helper/pg.rs"]
#[allow(dead_code)]
mod pg;

/// N distinct ratings: 50 movies for each of N / 50 users.
const ROWS: &str = "SELECT 'user' || (x / 50), 1 + ((x % 50) * 73 + x / 50) % 3706, \
                    1 + (x % 5), 1700000000 + x";

pub fn bench(root: &Path, base: &Path, sizes: &[u64]) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    println!();
    println!("Database ratings read for a retrain (`recd train --epochs 1` on the ML-1M shape plus N database ratings)");
    println!();
    println!("| database | ratings | read s | M ratings/s | total s | peak RSS MiB |");
    println!("|---|---|---|---|---|---|");
    for &n in sizes {
        let dir = root.join(format!("db-sqlite-{n}"));
        let file = dir.join("recd.db");
        if !file.exists() {
            std::fs::create_dir_all(&dir).expect("db dir");
            let url = format!("sqlite:{}", file.display());
            runtime.block_on(fill(
                &url,
                n,
                "WITH RECURSIVE c(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM c WHERE x < $1 - 1) ",
            ));
        }
        row(
            "SQLite",
            n,
            train(root, base, &format!("sqlite:{}", file.display())),
        );
    }
    let Some(server) = pg::Postgres::start("the scale bench's PostgreSQL half") else {
        return;
    };
    for &n in sizes {
        let url = server.new_database(&format!("ratings_{n}"));
        runtime.block_on(fill(&url, n, ""));
        row("PostgreSQL", n, train(root, base, &url));
    }
}

fn row(database: &str, n: u64, r: TrainRun) {
    let read = r.step("load database ratings");
    println!(
        "| {database} | {n} | {read:.2} | {:.2} | {:.2} | {:.0} |",
        n as f64 / read / 1e6,
        r.wall,
        r.peak_mib
    );
}

/// The database at `url` with recd's schema and `n` ratings.
async fn fill(url: &str, n: u64, with: &str) {
    let target = match url.strip_prefix("sqlite:") {
        Some(path) => recd::store::Target::Sqlite(path.into()),
        None => recd::store::Target::Postgres(url.to_owned()),
    };
    let options = recd::store::Options {
        max_connections: 1,
        busy_timeout: std::time::Duration::from_secs(30),
    };
    let store = recd::store::Store::open(&target, options)
        .await
        .expect("opens");
    drop(store);
    let sql = format!(
        "INSERT INTO ratings (user_id, movie_id, rating, rated_at) {with}{ROWS} FROM {}",
        if with.is_empty() {
            "generate_series(0, $1 - 1) AS x"
        } else {
            "c"
        }
    );
    let started = std::time::Instant::now();
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.expect("sqlite");
        sqlx::query(&sql)
            .bind(n as i64)
            .execute(&pool)
            .await
            .expect("fill");
    } else {
        let pool = sqlx::PgPool::connect(url).await.expect("postgres");
        sqlx::query(&sql)
            .bind(n as i64)
            .execute(&pool)
            .await
            .expect("fill");
    }
    eprintln!(
        "{url}: {n} ratings written in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

fn train(root: &Path, base: &Path, url: &str) -> TrainRun {
    let config = format!("[database]\nurl = \"{url}\"\n");
    let args = ["--algorithm", "svd", "--epochs", "1"];
    crate::common::run::train(&root.join("db-state"), &config, base, &args)
}
