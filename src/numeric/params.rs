//! The training parameters: their values ([`Params`], the config's
//! `[training]` keys and a model's metadata) and their limits.

use serde::{Deserialize, Serialize};

/// Training parameters, named and meant as in Surprise's `SVD`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Params {
    pub n_factors: usize,
    pub n_epochs: usize,
    /// Learning rate of every parameter.
    pub lr_all: f32,
    /// Regularisation of every parameter.
    pub reg_all: f32,
    /// Standard deviation of the normal the factors start from.
    pub init_std_dev: f32,
    /// Worker threads; 0 means one per core.
    pub threads: usize,
    pub seed: u64,
}

impl Default for Params {
    /// Chosen on the split90 set; see docs/benchmarks.md for how.
    fn default() -> Params {
        Params {
            n_factors: 100,
            n_epochs: 40,
            lr_all: 0.007,
            reg_all: 0.04,
            init_std_dev: 0.01,
            threads: 0,
            seed: 1,
        }
    }
}

impl Params {
    /// The thread count `threads = 0` stands for.
    pub fn effective_threads(&self) -> usize {
        if self.threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            self.threads
        }
    }

    /// Check every limit; the error names the config key and the flag.
    pub fn validate(&self) -> Result<(), ParamError> {
        let check = |key, flag, v: f64, lo, hi| {
            in_range(v, lo, hi).map_err(|what| ParamError { key, flag, what })
        };
        check(
            "training.n_factors",
            "--factors",
            self.n_factors as f64,
            1.0,
            1024.0,
        )?;
        check(
            "training.n_epochs",
            "--epochs",
            self.n_epochs as f64,
            1.0,
            10_000.0,
        )?;
        check("training.lr_all", "--lr", f64::from(self.lr_all), 1e-7, 1.0)?;
        check(
            "training.reg_all",
            "--reg",
            f64::from(self.reg_all),
            0.0,
            10.0,
        )?;
        check(
            "training.init_std_dev",
            "--init-std-dev",
            f64::from(self.init_std_dev),
            0.0,
            1.0,
        )?;
        check(
            "training.threads",
            "--threads",
            self.threads as f64,
            0.0,
            256.0,
        )?;
        Ok(())
    }
}

/// A training parameter out of its limits.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{flag} (or {key}): {what}")]
pub struct ParamError {
    /// The config key, e.g. `training.n_factors`.
    pub key: &'static str,
    /// The flag and request field that override it, e.g. `--factors`.
    pub flag: &'static str,
    pub what: String,
}

/// `v` within `lo..=hi` (and finite), else what is wrong with it.
pub fn in_range(v: f64, lo: f64, hi: f64) -> Result<(), String> {
    if v.is_finite() && (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(format!("must be between {lo} and {hi}, got {v}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_parameters_take_their_defaults() {
        let p: Params = serde_json::from_str(r#"{"n_factors":5}"#).unwrap();
        assert_eq!(
            p,
            Params {
                n_factors: 5,
                ..Params::default()
            }
        );
    }
}
