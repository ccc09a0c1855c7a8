//! Which strategy answers a user, and the lists and estimates it gives.

use std::borrow::Cow;
use std::sync::Arc;

use super::{Served, Unseen};
use crate::config::FoldIn;
use crate::model::foldin::Folded;
use crate::protocol::StrategyName;

/// How a user is served.
pub enum Strategy {
    /// In the model: its user index.
    Model(u32),
    /// In the model, with the movies rated since training added to its
    /// implicit part (a model that has one).
    ModelUpdated(u32, Folded),
    /// Folded in from their database ratings.
    FoldIn(Arc<Unseen>),
    /// The same with fewer than `fold_in.min_ratings` ratings: recommended
    /// from the movies related to theirs.
    FoldInSimilar(Arc<Unseen>),
    /// No ratings known: the damped mean; `Some` says why it had to be
    /// this (the database is unavailable).
    Popularity(Option<String>),
}

impl Strategy {
    pub fn name(&self) -> StrategyName {
        match self {
            Strategy::Model(_) => StrategyName::Model,
            Strategy::ModelUpdated(..) => StrategyName::ModelUpdated,
            Strategy::FoldIn(_) => StrategyName::FoldIn,
            Strategy::FoldInSimilar(_) => StrategyName::FoldInSimilar,
            Strategy::Popularity(_) => StrategyName::Popularity,
        }
    }

    /// Why a user with ratings was served by popularity, if so.
    pub fn degraded(self) -> Option<String> {
        match self {
            Strategy::Popularity(why) => why,
            _ => None,
        }
    }
}

/// What the serving policy knows of a user beyond the model.
pub struct Known {
    /// Their ratings newer than the model (movie id, rating), or why they
    /// could not be had (the database is unavailable).
    pub recent: Result<Vec<(u32, f32)>, String>,
    pub fold_in: FoldIn,
    /// The regularisation of a fold-in (the config's `training.reg_all`,
    /// whatever the model's algorithm).
    pub reg: f64,
    /// Erased by `forget` after this model was trained: whatever row the
    /// model has for them is not theirs any more, and they are served as
    /// a user it has not seen.
    pub erased: bool,
}

/// A user's strategy and the item indices to leave out of their
/// recommendations (rated in the model or in the database since).
pub struct Answer<'s> {
    pub strategy: Strategy,
    pub exclude: Cow<'s, [u32]>,
}

/// A user the model has no data for, yet named as one of the dataset's.
pub struct NotInModel;

impl Served {
    /// Who `user` is to this model. `dataset_user` says whether the id
    /// names one of the dataset's users, who are all in the model.
    pub fn answer<'s>(
        &'s self,
        user: &str,
        dataset_user: bool,
        known: Known,
    ) -> Result<Answer<'s>, NotInModel> {
        let m = &self.model;
        // Their ratings since the model, of movies it has: (item, rating).
        let since: Vec<(u32, f32)> = known
            .recent
            .iter()
            .flatten()
            .filter_map(|&(movie, r)| Some((m.item_index(movie)?, r)))
            .collect();
        let mut exclude: Vec<u32> = since.iter().map(|r| r.0).collect();
        let row = if known.erased {
            None
        } else {
            m.user_index(user)
        };
        let strategy = match row {
            // The common case: nothing rated since the model; its list as is.
            Some(u) if exclude.is_empty() => {
                return Ok(Answer {
                    strategy: Strategy::Model(u),
                    exclude: Cow::Borrowed(m.rated_items(u)),
                });
            }
            Some(u) => {
                exclude.extend_from_slice(m.rated_items(u));
                match m.updated_user(u, &since) {
                    Some(f) => Strategy::ModelUpdated(u, f),
                    None => Strategy::Model(u),
                }
            }
            None if dataset_user => return Err(NotInModel),
            None => match known.recent {
                Err(why) => Strategy::Popularity(Some(why)),
                Ok(r) if r.is_empty() => Strategy::Popularity(None),
                Ok(r) => {
                    let c = known.fold_in;
                    let few = r.len() < c.min_ratings;
                    let u = self.unseen(
                        user,
                        &r,
                        known.reg,
                        if few { c.related_movies } else { 0 },
                        c.cache_users,
                    );
                    if few {
                        Strategy::FoldInSimilar(u)
                    } else {
                        Strategy::FoldIn(u)
                    }
                }
            },
        };
        exclude.sort_unstable();
        exclude.dedup();
        Ok(Answer {
            strategy,
            exclude: Cow::Owned(exclude),
        })
    }

    /// The top `n` items for an answered user: (item index, score).
    pub fn recommend(&self, a: &Answer<'_>, n: usize, fold: &FoldIn) -> Vec<(u32, f32)> {
        let m = &self.model;
        match &a.strategy {
            Strategy::Model(u) => m.recommend(self.quant(), *u, n, &a.exclude),
            Strategy::ModelUpdated(_, f) => {
                m.recommend_vector(self.quant(), &f.factors, f.bias, n, &a.exclude)
            }
            Strategy::FoldInSimilar(u) => self.among_related(u, n, &a.exclude),
            Strategy::FoldIn(u) => {
                let f = &u.folded;
                m.recommend_vector(self.quant(), &f.factors, f.bias, n, &a.exclude)
            }
            Strategy::Popularity(_) => {
                m.best_by(self.popularity(fold.popularity_damping), n, &a.exclude)
            }
        }
    }

    /// The predicted rating of item `i` for an answered user.
    pub fn predict(&self, a: &Answer<'_>, i: u32, fold: &FoldIn) -> f32 {
        let m = &self.model;
        match &a.strategy {
            Strategy::Model(u) => m.predict(Some(*u), Some(i)),
            Strategy::ModelUpdated(_, f) => m.predict_folded(f, i),
            Strategy::FoldIn(u) | Strategy::FoldInSimilar(u) => m.predict_folded(&u.folded, i),
            Strategy::Popularity(_) => m.scale().clip(
                self.popularity(fold.popularity_damping)
                    .get(i as usize)
                    .copied()
                    .unwrap_or(0.0),
            ),
        }
    }

    /// The posterior standard deviation of that prediction: for a user in
    /// the model, where the model carries its parameters' spread.
    pub fn predict_std_dev(&self, a: &Answer<'_>, i: u32) -> Option<f32> {
        match &a.strategy {
            Strategy::Model(u) => self.model.predict_std_dev(*u, i, None),
            Strategy::ModelUpdated(u, f) => self.model.predict_std_dev(*u, i, Some(f)),
            _ => None,
        }
    }

    /// For a user with few ratings: the movies related to the ones they
    /// rated, ordered by their folded-in estimate; when fewer than `n` of
    /// those are left, the rest by the estimate alone.
    fn among_related(&self, u: &Unseen, n: usize, exclude: &[u32]) -> Vec<(u32, f32)> {
        let m = &self.model;
        let f = &u.folded;
        let mut list: Vec<(u32, f32)> = u
            .related
            .iter()
            .filter(|i| exclude.binary_search(i).is_err())
            .map(|&i| (i, m.estimate_folded(f, i)))
            .collect();
        list.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        list.truncate(n);
        let scale = m.scale();
        for (_, e) in list.iter_mut() {
            *e = scale.clip(*e);
        }
        if list.len() < n {
            let mut taken: Vec<u32> = exclude
                .iter()
                .copied()
                .chain(list.iter().map(|e| e.0))
                .collect();
            taken.sort_unstable();
            let rest = m.recommend_vector(self.quant(), &f.factors, f.bias, n - list.len(), &taken);
            list.extend(rest);
        }
        list
    }
}
