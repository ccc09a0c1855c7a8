//! Whether a retrain is due: the ratings newer than the current model, and
//! the operators' guide reading of their count. It reads; it never trains.

use serde::{Deserialize, Serialize};

use super::{Options, PipelineError};
use crate::model::publish::ModelsDir;

/// The operators' guide reading of a count of new ratings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    NotNeeded,
    Consider,
    Recommended,
    Necessary,
}

impl Verdict {
    /// ```
    /// use recd::train::pipeline::Verdict;
    /// assert_eq!(Verdict::of(99), Verdict::NotNeeded);
    /// assert_eq!(Verdict::of(100), Verdict::Consider);
    /// assert_eq!(Verdict::of(500), Verdict::Recommended);
    /// assert_eq!(Verdict::of(1000), Verdict::Recommended);
    /// assert_eq!(Verdict::of(1001), Verdict::Necessary);
    /// ```
    pub fn of(new_ratings: u64) -> Verdict {
        match new_ratings {
            0..=99 => Verdict::NotNeeded,
            100..=499 => Verdict::Consider,
            500..=1000 => Verdict::Recommended,
            _ => Verdict::Necessary,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Verdict::NotNeeded => "retraining not needed (under 100 new ratings)",
            Verdict::Consider => "consider retraining (100-500 new ratings; weekly is enough)",
            Verdict::Recommended => "retraining recommended (500-1000 new ratings)",
            Verdict::Necessary => "retraining necessary (over 1000 new ratings)",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub current_version: Option<String>,
    pub watermark: i64,
    pub new_ratings: u64,
    pub threshold: u64,
    pub verdict: Verdict,
    /// Whether `new_ratings` reaches the threshold (or there is no model yet).
    pub retrain: bool,
    /// The database counted in, or "not configured".
    pub database: String,
}

/// Count the ratings newer than the current model and judge them.
pub fn check(opts: &Options, threshold: u64) -> Result<Check, PipelineError> {
    let current = ModelsDir::new(&opts.models_dir).open_current()?;
    judge(current.as_ref(), threshold, opts.database.as_ref())
}

pub(super) fn judge(
    current: Option<&crate::model::Model>,
    threshold: u64,
    database: Option<&crate::store::Blocking>,
) -> Result<Check, PipelineError> {
    let watermark = current.map_or(0, |m| m.metadata().db_watermark);
    // Without a database nothing is newer than the model.
    let (new_ratings, database) = match database {
        Some(db) => (
            db.count_since(watermark)?.max(0) as u64,
            db.store.target().display(),
        ),
        None => (0, "not configured".to_string()),
    };
    Ok(Check {
        current_version: current.map(|m| m.metadata().version.clone()),
        watermark,
        new_ratings,
        threshold,
        verdict: Verdict::of(new_ratings),
        retrain: current.is_none() || new_ratings >= threshold,
        database,
    })
}
