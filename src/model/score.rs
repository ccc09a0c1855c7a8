//! Scoring on a model: top-N recommendations and item-item similarity.
//!
//! Both score every item with one pass of dot products over the item factor
//! matrix (vectorised: an AVX2 build of the same loop where the CPU has it)
//! and keep the best N by partial selection, never a full sort.

use super::Model;

/// `out[i] = q_i · p` for every item row of `q` (rows `stride` long).
fn dot_all(q: &[f32], stride: usize, p: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        unsafe { dot_all_avx2(q, stride, p, out) };
        return;
    }
    dot_all_portable(q, stride, p, out);
}

#[inline(always)]
fn dot_all_portable(q: &[f32], stride: usize, p: &[f32], out: &mut [f32]) {
    for (row, o) in q.chunks_exact(stride).zip(out.iter_mut()) {
        *o = crate::train::sgd::dot(row, p);
    }
}

/// The same loop, compiled with AVX2 so the compiler vectorises it 8 wide.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dot_all_avx2(q: &[f32], stride: usize, p: &[f32], out: &mut [f32]) {
    dot_all_portable(q, stride, p, out)
}

/// The `n` best `(item, score)` pairs, best first; ties go to the lower index.
fn top_n(scores: &[f32], n: usize) -> Vec<(u32, f32)> {
    let mut idx: Vec<u32> = (0..scores.len() as u32)
        .filter(|&i| scores[i as usize].is_finite())
        .collect();
    let better = |a: &u32, b: &u32| {
        scores[*b as usize]
            .total_cmp(&scores[*a as usize])
            .then(a.cmp(b))
    };
    if idx.len() > n && n > 0 {
        idx.select_nth_unstable_by(n - 1, better);
        idx.truncate(n);
    }
    idx.truncate(n);
    idx.sort_unstable_by(better);
    idx.into_iter().map(|i| (i, scores[i as usize])).collect()
}

impl Model {
    /// The `n` items with the highest predicted rating for `user`, leaving
    /// out `exclude` (the items they rated, ascending). Scores are predicted
    /// ratings, clipped to the scale; ranking uses the unclipped estimate.
    pub fn recommend(&self, user: u32, n: usize, exclude: &[u32]) -> Vec<(u32, f32)> {
        let mut scores = vec![0f32; self.n_items()];
        dot_all(
            self.item_factor_matrix(),
            self.stride(),
            self.user_factors(user),
            &mut scores,
        );
        let base = self.global_mean() + self.user_bias(user);
        for (i, s) in scores.iter_mut().enumerate() {
            *s += base + self.item_bias(i as u32);
        }
        for &i in exclude {
            if let Some(s) = scores.get_mut(i as usize) {
                *s = f32::NEG_INFINITY;
            }
        }
        let scale = self.scale();
        top_n(&scores, n)
            .into_iter()
            .map(|(i, s)| (i, scale.clip(s)))
            .collect()
    }

    /// The `n` items whose factor vectors have the highest cosine similarity
    /// with `item`'s, the item itself left out. `norms` are the items' factor
    /// norms ([`Model::item_norms`]).
    pub fn similar(&self, item: u32, n: usize, norms: &[f32]) -> Vec<(u32, f32)> {
        let mut scores = vec![0f32; self.n_items()];
        dot_all(
            self.item_factor_matrix(),
            self.stride(),
            self.item_factors(item),
            &mut scores,
        );
        let own = norms.get(item as usize).copied().unwrap_or(0.0);
        for (s, &norm) in scores.iter_mut().zip(norms) {
            let d = own * norm;
            *s = if d > 0.0 { *s / d } else { f32::NEG_INFINITY };
        }
        if let Some(s) = scores.get_mut(item as usize) {
            *s = f32::NEG_INFINITY;
        }
        top_n(&scores, n)
    }

    /// The Euclidean norm of every item's factor vector.
    pub fn item_norms(&self) -> Vec<f32> {
        self.item_factor_matrix()
            .chunks_exact(self.stride())
            .map(|row| crate::train::sgd::dot(row, row).sqrt())
            .collect()
    }
}

#[cfg(test)]
mod tests {
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
    fn recommend_matches_brute_force_and_excludes_rated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.recd");
        crate::model::tests::write_tiny_model(&path, "v", 1.0);
        let m = Model::open(&path).unwrap();
        for user in 0..m.n_users() as u32 {
            let rated = m.rated_items(user).to_vec();
            let got = m.recommend(user, 10, &rated);
            assert_eq!(got.len(), m.n_items() - rated.len());
            assert!(got.iter().all(|(i, _)| !rated.contains(i)));
            for (i, s) in &got {
                assert!((s - m.predict(Some(user), Some(*i))).abs() < 1e-5);
            }
            assert!(got.windows(2).all(|w| w[0].1 >= w[1].1));
        }
        let norms = m.item_norms();
        let sim = m.similar(0, 2, &norms);
        assert_eq!(sim.len(), 2);
        assert!(sim
            .iter()
            .all(|(i, s)| *i != 0 && (-1.0..=1.0001).contains(s)));
    }
}
