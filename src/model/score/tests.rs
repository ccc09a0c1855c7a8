//! Scoring: selection, the exact and integer passes, recommend and similar.

use super::top_n::SORTED_UP_TO;
use super::*;

#[test]
fn top_n_selects_best_first_with_stable_ties() {
    let s = [0.5, 3.0, f32::NEG_INFINITY, 3.0, 1.0, 2.0];
    assert_eq!(top_n(&s, 3), vec![(1, 3.0), (3, 3.0), (5, 2.0)]);
    assert_eq!(top_n(&s, 10).len(), 5);
    assert!(top_n(&s, 0).is_empty());
    assert!(top_n(&[], 5).is_empty());
}

#[test]
fn top_n_agrees_with_a_full_sort() {
    let mut rng = crate::rng::Rng::new(5);
    for case in 0..200 {
        let len = rng.below(300) as usize;
        // Few distinct values, so ties are common.
        let scores: Vec<f32> = (0..len)
            .map(|_| {
                if rng.below(10) == 0 {
                    f32::NEG_INFINITY
                } else {
                    rng.below(20) as f32 / 4.0
                }
            })
            .collect();
        let n = rng.below(2 * SORTED_UP_TO as u64) as usize;
        let mut all: Vec<(u32, f32)> = scores
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_finite())
            .map(|(i, &s)| (i as u32, s))
            .collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        all.truncate(n);
        assert_eq!(top_n(&scores, n), all, "case {case}");
    }
}

#[test]
fn the_vector_kernel_matches_the_plain_dot_product() {
    let mut rng = crate::rng::Rng::new(9);
    for rows in [0usize, 1, 3, 4, 5, 9, 130] {
        let stride = 104;
        let q: Vec<f32> = (0..rows * stride).map(|_| rng.normal() as f32).collect();
        let p: Vec<f32> = (0..stride).map(|_| rng.normal() as f32).collect();
        let mut out = vec![0f32; rows];
        dot_all(&q, stride, &p, &mut out);
        for (r, o) in out.iter().enumerate() {
            let want = crate::numeric::dot(&q[r * stride..(r + 1) * stride], &p);
            assert!((o - want).abs() < 1e-3, "row {r}: {o} vs {want}");
        }
    }
}

#[test]
fn the_integer_first_pass_changes_nothing() {
    let mut rng = crate::rng::Rng::new(11);
    for case in 0..60 {
        let stride = [8, 16, 104][case % 3];
        let n_items = 40 + rng.below(400) as usize;
        let mut items: Vec<f32> = (0..n_items * stride)
            .map(|_| (rng.normal() * 0.2) as f32)
            .collect();
        // Duplicate rows, so that exact ties are common.
        for i in (0..n_items).step_by(7).skip(1) {
            items.copy_within(0..stride, i * stride);
        }
        let biases: Vec<f32> = (0..n_items).map(|_| rng.below(3) as f32 * 0.1).collect();
        let q = QuantItems::new(&items, stride).unwrap();
        let p: Vec<f32> = (0..stride).map(|_| rng.normal() as f32).collect();
        let mut exclude: Vec<u32> = (0..n_items as u32).filter(|_| rng.below(5) == 0).collect();
        exclude.reverse(); // any order
        let score = |d: f32, b: f32| d + b;
        let plain = Items {
            matrix: &items,
            stride,
            quant: None,
        };
        let with_q = Items {
            quant: Some(&q),
            ..plain
        };
        for n in [0, 1, 3, 10, n_items / 5] {
            let exact = best_n(plain, &p, n, &exclude, &biases, score);
            let fast = best_n(with_q, &p, n, &exclude, &biases, score);
            assert_eq!(exact, fast, "case {case}, n {n}");
            if n > 0 {
                // The first pass itself, not a fallback, gave it.
                let mut s = Scratch::default();
                let u = q.user(&p).unwrap();
                (s.lo, s.hi, s.acc) =
                    (vec![0.0; n_items], vec![0.0; n_items], vec![0; q.acc_len()]);
                q.score_bounds(&u, &mut s.acc, &biases, score, &mut s.lo, &mut s.hi);
                let direct = rescore_candidates(&mut s, &with_q, &p, n, &exclude, &biases, &score);
                assert_eq!(direct.as_ref(), Some(&exact), "case {case}, n {n}");
                assert!(
                    s.candidates.len() < n_items,
                    "case {case}: no item passed over"
                );
            }
            assert_eq!(exact.len(), n);
        }
    }
}

#[test]
fn recommend_matches_brute_force_and_excludes_rated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.recd");
    crate::model::tests::write_tiny_model(&path, "v", 1.0);
    let m = Model::open(&path).unwrap();
    for user in 0..m.n_users() as u32 {
        let rated = m.rated_items(user).to_vec();
        let got = m.recommend(None, user, 10, &rated);
        assert_eq!(got.len(), m.n_items() - rated.len());
        assert!(got.iter().all(|(i, _)| !rated.contains(i)));
        for (i, s) in &got {
            assert!((s - m.predict(Some(user), Some(*i))).abs() < 1e-5);
        }
        assert!(got.windows(2).all(|w| w[0].1 >= w[1].1));
    }
    let norms = m.item_norms();
    let sim = m.similar(None, 0, 2, &norms);
    assert_eq!(sim.len(), 2);
    assert!(sim
        .iter()
        .all(|(i, s)| *i != 0 && (-1.0..=1.0001).contains(s)));
}
