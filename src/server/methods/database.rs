//! `forget`: an admin method on the ratings database as a whole.

use super::store_error;
use crate::lifecycle::State;
use crate::protocol::{Error, ErrorCode, ForgetParams, Forgotten};

/// `forget`: an application user's ratings deleted, the erasure recorded,
/// and no model trained before it answers for them.
pub async fn forget(
    state: &State,
    p: ForgetParams,
    peer: Option<(u32, u32, Option<i32>)>,
) -> Result<Forgotten, Error> {
    let prefix = crate::movielens::DATASET_USER_PREFIX;
    if p.user.starts_with(prefix) {
        return Err(Error::new(
            ErrorCode::BaseDatasetUser,
            format!(
                "'{}' is a user of the base dataset ('{prefix}' ids): their ratings are in the \
                 dataset's files, not the database, and cannot be erased by recd",
                p.user
            ),
        ));
    }
    state.db.catalogue().map_err(super::not_ready)?;
    let erased = state
        .forget(&p.user, peer.map(|(uid, ..)| uid))
        .await
        .map_err(store_error)?;
    Ok(Forgotten {
        user: p.user,
        deleted: erased.deleted,
        erasure: erased.erasure,
        erased_at: crate::clock::rfc3339_unix(erased.at),
    })
}
