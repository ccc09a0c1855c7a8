//! `recommend`, `predict` and `similar`: the hot path. Replies borrow
//! titles and ids from the mapped model.

use std::borrow::Cow;

use crate::lifecycle::State;
use crate::protocol::{
    Error, ErrorCode, PredictParams, Predicted, RecommendParams, Recommended, Scored, Similar,
    SimilarParams, SimilarTo, MAX_N,
};
use crate::serving::{Answer, Known, Served};

pub fn check_n(n: usize) -> Result<(), Error> {
    if n == 0 || n > MAX_N {
        return Err(Error::new(
            ErrorCode::InvalidParams,
            format!("n must be between 1 and {MAX_N}, got {n}"),
        ));
    }
    Ok(())
}

fn movie(s: &Served, id: u32) -> Result<u32, Error> {
    s.model.item_index(id).ok_or_else(|| {
        Error::new(
            ErrorCode::UnknownMovie,
            format!("movie {id} is not in the model"),
        )
    })
}

/// How the serving policy answers `user`.
fn answer<'s>(state: &State, s: &'s Served, user: &str) -> Result<Answer<'s>, Error> {
    let db = &state.db;
    let c = &state.config;
    let dataset_user = user.starts_with(crate::movielens::DATASET_USER_PREFIX);
    // Until the erasures are known, any application user may be one.
    let through = s.model.metadata().erased_through;
    let erased = !dataset_user && (!db.tombstones.known() || db.tombstones.contains(user, through));
    let known = Known {
        recent: db.recent_for(user).ok_or_else(|| {
            db.catalogue().err().map_or_else(
                || "the ratings database is unavailable".to_string(),
                |e| e.0,
            )
        }),
        fold_in: c.fold_in,
        reg: f64::from(c.training.params.reg_all),
        erased,
    };
    s.answer(user, dataset_user, known).map_err(|_| {
        Error::new(
            ErrorCode::UnknownUser,
            format!("user '{user}' is not in the model"),
        )
    })
}

pub fn recommend<'s>(
    state: &State,
    s: &'s Served,
    p: &'s RecommendParams,
) -> Result<Recommended<'s>, Error> {
    let m = &s.model;
    let a = answer(state, s, &p.user)?;
    let items = s
        .recommend(&a, p.n, &state.config.fold_in)
        .into_iter()
        .map(|(i, score)| Scored {
            movie: m.movie_id(i),
            title: Cow::Borrowed(m.title(i)),
            score,
        })
        .collect();
    Ok(Recommended {
        user: Cow::Borrowed(&p.user),
        model: Cow::Borrowed(s.version()),
        strategy: a.strategy.name(),
        degraded: a.strategy.degraded(),
        items,
    })
}

pub fn predict<'s>(
    state: &State,
    s: &'s Served,
    p: &'s PredictParams,
) -> Result<Predicted<'s>, Error> {
    let i = movie(s, p.movie)?;
    let a = answer(state, s, &p.user)?;
    Ok(Predicted {
        user: Cow::Borrowed(&p.user),
        movie: p.movie,
        title: Cow::Borrowed(s.model.title(i)),
        rating: s.predict(&a, i, &state.config.fold_in),
        std_dev: s.predict_std_dev(&a, i),
        model: Cow::Borrowed(s.version()),
        strategy: a.strategy.name(),
        degraded: a.strategy.degraded(),
    })
}

pub fn similar<'s>(s: &'s Served, p: &SimilarParams) -> Result<SimilarTo<'s>, Error> {
    let i = movie(s, p.movie)?;
    let m = &s.model;
    let items = s
        .similar(i, p.n)
        .into_iter()
        .map(|(j, similarity)| Similar {
            movie: m.movie_id(j),
            title: Cow::Borrowed(m.title(j)),
            similarity,
        })
        .collect();
    Ok(SimilarTo {
        movie: p.movie,
        title: Cow::Borrowed(m.title(i)),
        model: Cow::Borrowed(s.version()),
        items,
    })
}
