//! Whether a retrain is due: the ratings newer than the current model, and
//! the operators' guide reading of their count. It reads; it never trains.

use serde::{Deserialize, Serialize};

use super::{Options, PipelineError};
use crate::model::publish::ModelsDir;

/// The operators' guide reading of a count of new ratings, scaled to the
/// operator's threshold T: under T not needed, T to 5T consider, 5T to 10T
/// recommended, over 10T necessary (the guide's 100/500/1000 at the default
/// T = 100). So the advice never contradicts the threshold: the verdict is
/// `not_needed` exactly when the threshold is not reached.
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
    /// assert_eq!(Verdict::of(99, 100), Verdict::NotNeeded);
    /// assert_eq!(Verdict::of(100, 100), Verdict::Consider);
    /// assert_eq!(Verdict::of(500, 100), Verdict::Recommended);
    /// assert_eq!(Verdict::of(1000, 100), Verdict::Recommended);
    /// assert_eq!(Verdict::of(1001, 100), Verdict::Necessary);
    /// assert_eq!(Verdict::of(6, 2), Verdict::Consider);
    /// ```
    pub fn of(new_ratings: u64, threshold: u64) -> Verdict {
        if new_ratings < threshold {
            Verdict::NotNeeded
        } else if new_ratings > threshold.saturating_mul(10) {
            Verdict::Necessary
        } else if new_ratings >= threshold.saturating_mul(5) {
            Verdict::Recommended
        } else {
            Verdict::Consider
        }
    }

    /// The verdict in words, with the bounds for `threshold`.
    pub fn describe(self, threshold: u64) -> String {
        let (t, t5, t10) = (
            threshold,
            threshold.saturating_mul(5),
            threshold.saturating_mul(10),
        );
        match self {
            Verdict::NotNeeded => format!("retraining not needed (under {t} new ratings)"),
            Verdict::Consider => {
                format!("consider retraining ({t}-{t5} new ratings; weekly is enough)")
            }
            Verdict::Recommended => format!("retraining recommended ({t5}-{t10} new ratings)"),
            Verdict::Necessary => format!("retraining necessary (over {t10} new ratings)"),
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
    /// Whether `new_ratings` reaches the threshold (or there is no model
    /// yet): whether `verdict` is anything but `not_needed`.
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
    // With no model at all, retraining is as due as it gets.
    let verdict = match current {
        None => Verdict::Necessary,
        Some(_) => Verdict::of(new_ratings, threshold),
    };
    Ok(Check {
        current_version: current.map(|m| m.metadata().version.clone()),
        watermark,
        new_ratings,
        threshold,
        verdict,
        retrain: verdict != Verdict::NotNeeded,
        database,
    })
}
