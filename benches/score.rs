//! In-process scoring on the split90 model: microseconds per `recommend`
//! (n = 10, rated items left out) and per `similar`, scoring every item
//! exactly against the 8-bit first pass with exact rescoring of its
//! candidates, interleaved, medians of the rounds.
//!
//! `cargo bench --bench score [-- --rounds N]`; the data come from
//! `$RECD_DATASETS` (default `../shared/datasets`).

mod common;

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use common::median;
use recd::model::quant::{self, QuantItems};
use recd::model::Model;
use recd::numeric::Params;
use recd::train::sgd;

const CALLS: usize = 20_000;

fn main() {
    let rounds = common::option("--rounds", 7usize);
    let Some(common::Split { mut train, .. }) = common::split90() else {
        return;
    };
    let params = Params::default();
    let f = sgd::train(
        train.train_data(),
        &params,
        &AtomicBool::new(false),
        &mut |_| {},
    )
    .expect("not cancelled");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("split90.recd");
    common::write_model(&train, &params, &f, &path);
    let m = Model::open(&path).expect("opens");

    let start = Instant::now();
    let q = QuantItems::new(m.item_factor_matrix(), m.stride()).expect("finite factors");
    let build_ms = start.elapsed().as_secs_f64() * 1e3;
    let norms = m.item_norms();
    println!(
        "split90 model: {} users, {} items, {} factors (stride {}); 8-bit copy built in {build_ms:.2} ms",
        m.n_users(),
        m.n_items(),
        m.n_factors(),
        m.stride()
    );
    if !quant::supported() {
        println!("this CPU has no AVX-512 VNNI: the daemon scores exactly; the first pass below runs its portable code");
    }

    let mut rng = recd::rng::Rng::new(1);
    let users: Vec<u32> = (0..CALLS)
        .map(|_| rng.below(m.n_users() as u64) as u32)
        .collect();
    let items: Vec<u32> = (0..CALLS)
        .map(|_| rng.below(m.n_items() as u64) as u32)
        .collect();
    let mut times: [Vec<f64>; 4] = Default::default();
    let per_call = |f: &mut dyn FnMut(usize)| {
        let start = Instant::now();
        for k in 0..CALLS {
            f(k);
        }
        start.elapsed().as_secs_f64() * 1e6 / CALLS as f64
    };
    for _ in 0..rounds {
        for (slot, quant) in [(0, None), (1, Some(&q))] {
            times[slot].push(per_call(&mut |k| {
                let u = users[k];
                std::hint::black_box(m.recommend(quant, u, 10, m.rated_items(u)));
            }));
            times[slot + 2].push(per_call(&mut |k| {
                std::hint::black_box(m.similar(quant, items[k], 10, &norms));
            }));
        }
    }
    println!("\n| call (n = 10) | exact µs | 8-bit first pass µs | ratio |");
    println!("|---|---|---|---|");
    for (name, a, b) in [("recommend", 0, 1), ("similar", 2, 3)] {
        let (e, f) = (median(&mut times[a]), median(&mut times[b]));
        println!("| {name} | {e:.2} | {f:.2} | {:.2} |", f / e);
    }
    println!("\n{rounds} rounds of {CALLS} calls each, random users and movies; medians");
}
