//! Trainer tests on synthetic low-rank data.

use super::*;

/// Ratings r = 3 + b_u + b_i + p_u·q_i + N(0, noise²) on a random third of a
/// users x items matrix, split 90/10.
struct LowRank {
    n_users: usize,
    n_items: usize,
    train: (Vec<u32>, Vec<u32>, Vec<f32>),
    test: (Vec<u32>, Vec<u32>, Vec<f32>),
}

fn low_rank(n_users: usize, n_items: usize, rank: usize, noise: f64, seed: u64) -> LowRank {
    let mut rng = Rng::new(seed);
    let mut vecs = |n: usize| -> Vec<Vec<f64>> {
        (0..n)
            .map(|_| (0..rank).map(|_| rng.normal() * 0.5).collect())
            .collect()
    };
    let p = vecs(n_users);
    let q = vecs(n_items);
    let bu: Vec<f64> = (0..n_users).map(|_| rng.normal() * 0.3).collect();
    let bi: Vec<f64> = (0..n_items).map(|_| rng.normal() * 0.3).collect();
    let (mut train, mut test) = ((vec![], vec![], vec![]), (vec![], vec![], vec![]));
    for u in 0..n_users {
        for i in 0..n_items {
            if rng.next_f64() > 0.33 {
                continue;
            }
            let dot: f64 = (0..rank).map(|k| p[u][k] * q[i][k]).sum();
            let r = 3.0 + bu[u] + bi[i] + dot + noise * rng.normal();
            let side = if rng.next_f64() < 0.1 {
                &mut test
            } else {
                &mut train
            };
            side.0.push(u as u32);
            side.1.push(i as u32);
            side.2.push(r as f32);
        }
    }
    LowRank {
        n_users,
        n_items,
        train,
        test,
    }
}

impl LowRank {
    fn data(&mut self) -> TrainData<'_> {
        TrainData {
            n_users: self.n_users,
            n_items: self.n_items,
            users: &mut self.train.0,
            items: &mut self.train.1,
            values: &mut self.train.2,
        }
    }

    fn test_rmse(&self, f: &Factors) -> f64 {
        let (u, i, r) = &self.test;
        let se: f64 = (0..r.len())
            .map(|k| f64::from(r[k] - f.estimate(Some(u[k]), Some(i[k]))).powi(2))
            .sum();
        (se / r.len() as f64).sqrt()
    }
}

fn params(threads: usize) -> Params {
    Params {
        n_factors: 8,
        n_epochs: 60,
        lr_all: 0.01,
        reg_all: 0.02,
        init_std_dev: 0.1,
        threads,
        seed: 3,
        ..Params::default()
    }
}

fn fit(data: TrainData<'_>, p: &Params) -> Factors {
    train(data, p, &AtomicBool::new(false), &mut |_| {}).unwrap()
}

#[test]
fn recovers_a_low_rank_matrix_to_near_its_noise_level() {
    let noise = 0.3;
    let mut lr = low_rank(400, 300, 4, noise, 11);
    for threads in [1, 2, 3] {
        let f = fit(lr.data(), &params(threads));
        let rmse = lr.test_rmse(&f);
        assert!(
            rmse < noise * 1.2,
            "{threads} threads: holdout RMSE {rmse:.4} vs noise {noise}"
        );
    }
    // Against the mean alone the model must have learned something real.
    let mean = lr.train.2.iter().sum::<f32>() / lr.train.2.len() as f32;
    let base = (lr
        .test
        .2
        .iter()
        .map(|r| f64::from(r - mean).powi(2))
        .sum::<f64>()
        / lr.test.2.len() as f64)
        .sqrt();
    assert!(
        base > 2.0 * noise,
        "the baseline {base} should be far above the noise"
    );
}

#[test]
fn one_thread_and_a_seed_give_identical_models() {
    let mut lr = low_rank(100, 80, 3, 0.3, 5);
    let p = Params {
        n_epochs: 5,
        ..params(1)
    };
    assert_eq!(fit(lr.data(), &p), fit(lr.data(), &p));
    let other = fit(
        lr.data(),
        &Params {
            seed: 4,
            ..p.clone()
        },
    );
    assert_ne!(fit(lr.data(), &p), other);
}

#[test]
fn stratified_threads_are_deterministic_too() {
    let mut lr = low_rank(100, 80, 3, 0.3, 5);
    let p = Params {
        n_epochs: 5,
        ..params(2)
    };
    assert_eq!(fit(lr.data(), &p), fit(lr.data(), &p));
}

/// Training reorders the caller's arrays in place: afterwards they hold the
/// same ratings under the same dense indices, and the same ratings in any
/// order train the same model.
#[test]
fn training_keeps_the_ratings_and_ignores_their_order() {
    let mut lr = low_rank(60, 50, 3, 0.3, 8);
    let p = Params {
        n_epochs: 3,
        ..params(3)
    };
    let sorted = |t: &(Vec<u32>, Vec<u32>, Vec<f32>)| {
        let mut v: Vec<_> = (0..t.0.len())
            .map(|k| (t.0[k], t.1[k], t.2[k].to_bits()))
            .collect();
        v.sort_unstable();
        v
    };
    let before = sorted(&lr.train);
    let first = fit(lr.data(), &p);
    assert_eq!(sorted(&lr.train), before);
    let mut rng = Rng::new(1);
    let n = lr.train.0.len();
    for k in (1..n).rev() {
        let j = rng.below(k as u64 + 1) as usize;
        lr.train.0.swap(k, j);
        lr.train.1.swap(k, j);
        lr.train.2.swap(k, j);
    }
    assert_eq!(fit(lr.data(), &p), first);
}

#[test]
fn portable_and_vector_kernels_agree() {
    // One vector a row, and three (20 factors pad to 24), as at 100.
    for n_factors in [8, 20] {
        let mut lr = low_rank(300, 200, 4, 0.3, 8);
        let p = Params {
            n_factors,
            ..params(2)
        };
        let stop = AtomicBool::new(false);
        let portable = train_with(Kernel::Portable, lr.data(), &p, &stop, &mut |_| {}).unwrap();
        let best = train_with(Kernel::detect(), lr.data(), &p, &stop, &mut |_| {}).unwrap();
        let (a, b) = (lr.test_rmse(&portable), lr.test_rmse(&best));
        assert!(
            (a - b).abs() < 0.002,
            "{n_factors} factors: portable {a:.4} vs detected {b:.4}"
        );
    }
}

#[test]
fn a_repeated_pair_trains_as_in_the_portable_kernel() {
    // One user who rated one movie twice (a ratings file may repeat a
    // pair): the vector kernel holds each update back one rating, and the
    // second rating's prediction must still see the first's update.
    let (mut users, mut items, mut values) = (vec![0u32, 0], vec![0u32, 0], vec![5.0f32, 1.0]);
    let mut fit = |kernel| {
        let data = TrainData {
            n_users: 1,
            n_items: 1,
            users: &mut users,
            items: &mut items,
            values: &mut values,
        };
        let p = Params {
            n_factors: 16,
            n_epochs: 3,
            lr_all: 0.2,
            ..params(1)
        };
        train_with(kernel, data, &p, &AtomicBool::new(false), &mut |_| {}).unwrap()
    };
    let (portable, best) = (fit(Kernel::Portable), fit(Kernel::detect()));
    for (x, y) in portable.user_factors.iter().zip(&best.user_factors) {
        assert!((x - y).abs() < 1e-4, "portable {x} vs detected {y}");
    }
    assert!((portable.user_bias[0] - best.user_bias[0]).abs() < 1e-4);
}

#[test]
fn padding_stays_zero_and_rows_have_the_stride() {
    let mut lr = low_rank(50, 40, 3, 0.3, 2);
    let f = fit(
        lr.data(),
        &Params {
            n_factors: 5,
            ..params(2)
        },
    );
    assert_eq!(f.stride, 8);
    assert_eq!(f.user_factors.len(), 50 * 8);
    for row in f.user_factors.chunks(8).chain(f.item_factors.chunks(8)) {
        assert_eq!(&row[5..], &[0.0; 3]);
    }
}

#[test]
fn reports_every_epoch_and_the_error_falls() {
    let mut lr = low_rank(200, 100, 3, 0.3, 9);
    let mut seen = Vec::new();
    train(lr.data(), &params(2), &AtomicBool::new(false), &mut |e| {
        seen.push(*e)
    })
    .unwrap();
    assert_eq!(seen.len(), 60);
    assert_eq!(seen.last().unwrap().epoch, 60);
    assert!(seen.last().unwrap().train_rmse < seen[0].train_rmse * 0.6);
}

#[test]
fn cancellation_stops_training() {
    let mut lr = low_rank(50, 40, 3, 0.3, 2);
    let stop = AtomicBool::new(true);
    assert_eq!(
        train(lr.data(), &params(2), &stop, &mut |_| {}),
        Err(Cancelled)
    );
}

#[test]
fn more_threads_than_users_and_no_ratings_do_not_panic() {
    let mut lr = low_rank(3, 2, 1, 0.1, 1);
    fit(lr.data(), &params(16));
    let empty = TrainData {
        n_users: 4,
        n_items: 3,
        users: &mut [],
        items: &mut [],
        values: &mut [],
    };
    let f = fit(empty, &params(2));
    assert_eq!(f.global_mean, 0.0);
    assert_eq!(f.n_users(), 4);
}
