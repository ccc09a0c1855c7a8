use super::*;

/// Ratings of a rank-2 model with noise: (users, items, values).
fn synthetic(
    nu: u32,
    ni: u32,
    per_user: u32,
    noise: f64,
    seed: u64,
) -> (Vec<u32>, Vec<u32>, Vec<f32>) {
    let mut rng = Rng::new(seed);
    let p: Vec<[f64; 2]> = (0..nu).map(|_| [rng.normal(), rng.normal()]).collect();
    let q: Vec<[f64; 2]> = (0..ni).map(|_| [rng.normal(), rng.normal()]).collect();
    let (mut us, mut is, mut vs) = (vec![], vec![], vec![]);
    for u in 0..nu {
        let mut items: Vec<u32> = (0..ni).collect();
        rng.shuffle(&mut items);
        for &i in &items[..per_user as usize] {
            let pu = p[u as usize];
            let qi = q[i as usize];
            let v =
                3.0 + 0.3 * pu[0] + 0.6 * (pu[0] * qi[0] + pu[1] * qi[1]) + noise * rng.normal();
            us.push(u);
            is.push(i);
            vs.push(v as f32);
        }
    }
    (us, is, vs)
}

fn data<'a>(nu: u32, ni: u32, r: &'a mut (Vec<u32>, Vec<u32>, Vec<f32>)) -> TrainData<'a> {
    TrainData {
        n_users: nu as usize,
        n_items: ni as usize,
        users: &mut r.0,
        items: &mut r.1,
        values: &mut r.2,
    }
}

#[test]
fn incremental_caches_and_residuals_match_a_fresh_computation() {
    let mut r = synthetic(40, 30, 12, 0.3, 3);
    for threads in [1, 3] {
        let mut s = Sampler::new(
            data(40, 30, &mut r),
            &Settings {
                threads,
                ..settings(1)
            },
        );
        let never = AtomicBool::new(false);
        for sweep in 1..=2 {
            s.sweep(sweep, &never).unwrap();
        }
        s.settle();
        let (lin, q, qs) = (s.user.lin.clone(), s.user.q.clone(), s.user.qs.clone());
        let (lin_i, q_i) = (s.item.lin.clone(), s.item.q.clone());
        s.user.refresh();
        s.item.refresh();
        let close = |a: &[f64], b: &[f64], what: &str| {
            for (k, (x, y)) in a.iter().zip(b).enumerate() {
                assert!(
                    (x - y).abs() < 1e-9,
                    "{what}[{k}]: {x} incrementally, {y} afresh"
                );
            }
        };
        close(&lin, &s.user.lin, "lin");
        close(&q, &s.user.q, "q");
        close(&qs, &s.user.qs, "qs");
        close(&lin_i, &s.item.lin, "item lin");
        close(&q_i, &s.item.q, "item q");
        let mut fresh = vec![0.0; s.e.len()];
        s.cases.residuals(
            s.w0,
            &s.user.own_terms(),
            &s.item.own_terms(),
            (&s.user.row_major_q(), &s.item.row_major_q(), s.user.rank),
            &mut fresh,
            &mut vec![(0.0, 0.0); 40],
        );
        close(&s.e, &fresh, "e");
    }
}

fn settings(seed: u64) -> Settings {
    Settings {
        rank: 4,
        sweeps: 60,
        burn_in: 10,
        init_std_dev: 0.1,
        seed,
        threads: 2,
    }
}

fn rmse(pred: impl Iterator<Item = f64>, truth: &[f32]) -> f64 {
    let se: f64 = pred
        .zip(truth)
        .map(|(p, &t)| (p - f64::from(t)).powi(2))
        .sum();
    (se / truth.len() as f64).sqrt()
}

#[test]
fn the_posterior_recovers_a_low_rank_model_and_exports_it_as_a_dot_product() {
    let (nu, ni) = (300, 200);
    let all = synthetic(nu, ni, 60, 0.25, 11);
    // Every fifth rating is held out.
    let (mut train, mut test) = ((vec![], vec![], vec![]), (vec![], vec![], vec![]));
    for k in 0..all.2.len() {
        let side = if k % 5 == 0 { &mut test } else { &mut train };
        side.0.push(all.0[k]);
        side.1.push(all.1[k]);
        side.2.push(all.2[k]);
    }
    let probe = Probe {
        users: &test.0,
        items: &test.1,
    };
    let never = AtomicBool::new(false);
    let mut sweeps = 0;
    let post = fit(
        data(nu, ni, &mut train),
        probe,
        &settings(1),
        &never,
        &mut |_| sweeps += 1,
    )
    .unwrap();
    assert_eq!((sweeps, post.kept), (60, 50));
    let mean: f64 = train.2.iter().map(|&v| f64::from(v)).sum::<f64>() / train.2.len() as f64;
    let baseline = rmse(test.2.iter().map(|_| mean), &test.2);
    let sampled = rmse(post.sampled.predictions.iter().copied(), &test.2);
    let exported = rmse(
        test.0
            .iter()
            .zip(&test.1)
            .map(|(&u, &i)| f64::from(post.factors.estimate(Some(u), Some(i)))),
        &test.2,
    );
    assert!(baseline > 0.6, "baseline {baseline}");
    assert!(
        sampled < 0.32,
        "predictive mean RMSE {sampled} (noise 0.25, baseline {baseline})"
    );
    assert!(
        (exported - sampled).abs() < 0.01,
        "exported {exported} vs predictive mean {sampled}"
    );
    assert!(post
        .sampled
        .spread
        .iter()
        .all(|s| s.is_finite() && *s > 0.0));
}

#[test]
fn a_seed_and_a_thread_count_fix_the_posterior() {
    let mut all = synthetic(50, 40, 10, 0.3, 2);
    let never = AtomicBool::new(false);
    let mut run = |seed, threads| {
        let mut s = settings(seed);
        s.sweeps = 5;
        s.burn_in = 2;
        s.threads = threads;
        fit(
            data(50, 40, &mut all),
            Probe::default(),
            &s,
            &never,
            &mut |_| {},
        )
        .unwrap()
        .factors
    };
    assert_eq!(run(1, 1), run(1, 1));
    assert_eq!(run(1, 3), run(1, 3));
    assert_ne!(run(1, 1), run(2, 1));
}

#[test]
fn a_cancelled_fit_stops() {
    let mut all = synthetic(20, 20, 5, 0.3, 2);
    let cancel = AtomicBool::new(true);
    let got = fit(
        data(20, 20, &mut all),
        Probe::default(),
        &settings(1),
        &cancel,
        &mut |_| {},
    );
    assert_eq!(got.unwrap_err(), Cancelled);
}
