//! The training parameters: their values ([`Params`], the config's
//! `[training]` keys and a model's metadata), their limits, and the one set
//! of overrides ([`ParamOverrides`]) that `recd train`, `recd eval`,
//! `recctl retrain` and the `retrain` request carry.
//!
//! A parameter is added here once: to `Params`, to `ParamOverrides` and to
//! `ParamOverrides::apply` (a test fails if one is left out).

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

/// Training parameters; each overrides the config key of the same meaning.
/// The flags of `recd train`, `recd eval` and `recctl retrain`, and the
/// fields of a `retrain` request.
#[derive(Debug, Clone, Default, PartialEq, clap::Args, Serialize, Deserialize)]
pub struct ParamOverrides {
    /// Number of factors (training.n_factors).
    #[arg(long, value_name = "N")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factors: Option<usize>,
    /// Number of SGD epochs (training.n_epochs).
    #[arg(long, value_name = "N")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<usize>,
    /// Learning rate (training.lr_all).
    #[arg(long, value_name = "RATE")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f32>,
    /// Regularisation (training.reg_all).
    #[arg(long, value_name = "LAMBDA")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reg: Option<f32>,
    /// Standard deviation of the initial factors (training.init_std_dev).
    #[arg(long, value_name = "SD")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_std_dev: Option<f32>,
    /// Training threads, 0 for one per core (training.threads).
    #[arg(long, value_name = "N")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
    /// Random seed (training.seed).
    #[arg(long, value_name = "N")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

impl ParamOverrides {
    /// `base` with these overrides, checked against the limits.
    pub fn apply(&self, base: &Params) -> Result<Params, ParamError> {
        let p = Params {
            n_factors: self.factors.unwrap_or(base.n_factors),
            n_epochs: self.epochs.unwrap_or(base.n_epochs),
            lr_all: self.lr.unwrap_or(base.lr_all),
            reg_all: self.reg.unwrap_or(base.reg_all),
            init_std_dev: self.init_std_dev.unwrap_or(base.init_std_dev),
            threads: self.threads.unwrap_or(base.threads),
            seed: self.seed.unwrap_or(base.seed),
        };
        p.validate()?;
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(value: &impl Serialize) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::to_value(value).unwrap() {
            serde_json::Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn every_override_reaches_its_own_parameter() {
        let base = Params::default();
        let all = ParamOverrides {
            factors: Some(7),
            epochs: Some(3),
            lr: Some(0.5),
            reg: Some(0.25),
            init_std_dev: Some(0.125),
            threads: Some(2),
            seed: Some(99),
        };
        let got = fields(&all.apply(&base).unwrap());
        let base = fields(&base);
        assert_eq!(got.len(), base.len());
        assert_eq!(fields(&all).len(), base.len(), "one override per parameter");
        for (key, value) in &got {
            assert_ne!(Some(value), base.get(key), "{key} is not overridden");
        }
        assert_eq!(
            ParamOverrides::default().apply(&Params::default()),
            Ok(Params::default())
        );
    }

    #[test]
    fn a_bad_override_names_the_flag_and_the_key() {
        let e = ParamOverrides {
            factors: Some(0),
            ..ParamOverrides::default()
        }
        .apply(&Params::default())
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "--factors (or training.n_factors): must be between 1 and 1024, got 0"
        );
        assert_eq!(e.key, "training.n_factors");
    }

    #[test]
    fn unset_overrides_are_left_off_the_wire() {
        let o = ParamOverrides {
            epochs: Some(3),
            ..ParamOverrides::default()
        };
        assert_eq!(serde_json::to_string(&o).unwrap(), r#"{"epochs":3}"#);
        let back: ParamOverrides = serde_json::from_str(r#"{"epochs":3}"#).unwrap();
        assert_eq!(back, o);
    }

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
