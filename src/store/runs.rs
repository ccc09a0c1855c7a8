//! The `training_runs` table: one row per retrain with a database, written
//! when it starts and again when it ends, whatever the end.
//!
//! Times are Unix seconds in the database and RFC 3339 wherever a [`Run`]
//! is serialised (the protocol's `stats`), like every other time on the
//! wire. This module never decides a run's outcome: the pipeline hands it
//! over in a [`RunEnd`].

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::connect::{on_pool, write_tx};
use super::{Store, StoreError};

/// A training run as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub id: i64,
    /// Unix seconds.
    #[serde(with = "rfc3339")]
    pub started_at: i64,
    /// Unix seconds; `None` while the run goes on.
    #[serde(with = "rfc3339::option")]
    pub finished_at: Option<i64>,
    pub status: String,
    pub params: serde_json::Value,
    pub metrics: Option<serde_json::Value>,
    pub counts: Option<serde_json::Value>,
    pub watermark: i64,
    pub model_version: Option<String>,
    pub error: Option<String>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEnd {
    pub status: &'static str,
    pub metrics: Option<serde_json::Value>,
    pub counts: Option<serde_json::Value>,
    pub watermark: i64,
    pub model_version: Option<String>,
    pub error: Option<String>,
}

/// Unix seconds as RFC 3339 text (`serde(with)`).
mod rfc3339 {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(secs: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::clock::rfc3339_unix(*secs))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        parse(&String::deserialize(d)?)
    }

    fn parse<E: Error>(text: &str) -> Result<i64, E> {
        crate::clock::parse_rfc3339(text)
            .ok_or_else(|| E::custom(format!("not an RFC 3339 time: {text:?}")))
    }

    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(secs: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
            match secs {
                Some(secs) => super::serialize(secs, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
            Option::<String>::deserialize(d)?
                .map(|text| super::parse(&text))
                .transpose()
        }
    }
}

impl Store {
    /// Record the start of a training run; returns its id.
    pub async fn start_run(
        &self,
        started_at: i64,
        params: &serde_json::Value,
    ) -> Result<i64, StoreError> {
        let id: i64 = write_tx!(self, tx => {
            sqlx::query_scalar(
                "INSERT INTO training_runs (started_at, status, params) \
                 VALUES ($1, 'running', $2) RETURNING id",
            )
            .bind(started_at)
            .bind(params.to_string())
            .fetch_one(&mut *tx)
            .await?
        });
        Ok(id)
    }

    /// Record how run `id` ended.
    pub async fn finish_run(
        &self,
        id: i64,
        finished_at: i64,
        end: &RunEnd,
    ) -> Result<(), StoreError> {
        let json = |v: &Option<serde_json::Value>| v.as_ref().map(|v| v.to_string());
        write_tx!(self, tx => {
            sqlx::query(
                "UPDATE training_runs SET finished_at = $1, status = $2, metrics = $3, \
                 counts = $4, watermark = $5, model_version = $6, error = $7 WHERE id = $8",
            )
            .bind(finished_at)
            .bind(end.status)
            .bind(json(&end.metrics))
            .bind(json(&end.counts))
            .bind(end.watermark)
            .bind(end.model_version.as_deref())
            .bind(end.error.as_deref())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        });
        Ok(())
    }

    /// The most recent training run.
    pub async fn last_run(&self) -> Result<Option<Run>, StoreError> {
        let run = on_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT id, started_at, finished_at, status, params, metrics, counts, \
                 watermark, model_version, error FROM training_runs ORDER BY id DESC LIMIT 1",
            )
            .fetch_optional(pool)
            .await?;
            match row {
                None => None,
                Some(row) => {
                    let json = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
                    Some(Run {
                        id: row.try_get(0)?,
                        started_at: row.try_get(1)?,
                        finished_at: row.try_get(2)?,
                        status: row.try_get(3)?,
                        params: json(row.try_get(4)?).unwrap_or_default(),
                        metrics: json(row.try_get(5)?),
                        counts: json(row.try_get(6)?),
                        watermark: row.try_get(7)?,
                        model_version: row.try_get(8)?,
                        error: row.try_get(9)?,
                    })
                }
            }
        });
        Ok(run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_on_the_wire_and_read_back() {
        let run = Run {
            id: 3,
            started_at: 978_300_760,
            finished_at: None,
            status: "running".into(),
            params: serde_json::json!({"n_factors": 100}),
            metrics: None,
            counts: None,
            watermark: 0,
            model_version: None,
            error: None,
        };
        let v = serde_json::to_value(&run).unwrap();
        assert_eq!(v["started_at"], "2000-12-31T22:12:40Z");
        assert_eq!(v["finished_at"], serde_json::Value::Null);
        assert_eq!(serde_json::from_value::<Run>(v).unwrap(), run);
        let done = Run {
            finished_at: Some(978_300_820),
            status: "succeeded".into(),
            ..run
        };
        let v = serde_json::to_value(&done).unwrap();
        assert_eq!(v["finished_at"], "2000-12-31T22:13:40Z");
        assert_eq!(serde_json::from_value::<Run>(v).unwrap(), done);
        let mut bad = serde_json::to_value(&done).unwrap();
        bad["started_at"] = serde_json::json!(978_300_760);
        assert!(serde_json::from_value::<Run>(bad).is_err());
    }
}
