//! Movies related to the ones a user rated, by who rated them together.
//!
//! The factor vectors are fitted to predict ratings, and a predicted rating
//! is mostly the movie's own quality: a user who rated ten horror films gets
//! the catalogue's classics. What is in the model besides the factors, each
//! trained user's list of rated movies, says which movies the same people
//! watch. Two movies are similar by the asymmetric cosine of their raters
//!
//! `sim(i, j) = |U_i ∩ U_j| / (|U_i|^α · |U_j|^(1−α))`
//!
//! with `α = 0.8` for the candidate `i`, so that a movie everyone rated is
//! not close to everything. A user's ratings weigh their movies by how far
//! they are from the global mean (a rating below it pushes its neighbours
//! down), and the movies with the highest weighted sum are related to them.

use super::Model;

/// The exponent on the candidate's number of raters.
const ALPHA: f32 = 0.8;

/// At most this many raters of one rated movie are followed (evenly spaced),
/// which bounds the cost of a user's related movies whatever the catalogue.
const MAX_RATERS: usize = 500;

/// Who rated each item: the model's per-user lists, transposed.
#[derive(Debug, Default)]
pub struct Raters {
    /// `start[i]..start[i + 1]` indexes `users` for item `i`.
    start: Vec<usize>,
    users: Vec<u32>,
    /// `1 / |U_i|^α` per item, zero for an item nobody rated.
    weight: Vec<f32>,
}

impl Raters {
    pub fn new(model: &Model) -> Raters {
        let n_items = model.n_items();
        let mut start = vec![0usize; n_items + 1];
        for u in 0..model.n_users() as u32 {
            for &i in model.rated_items(u) {
                start[i as usize + 1] += 1;
            }
        }
        for i in 0..n_items {
            start[i + 1] += start[i];
        }
        let mut next = start.clone();
        let mut users = vec![0u32; start[n_items]];
        for u in 0..model.n_users() as u32 {
            for &i in model.rated_items(u) {
                users[next[i as usize]] = u;
                next[i as usize] += 1;
            }
        }
        let weight = start
            .windows(2)
            .map(|w| match w[1] - w[0] {
                0 => 0.0,
                n => (n as f32).powf(-ALPHA),
            })
            .collect();
        Raters {
            start,
            users,
            weight,
        }
    }

    /// The users who rated `item`, ascending; none for an unknown item.
    pub fn of(&self, item: u32) -> &[u32] {
        let i = item as usize;
        match (self.start.get(i), self.start.get(i + 1)) {
            (Some(&a), Some(&b)) => &self.users[a..b],
            _ => &[],
        }
    }
}

impl Model {
    /// Up to `n` items related to `rated` (item index, rating), most related
    /// first, leaving out the rated items themselves. Only items with a
    /// positive weighted similarity are related: a user whose every rating
    /// is below the global mean may get none.
    pub fn related(&self, raters: &Raters, rated: &[(u32, f32)], n: usize) -> Vec<u32> {
        let n_items = self.n_items();
        let mu = self.global_mean();
        let mut sum = vec![0f32; n_items];
        let mut together = vec![0u32; n_items];
        for &(j, r) in rated {
            let weight = r - mu;
            let who = raters.of(j);
            if weight == 0.0 || who.is_empty() {
                continue;
            }
            together.iter_mut().for_each(|c| *c = 0);
            let step = who.len().div_ceil(MAX_RATERS);
            for &u in who.iter().step_by(step) {
                for &i in self.rated_items(u) {
                    together[i as usize] += 1;
                }
            }
            // Scaled back to all of j's raters when only some were followed.
            let scale = weight * step as f32 / (who.len() as f32).powf(1.0 - ALPHA);
            for ((s, &c), &w) in sum.iter_mut().zip(&together).zip(&raters.weight) {
                *s += scale * c as f32 * w;
            }
        }
        for &(j, _) in rated {
            if let Some(s) = sum.get_mut(j as usize) {
                *s = f32::NEG_INFINITY;
            }
        }
        for s in sum.iter_mut() {
            if *s <= 0.0 || s.is_nan() {
                *s = f32::NEG_INFINITY;
            }
        }
        super::score::top_n(&sum, n)
            .into_iter()
            .map(|(i, _)| i)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::model_with_ratings;

    /// Two groups of users who each rate one group of movies, and one user
    /// who rates everything.
    fn two_tastes() -> Model {
        let mut users: Vec<Vec<u32>> = Vec::new();
        for _ in 0..20 {
            users.push(vec![0, 1, 2, 3]);
            users.push(vec![4, 5, 6, 7]);
        }
        users.push((0..8).collect());
        model_with_ratings(8, &users)
    }

    #[test]
    fn raters_transpose_the_rated_lists() {
        let m = two_tastes();
        let r = Raters::new(&m);
        for i in 0..8u32 {
            let who = r.of(i);
            assert_eq!(who.len(), 21, "item {i}");
            assert!(who.windows(2).all(|w| w[0] < w[1]));
            assert!(who.iter().all(|&u| m.rated_items(u).contains(&i)));
        }
        assert!(r.of(8).is_empty());
        assert!(r.of(u32::MAX).is_empty());
    }

    #[test]
    fn related_movies_come_from_the_same_raters() {
        let m = two_tastes();
        let r = Raters::new(&m);
        let high = m.scale().max;
        let low = m.scale().min;
        // The group's other movies first; the other group's only through
        // the one user who rated everything, far below.
        assert_eq!(
            m.related(&r, &[(0, high), (1, high)], 10),
            vec![2, 3, 4, 5, 6, 7]
        );
        assert_eq!(m.related(&r, &[(5, high)], 3), vec![4, 6, 7]);
        // Rated below the mean: its neighbours are pushed away, and the
        // other group's movies are not related by that.
        assert!(m.related(&r, &[(0, low)], 10).is_empty());
        // Liked group A, disliked one of B: A's movies only.
        assert_eq!(m.related(&r, &[(0, high), (4, low)], 10), vec![1, 2, 3]);
        // Unknown items and no ratings relate nothing.
        assert!(m.related(&r, &[(99, high)], 10).is_empty());
        assert!(m.related(&r, &[], 10).is_empty());
    }
}
