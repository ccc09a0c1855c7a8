//! `rate`, `unrate` and `import`: writes to the ratings database.

use std::time::{Instant, SystemTime};

use super::{internal, not_ready, store_error};
use crate::lifecycle::State;
use crate::protocol::{
    Error, ErrorCode, ImportParams, Imported, RateParams, Rated, UnrateParams, Unrated,
};
use crate::server::peer::Body;
use crate::store::import::{Parsed, Parser};
use crate::store::{Done, NewRating, Write};

pub(super) fn refused(r: crate::store::rules::Refused) -> Error {
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

/// Rejected lines listed in the reply at most (all are counted).
const MAX_REJECTED_SHOWN: usize = 1000;

/// Accepted ratings written per transaction while the bytes stream in.
const BATCH: usize = 10_000;

/// `import`: the bytes of a ratings file follow the request line; they are
/// parsed as they arrive and written in batches, so memory holds one batch
/// whatever the file's size. The daemon never opens a file a peer names.
pub async fn import(
    state: &State,
    p: ImportParams,
    body: &mut Body<'_>,
    caller: &crate::server::auth::Caller,
) -> Result<Imported, Error> {
    let max = state.config.daemon.max_import_bytes;
    if p.bytes > max {
        return Err(Error::new(
            ErrorCode::InvalidParams,
            format!(
                "an import of {} bytes is larger than daemon.max_import_bytes ({max}); \
                 split the file",
                p.bytes
            ),
        ));
    }
    let catalogue = state.db.catalogue().map_err(not_ready)?;
    let rules = state.config.ratings;
    let now = crate::clock::unix_seconds(SystemTime::now());
    let started = Instant::now();
    let mut parser = Parser::new(&rules, |m| catalogue.contains(&m), now, MAX_REJECTED_SHOWN);
    let mut out = Parsed::default();
    let (mut accepted, mut written) = (0usize, 0u64);
    let mut chunk = Vec::with_capacity(64 * 1024);
    let failed = |e: String, accepted: usize, written: u64| {
        Error::new(
            ErrorCode::InvalidParams,
            format!("{e}; {accepted} ratings accepted before, {written} of them written"),
        )
    };
    loop {
        chunk.clear();
        let more = body
            .next_chunk(&mut chunk)
            .await
            .map_err(|e| failed(e.to_string(), accepted + out.ratings.len(), written))?;
        if more {
            parser.feed(&chunk, &mut out);
        } else {
            parser.finish(&mut out);
        }
        if out.ratings.len() >= BATCH || (!more && !out.ratings.is_empty()) {
            let batch = std::mem::take(&mut out.ratings);
            out.lines.clear();
            let n = state.import(&batch).await.map_err(|e| {
                let mut e = store_error(e);
                e.message = format!(
                    "{}; {accepted} ratings of this import were written before",
                    e.message
                );
                e
            })?;
            accepted += batch.len();
            written += n;
        }
        if !more {
            break;
        }
    }
    tracing::info!(
        name = p.name.as_deref().unwrap_or("-"),
        bytes = p.bytes,
        caller = %caller,
        accepted,
        rejected = out.rejected_count,
        "imported {written} ratings in {:.2?}",
        started.elapsed()
    );
    Ok(Imported {
        name: p.name,
        bytes: p.bytes,
        accepted,
        written,
        rejected_count: out.rejected_count,
        rejected: out.rejected,
        seconds: started.elapsed().as_secs_f64(),
    })
}
