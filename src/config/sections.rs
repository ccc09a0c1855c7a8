//! The sections of the config file, each the struct the rest of the daemon
//! reads, with its embedded defaults in its `Default` impl.
//!
//! Serde reads them as they stand (unknown keys are errors); nothing here
//! resolves a path or checks a limit: `Config::parse` does both once, after
//! the whole file is read.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::numeric::{Algorithm, ParamError, ParamOverrides, Params};
use crate::store::rules::Rules;
use crate::store::Target;

/// The `[paths]` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Paths {
    /// Where the SQLite database (and other state) lives.
    pub state_dir: PathBuf,
    pub models_dir: PathBuf,
    pub dataset: PathBuf,
    /// Where to fetch the dataset from when it is missing (None: never;
    /// the key set to "").
    pub dataset_url: Option<String>,
    /// Its expected MD5, lower-case hex.
    pub dataset_md5: String,
}

impl Default for Paths {
    /// The packaged layout under /var/lib/recd.
    fn default() -> Paths {
        Paths {
            state_dir: PathBuf::from("/var/lib/recd"),
            models_dir: PathBuf::from("/var/lib/recd/models"),
            dataset: PathBuf::from("/var/lib/recd/datasets/ml-1m"),
            dataset_url: Some("https://files.grouplens.org/datasets/movielens/ml-1m.zip".into()),
            dataset_md5: "c4d9eecfca2ab87c1945afe126590906".into(),
        }
    }
}

/// The `[training]` section: the training parameters and the gates a
/// retrain must pass.
#[derive(Debug, Clone, PartialEq)]
pub struct Training {
    /// The keys of [`Params`] the table sets, the others at the defaults of
    /// its algorithm.
    pub params: Params,
    /// The keys of `params` the table sets.
    pub params_set: Vec<String>,
    pub holdout_fraction: f64,
    pub min_new_ratings: u64,
    pub max_rmse_increase: f64,
    /// A run still going after this long is cancelled (`max_duration_secs`;
    /// 0 for no limit).
    pub max_duration: Option<Duration>,
    /// Keep a binary copy of the base dataset's ratings in the state
    /// directory, read instead of the text while the file is unchanged.
    pub dataset_cache: bool,
}

impl Training {
    /// The parameters of a run: `overrides`, over the keys this table sets,
    /// over the defaults of the algorithm the two choose.
    pub fn params_with(&self, overrides: &ParamOverrides) -> Result<Params, ParamError> {
        let algorithm = overrides.algorithm.unwrap_or(self.params.algorithm);
        let base = Params::defaults_for(algorithm).with_keys_of(&self.params, &self.params_set);
        overrides.apply(&base)
    }
}

impl Default for Training {
    fn default() -> Training {
        Training {
            params: Params::defaults_for(Algorithm::DEFAULT),
            params_set: Vec::new(),
            holdout_fraction: 0.1,
            min_new_ratings: 100,
            max_rmse_increase: 0.02,
            max_duration: Some(Duration::from_secs(6 * 3600)),
            dataset_cache: true,
        }
    }
}

/// The `[models]` section.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Models {
    pub keep_backups: usize,
}

impl Default for Models {
    fn default() -> Models {
        Models { keep_backups: 5 }
    }
}

/// The `[daemon]` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Daemon {
    pub socket: PathBuf,
    /// Members of this group may call admin methods (besides root and the
    /// daemon's own user). None: no group (the key set to "").
    pub admin_group: Option<String>,
    pub max_connections: usize,
    pub max_line_bytes: usize,
    #[serde(rename = "idle_timeout_secs", deserialize_with = "seconds")]
    pub idle_timeout: Duration,
    /// A reply the peer takes no byte of for this long ends the connection.
    #[serde(rename = "write_timeout_secs", deserialize_with = "seconds")]
    pub write_timeout: Duration,
    /// The largest ratings file one `import` may send.
    pub max_import_bytes: u64,
    #[serde(rename = "shutdown_timeout_secs", deserialize_with = "seconds")]
    pub shutdown_timeout: Duration,
}

impl Default for Daemon {
    fn default() -> Daemon {
        Daemon {
            socket: PathBuf::from("/run/recd/recd.sock"),
            admin_group: Some("recd-admin".into()),
            max_connections: 1024,
            max_line_bytes: 64 * 1024,
            idle_timeout: Duration::from_secs(300),
            write_timeout: Duration::from_secs(30),
            max_import_bytes: 1 << 30,
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

/// The `[logging]` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Logging {
    /// Directory of the rotated log files; None logs to stderr only (the
    /// key set to "").
    pub dir: Option<PathBuf>,
    pub keep_files: usize,
    pub level: String,
}

impl Default for Logging {
    fn default() -> Logging {
        Logging {
            dir: Some(PathBuf::from("/var/log/recd")),
            keep_files: 14,
            level: "info".into(),
        }
    }
}

/// The `[database]` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Database {
    /// The key as written: "" is `recd.db` in the state dir; `sqlite:PATH`
    /// (relative to the config's directory) or a PostgreSQL URL.
    pub url: String,
    /// What `url` names, resolved when the config is parsed.
    #[serde(skip)]
    pub target: Target,
    pub max_connections: u32,
    #[serde(rename = "busy_timeout_ms", deserialize_with = "milliseconds")]
    pub busy_timeout: Duration,
}

impl Default for Database {
    fn default() -> Database {
        Database {
            url: String::new(),
            target: Target::Sqlite(PathBuf::from("/var/lib/recd/recd.db")),
            max_connections: 8,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

impl Database {
    pub fn options(&self) -> crate::store::Options {
        crate::store::Options {
            max_connections: self.max_connections,
            busy_timeout: self.busy_timeout,
        }
    }
}

/// The `[metrics]` section: the HTTP endpoint for Prometheus and load
/// balancers (`/metrics`, `/healthz`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Metrics {
    /// The key as written: "" (the default) serves no endpoint; else an IP
    /// address and a port.
    pub listen: String,
    /// What `listen` names, resolved when the config is parsed.
    #[serde(skip)]
    pub address: Option<SocketAddr>,
}

impl Metrics {
    /// The address `listen` names; None for "".
    pub(super) fn address_of(listen: &str) -> Result<Option<SocketAddr>, String> {
        let listen = listen.trim();
        if listen.is_empty() {
            return Ok(None);
        }
        listen.parse().map(Some).map_err(|_| {
            format!(
                "must be \"\" (no endpoint) or an IP address and a port, such as \
                 127.0.0.1:9464 or [::1]:9464; got '{listen}'"
            )
        })
    }
}

/// The `[ratings]` section is `store::rules::Rules`, read through this
/// description of its fields (the compiler checks it names them all).
#[derive(Deserialize)]
#[serde(remote = "Rules", default = "Rules::default", deny_unknown_fields)]
pub(super) struct RulesKeys {
    min: f32,
    max: f32,
    step: f32,
    max_user_id_bytes: usize,
}

/// The `[fold_in]` section: users the model has not seen.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FoldIn {
    /// Below this many ratings, users are recommended movies related to
    /// the ones they rated.
    pub min_ratings: usize,
    /// How many related movies those recommendations are chosen from.
    pub related_movies: usize,
    /// `m` of the damped mean that ranks movies for users with no ratings.
    pub popularity_damping: f32,
    /// Folded-in users kept per model.
    pub cache_users: usize,
}

impl Default for FoldIn {
    fn default() -> FoldIn {
        FoldIn {
            min_ratings: 20,
            related_movies: 50,
            popularity_damping: 10.0,
            cache_users: 100_000,
        }
    }
}

fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    u64::deserialize(d).map(Duration::from_secs)
}

fn milliseconds<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    u64::deserialize(d).map(Duration::from_millis)
}

/// The keys of `[training]` that are not training parameters.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Gate {
    HoldoutFraction,
    MinNewRatings,
    MaxRmseIncrease,
    MaxDurationSecs,
    DatasetCache,
}

/// A key of `[training]`.
enum Key {
    Gate(Gate),
    Param(String),
}

// `[training]` holds `Params` and four more keys in one table. Serde's
// `flatten` would read it, but through a buffer that loses the line of a bad
// value and the name of its key; so the table is handed to `Params`'s own
// deserializer with the four other keys taken out on the way.
impl<'de> Deserialize<'de> for Training {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Training, D::Error> {
        d.deserialize_map(TrainingVisitor)
    }
}

struct TrainingVisitor;

impl<'de> Visitor<'de> for TrainingVisitor {
    type Value = Training;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the [training] table")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Training, A::Error> {
        let mut training = Training::default();
        let set = Params::deserialize(GatesTaken {
            map,
            training: &mut training,
        })?;
        let algorithm = if training.params_set.iter().any(|k| k == "algorithm") {
            set.algorithm
        } else {
            Algorithm::DEFAULT
        };
        training.params = Params::defaults_for(algorithm).with_keys_of(&set, &training.params_set);
        Ok(training)
    }
}

/// The `[training]` table as `Params` sees it: its own keys only.
struct GatesTaken<'a, A> {
    map: A,
    training: &'a mut Training,
}

impl<'de, A: MapAccess<'de>> Deserializer<'de> for GatesTaken<'_, A> {
    type Error = A::Error;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        visitor.visit_map(ParamKeys {
            map: self.map,
            training: self.training,
            fields,
        })
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        self.deserialize_struct("", &[], visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

struct ParamKeys<'a, A> {
    map: A,
    training: &'a mut Training,
    /// `Params`'s keys.
    fields: &'static [&'static str],
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for ParamKeys<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        // The key is checked inside the parser's own call, so that an
        // unknown key's error points at its line.
        while let Some(key) = self.map.next_key_seed(KnownKey(self.fields))? {
            let t = &mut *self.training;
            match key {
                Key::Gate(Gate::HoldoutFraction) => t.holdout_fraction = self.map.next_value()?,
                Key::Gate(Gate::MinNewRatings) => t.min_new_ratings = self.map.next_value()?,
                Key::Gate(Gate::MaxRmseIncrease) => t.max_rmse_increase = self.map.next_value()?,
                Key::Gate(Gate::MaxDurationSecs) => {
                    let secs: u64 = self.map.next_value()?;
                    t.max_duration = (secs > 0).then(|| Duration::from_secs(secs));
                }
                Key::Gate(Gate::DatasetCache) => t.dataset_cache = self.map.next_value()?,
                Key::Param(key) => {
                    t.params_set.push(key.clone());
                    return seed.deserialize(key.into_deserializer()).map(Some);
                }
            }
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }
}

/// A key of `Params` or a gate; anything else is an unknown field.
struct KnownKey(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for KnownKey {
    type Value = Key;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        let key = String::deserialize(d)?;
        let as_gate: Result<Gate, de::value::Error> =
            Gate::deserialize(key.as_str().into_deserializer());
        match as_gate {
            Ok(gate) => Ok(Key::Gate(gate)),
            Err(_) if self.0.contains(&key.as_str()) => Ok(Key::Param(key)),
            Err(_) => Err(de::Error::unknown_field(&key, self.0)),
        }
    }
}
