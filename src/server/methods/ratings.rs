//! `rate`, `unrate` and `import`: writes to the ratings database.

use std::time::{Instant, SystemTime};

use super::{internal, not_ready, store_error};
use crate::lifecycle::State;
use crate::protocol::{
    Error, ErrorCode, ImportParams, Imported, RateParams, Rated, UnrateParams, Unrated,
};
use crate::store::{Done, NewRating, Write};

fn refused(r: crate::store::rules::Refused) -> Error {
    use crate::store::rules::Violation;
    let code = match r.code {
        Violation::Malformed => ErrorCode::InvalidParams,
        Violation::InvalidUser => ErrorCode::InvalidUser,
        Violation::InvalidRating => ErrorCode::InvalidRating,
        Violation::UnknownMovie => ErrorCode::UnknownMovie,
    };
    Error::new(code, r.message)
}

pub async fn rate(state: &State, p: RateParams) -> Result<Rated, Error> {
    let rules = &state.config.ratings;
    rules.user(&p.user).map_err(refused)?;
    let rating = rules.rating(p.rating).map_err(refused)?;
    let catalogue = state.db.catalogue().map_err(not_ready)?;
    if !catalogue.contains(&p.movie) {
        return Err(Error::new(
            ErrorCode::UnknownMovie,
            format!("movie {} is not in the catalogue", p.movie),
        ));
    }
    let done = state
        .write(Write::Rate(NewRating {
            user: p.user.clone(),
            movie: p.movie,
            rating,
            rated_at: crate::clock::unix_seconds(SystemTime::now()),
        }))
        .await
        .map_err(store_error)?;
    let Done::Rated { seq } = done else {
        return Err(internal("the writer answered a rating with a removal"));
    };
    Ok(Rated {
        user: p.user,
        movie: p.movie,
        rating,
        seq,
    })
}

pub async fn unrate(state: &State, p: UnrateParams) -> Result<Unrated, Error> {
    state.config.ratings.user(&p.user).map_err(refused)?;
    state.db.catalogue().map_err(not_ready)?;
    let done = state
        .write(Write::Unrate {
            user: p.user.clone(),
            movie: p.movie,
        })
        .await
        .map_err(store_error)?;
    let Done::Unrated { removed } = done else {
        return Err(internal("the writer answered a removal with a rating"));
    };
    Ok(Unrated {
        user: p.user,
        movie: p.movie,
        removed,
    })
}

/// Files larger than this are refused rather than read into memory.
const MAX_IMPORT_BYTES: u64 = 1 << 30;

/// Rejected lines listed in the reply at most (all are counted).
const MAX_REJECTED_SHOWN: usize = 1000;

pub async fn import(state: &State, p: ImportParams) -> Result<Imported, Error> {
    let path = std::path::PathBuf::from(&p.path);
    if !path.is_absolute() {
        return Err(Error::new(
            ErrorCode::InvalidParams,
            format!("path must be absolute, got '{}'", p.path),
        ));
    }
    let catalogue = state.db.catalogue().map_err(not_ready)?;
    let rules = state.config.ratings;
    let now = crate::clock::unix_seconds(SystemTime::now());
    let started = Instant::now();
    let parsed = tokio::task::spawn_blocking(move || {
        let meta =
            std::fs::metadata(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if meta.len() > MAX_IMPORT_BYTES {
            return Err(format!(
                "{} is {} bytes; at most {MAX_IMPORT_BYTES} can be imported at once",
                path.display(),
                meta.len()
            ));
        }
        let bytes =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Ok(crate::store::import::parse(
            &bytes,
            &rules,
            |m| catalogue.contains(&m),
            now,
        ))
    })
    .await
    .map_err(internal)?
    .map_err(|e| Error::new(ErrorCode::InvalidParams, e))?;
    let written = state
        .db
        .store
        .import(&parsed.ratings)
        .await
        .map_err(store_error)?;
    tracing::info!(
        path = %p.path,
        accepted = parsed.ratings.len(),
        rejected = parsed.rejected.len(),
        "imported {written} ratings in {:.2?}",
        started.elapsed()
    );
    let mut rejected = parsed.rejected;
    let rejected_count = rejected.len();
    rejected.truncate(MAX_REJECTED_SHOWN);
    Ok(Imported {
        path: p.path,
        accepted: parsed.ratings.len(),
        written,
        rejected_count,
        rejected,
        seconds: started.elapsed().as_secs_f64(),
    })
}
