//! `forget` and `backup`: the admin methods on the ratings database as a
//! whole, one user's ratings erased and everyone's copied.

use super::{internal, store_error};
use crate::lifecycle::State;
use crate::protocol::{Error, ErrorCode, ForgetParams, Forgotten};
use crate::store::snapshot::FileError;
use crate::store::Snapshot;

/// `forget`: an application user's ratings deleted, the erasure recorded,
/// and no model trained before it answers for them.
pub async fn forget(
    state: &State,
    p: ForgetParams,
    caller: &crate::server::auth::Caller,
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
        .forget(&p.user, caller.uid(), caller.token().map(str::to_owned))
        .await
        .map_err(store_error)?;
    Ok(Forgotten {
        user: p.user,
        deleted: erased.deleted,
        erasure: erased.erasure,
        erased_at: crate::clock::rfc3339_unix(erased.at),
    })
}

/// `backup`: a consistent copy of the database, made by the daemon; its
/// figures are the reply and its bytes follow it.
pub async fn backup(state: &State) -> Result<Snapshot, Error> {
    state.backup().await.map_err(|e| match e {
        FileError::Postgres(m) => Error::new(ErrorCode::Unsupported, m),
        FileError::Store(e) => store_error(e),
        other => internal(format!("backup: {other}")),
    })
}
