//! `reload`, `models` and `rollback`: which model version serves.

use super::internal;
use crate::lifecycle::{ReloadError, RollbackError, State};
use crate::model::Model;
use crate::protocol::{
    Error, ErrorCode, ModelEntry, ModelSummary, Models, Reloaded, RollbackParams, RolledBack,
};
use std::sync::Arc;

pub async fn reload(state: &Arc<State>) -> Result<Reloaded, Error> {
    let swapped = state
        .reload("the reload method")
        .await
        .map_err(|e| match e {
            ReloadError::Task(_) => internal(e),
            ReloadError::NoCurrent(_) | ReloadError::Unreadable { .. } => {
                Error::new(ErrorCode::ReloadFailed, e.to_string())
            }
        })?;
    Ok(Reloaded {
        changed: swapped.previous.as_deref() != Some(swapped.version.as_str()),
        version: swapped.version,
        previous: swapped.previous,
    })
}

pub async fn models(state: &Arc<State>) -> Result<Models, Error> {
    let st = state.clone();
    tokio::task::spawn_blocking(move || {
        let dir = &st.models;
        let current = dir.current_version().ok().flatten();
        let versions = dir
            .versions()
            .map_err(|e| internal(format!("{}: {e}", dir.path().display())))?;
        let versions = versions
            .iter()
            .rev()
            .map(|v| {
                let is_current = current.as_deref() == Some(v.as_str());
                match Model::open(&dir.version_path(v)) {
                    Ok(m) => ModelEntry {
                        version: v.clone(),
                        current: is_current,
                        valid: true,
                        error: None,
                        bytes: Some(m.file_len() as u64),
                        details: Some(ModelSummary::new(&m).details),
                    },
                    Err(err) => ModelEntry {
                        version: v.clone(),
                        current: is_current,
                        valid: false,
                        error: Some(err.to_string()),
                        bytes: None,
                        details: None,
                    },
                }
            })
            .collect();
        Ok(Models {
            current,
            serving: st.served().map(|s| s.version().to_owned()),
            versions,
        })
    })
    .await
    .map_err(internal)?
}

/// Version ids name files in the models directory: refuse anything that
/// could name a path elsewhere.
fn valid_version(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 128
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub async fn rollback(state: &Arc<State>, p: RollbackParams) -> Result<RolledBack, Error> {
    if !valid_version(&p.version) {
        return Err(Error::new(
            ErrorCode::InvalidParams,
            format!(
                "'{}' is not a version id (letters, digits, '-' and '_' only; never a path)",
                p.version
            ),
        ));
    }
    let st = state.clone();
    let version = p.version.clone();
    let result = tokio::task::spawn_blocking(move || st.rollback_blocking(&version))
        .await
        .map_err(internal)?;
    match result {
        Ok(s) => Ok(RolledBack {
            version: s.version,
            previous: s.previous,
        }),
        Err(RollbackError::Unknown(known)) => Err(Error::new(
            ErrorCode::UnknownVersion,
            format!(
                "no model version '{}' in {}",
                p.version,
                state.models.path().display()
            ),
        )
        .with_data(serde_json::json!({ "versions": known }))),
        Err(RollbackError::Model(e)) => Err(Error::new(ErrorCode::ReloadFailed, e.to_string())),
        Err(RollbackError::Io(e)) => Err(internal(e)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn version_ids_never_name_paths() {
        use super::valid_version;
        assert!(valid_version("20261124T112329Z-0636"));
        for bad in [
            "",
            "../etc/passwd",
            "a/b",
            "v1.recd",
            ".",
            "..",
            "a b",
            "current\n",
        ] {
            assert!(!valid_version(bad), "{bad:?}");
        }
    }
}
