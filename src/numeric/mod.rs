//! The numbers the trainer and the served model share: the dot product and
//! the lane width rows are padded to, the factor arrays of a fitted model,
//! the rating scale, the holdout metrics and the training parameters (with
//! their limits and the overrides flags and requests carry).
//!
//! It is a leaf: it imports nothing from this crate but other leaves, so
//! `model`, `config` and `train` can all stand on it. It never does I/O and
//! knows nothing of files, datasets or the daemon.

mod dot;
mod factors;
mod params;
mod posterior;

#[cfg(target_arch = "x86_64")]
pub use dot::hsum;
pub use dot::{dot, stride_for, LANES};
pub use factors::{Factors, Metrics, Scale};
pub use params::{in_range, Algorithm, ParamError, ParamOverrides, Params};
pub use posterior::{Belief, FoldInTerms, Implicit, ImplicitSums, Spread, UserPart};
