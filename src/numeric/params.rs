//! The training parameters: their values ([`Params`], the config's
//! `[training]` keys and a model's metadata), their limits, and the one set
//! of overrides ([`ParamOverrides`]) that `recd train`, `recd eval`,
//! `recctl retrain` and the `retrain` request carry.
//!
//! A parameter is added here once: to `Params`, to `ParamOverrides` and to
//! `ParamOverrides::apply` (a test fails if one is left out).

use serde::{Deserialize, Serialize};

/// The model a run trains. Both are served as a dot product; see "Choosing
/// the model" in docs/operations.md for when to pick which.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::EnumIter,
    strum::IntoStaticStr,
    clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Algorithm {
    /// Biased matrix factorization by SGD, as Surprise's `SVD`. The
    /// algorithm of a model whose metadata names none (written before the
    /// key existed).
    #[default]
    Svd,
    /// Bayesian SVD++ with implicit information on both sides, by Gibbs
    /// sampling: `n_factors` is its rank, `n_epochs` its sweeps.
    BayesSvdpp,
}

impl Algorithm {
    /// What a configuration that names no algorithm trains: the most
    /// accurate model that retrains a set of MovieLens 1M's size in well
    /// under a minute on two cores ("Choosing the model" in
    /// docs/operations.md gives the measurements).
    pub const DEFAULT: Algorithm = Algorithm::BayesSvdpp;

    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Training parameters, named and meant as in Surprise's `SVD`, and the
/// model they train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Params {
    pub algorithm: Algorithm,
    /// Length of the factor vectors (the rank).
    pub n_factors: usize,
    /// SGD epochs, or Gibbs sweeps.
    pub n_epochs: usize,
    /// Gibbs sweeps whose samples are not kept (`bayes_svdpp` only); at
    /// most `n_epochs - 1` are left out.
    pub burn_in: usize,
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
    /// `svd`'s parameters, chosen on the split90 set (docs/benchmarks.md
    /// says how); what a model's metadata leaves out stands for these. A
    /// configuration's defaults are [`Params::defaults_for`] its algorithm.
    fn default() -> Params {
        Params {
            algorithm: Algorithm::Svd,
            n_factors: 100,
            n_epochs: 40,
            burn_in: 5,
            lr_all: 0.007,
            reg_all: 0.04,
            init_std_dev: 0.01,
            threads: 0,
            seed: 1,
        }
    }
}

impl Params {
    /// The defaults of a model: `svd`'s chosen on the split90 set, and
    /// `bayes_svdpp`'s its most accurate within about ten seconds there
    /// (docs/benchmarks.md).
    pub fn defaults_for(algorithm: Algorithm) -> Params {
        match algorithm {
            Algorithm::Svd => Params::default(),
            Algorithm::BayesSvdpp => Params {
                algorithm,
                n_factors: 20,
                n_epochs: 56,
                init_std_dev: 0.1,
                ..Params::default()
            },
        }
    }

    /// `self` with the parameters named in `keys` (their config keys) taken
    /// from `from`; other names are ignored.
    pub fn with_keys_of(&self, from: &Params, keys: &[String]) -> Params {
        let (mut to, from) = (as_map(self), as_map(from));
        for key in keys {
            if let Some(v) = from.get(key) {
                to.insert(key.clone(), v.clone());
            }
        }
        serde_json::from_value(serde_json::Value::Object(to)).unwrap_or_else(|_| self.clone())
    }

    /// The sweeps left out of the posterior mean: `burn_in`, but never all.
    pub fn effective_burn_in(&self) -> usize {
        self.burn_in.min(self.n_epochs.saturating_sub(1))
    }

    /// The thread count `threads = 0` stands for.
    pub fn effective_threads(&self) -> usize {
        if self.threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            self.threads
        }
    }

    /// The model and the parameters it uses, in one line: `svd: 100 factors,
    /// 40 epochs, lr 0.007, reg 0.04, init_std_dev 0.01, seed 1`.
    pub fn summary(&self) -> String {
        let name = self.algorithm.as_str();
        match self.algorithm {
            Algorithm::Svd => format!(
                "{name}: {} factors, {} epochs, lr {}, reg {}, init_std_dev {}, seed {}",
                self.n_factors,
                self.n_epochs,
                self.lr_all,
                self.reg_all,
                self.init_std_dev,
                self.seed
            ),
            Algorithm::BayesSvdpp => format!(
                "{name}: rank {}, {} sweeps ({} burn-in), init_std_dev {}, seed {}",
                self.n_factors,
                self.n_epochs,
                self.effective_burn_in(),
                self.init_std_dev,
                self.seed
            ),
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
            "training.burn_in",
            "--burn-in",
            self.burn_in as f64,
            0.0,
            10_000.0,
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

fn as_map(p: &Params) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::to_value(p) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
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
    /// The model to train (training.algorithm).
    #[arg(long, value_name = "NAME")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<Algorithm>,
    /// Number of factors, the rank (training.n_factors).
    #[arg(long, value_name = "N")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factors: Option<usize>,
    /// Number of SGD epochs or Gibbs sweeps (training.n_epochs).
    #[arg(long, value_name = "N")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<usize>,
    /// Gibbs sweeps not kept, at most all but the last; bayes_svdpp only
    /// (training.burn_in).
    #[arg(long, value_name = "N")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burn_in: Option<usize>,
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
            algorithm: self.algorithm.unwrap_or(base.algorithm),
            n_factors: self.factors.unwrap_or(base.n_factors),
            n_epochs: self.epochs.unwrap_or(base.n_epochs),
            burn_in: self.burn_in.unwrap_or(base.burn_in),
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
            algorithm: Some(Algorithm::BayesSvdpp),
            factors: Some(7),
            epochs: Some(3),
            burn_in: Some(2),
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
    fn algorithms_go_by_their_names() {
        use strum::IntoEnumIterator;
        for a in Algorithm::iter() {
            let json = serde_json::to_string(&a).unwrap();
            assert_eq!(json, format!("\"{}\"", a.as_str()));
            let o: ParamOverrides =
                serde_json::from_str(&format!(r#"{{"algorithm":{json}}}"#)).unwrap();
            assert_eq!(o.algorithm, Some(a));
        }
        let e = serde_json::from_str::<ParamOverrides>(r#"{"algorithm":"svdpp"}"#).unwrap_err();
        assert!(e.to_string().contains("unknown variant `svdpp`"), "{e}");
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
