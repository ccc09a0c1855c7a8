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

/// What started a run.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Trigger {
    /// The daemon's schedule.
    Scheduled,
    /// A `retrain` request.
    Manual,
    /// `recd train`, outside the daemon.
    Offline,
    /// The daemon's start, with no model to serve.
    Startup,
}

/// Where a run is, or how it ended.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::EnumIter,
    strum::EnumCount,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum RunStatus {
    Running,
    /// A new model was published.
    Published,
    /// Nothing was trained: too few new ratings, or another run in progress.
    Skipped,
    /// Trained, but the quality gate refused the model.
    Rejected,
    Failed,
    /// Cancelled on request, at shutdown, or past its maximum duration.
    Cancelled,
}

impl RunStatus {
    pub fn name(self) -> &'static str {
        self.into()
    }
}

impl Trigger {
    pub fn name(self) -> &'static str {
        self.into()
    }
}

/// A training run as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub id: i64,
    pub trigger: Trigger,
    pub status: RunStatus,
    /// Unix seconds.
    #[serde(with = "rfc3339")]
    pub started_at: i64,
    /// Unix seconds; `None` while the run goes on.
    #[serde(with = "rfc3339::option")]
    pub finished_at: Option<i64>,
    /// How long it took, once ended.
    pub seconds: Option<f64>,
    pub params: serde_json::Value,
    pub metrics: Option<serde_json::Value>,
    pub counts: Option<serde_json::Value>,
    /// Ratings in the database past the served model's watermark, when the
    /// run counted them.
    pub new_ratings: Option<i64>,
    pub watermark: i64,
    pub model_version: Option<String>,
    /// Why it was skipped, rejected, failed or cancelled.
    pub reason: Option<String>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEnd {
    pub status: RunStatus,
    pub seconds: f64,
    pub metrics: Option<serde_json::Value>,
    pub counts: Option<serde_json::Value>,
    pub new_ratings: Option<i64>,
    pub watermark: i64,
    pub model_version: Option<String>,
    pub reason: Option<String>,
}

/// Unix seconds as RFC 3339 text (`serde(with)`).
pub(super) mod rfc3339 {
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

const COLUMNS: &str = "id, triggered_by, status, started_at, finished_at, duration_ms, params, \
                       metrics, counts, new_ratings, watermark, model_version, reason";

/// A row of [`COLUMNS`] as a [`Run`]. A trigger or status this version does
/// not know (written by a newer one) reads as `manual` / `failed` rather
/// than hiding the run.
macro_rules! run_of_row {
    ($row:expr) => {{
        let row = $row;
        let json = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
        let trigger: String = row.try_get(1)?;
        let status: String = row.try_get(2)?;
        let duration_ms: Option<i64> = row.try_get(5)?;
        Run {
            id: row.try_get(0)?,
            trigger: trigger.parse().unwrap_or(Trigger::Manual),
            status: status.parse().unwrap_or(RunStatus::Failed),
            started_at: row.try_get(3)?,
            finished_at: row.try_get(4)?,
            seconds: duration_ms.map(|ms| ms as f64 / 1000.0),
            params: json(row.try_get(6)?).unwrap_or_default(),
            metrics: json(row.try_get(7)?),
            counts: json(row.try_get(8)?),
            new_ratings: row.try_get(9)?,
            watermark: row.try_get(10)?,
            model_version: row.try_get(11)?,
            reason: row.try_get(12)?,
        }
    }};
}

/// Which runs [`Store::runs`] returns.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunFilter {
    pub status: Option<RunStatus>,
    pub trigger: Option<Trigger>,
}

impl Store {
    /// Record the start of a training run; returns its id, which is also
    /// the daemon's job id for it.
    pub async fn start_run(
        &self,
        started_at: i64,
        trigger: Trigger,
        params: &serde_json::Value,
    ) -> Result<i64, StoreError> {
        let id: i64 = write_tx!(self, tx => {
            sqlx::query_scalar(
                "INSERT INTO training_runs (started_at, triggered_by, status, params) \
                 VALUES ($1, $2, 'running', $3) RETURNING id",
            )
            .bind(started_at)
            .bind(trigger.name())
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
        let duration_ms = (end.seconds * 1000.0).round() as i64;
        write_tx!(self, tx => {
            sqlx::query(
                "UPDATE training_runs SET finished_at = $1, status = $2, metrics = $3, \
                 counts = $4, watermark = $5, model_version = $6, reason = $7, \
                 new_ratings = $8, duration_ms = $9 WHERE id = $10",
            )
            .bind(finished_at)
            .bind(end.status.name())
            .bind(json(&end.metrics))
            .bind(json(&end.counts))
            .bind(end.watermark)
            .bind(end.model_version.as_deref())
            .bind(end.reason.as_deref())
            .bind(end.new_ratings)
            .bind(duration_ms)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        });
        Ok(())
    }

    /// Change how run `id` is recorded to have ended (a model published but
    /// then not served is a failure).
    pub async fn set_run_status(
        &self,
        id: i64,
        status: RunStatus,
        reason: &str,
    ) -> Result<(), StoreError> {
        write_tx!(self, tx => {
            sqlx::query("UPDATE training_runs SET status = $1, reason = $2 WHERE id = $3")
                .bind(status.name())
                .bind(reason)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }

    /// Record as failed, with `reason`, the runs a daemon left `running`
    /// that started before `before` (offline runs are left alone: one may
    /// be going on beside the daemon). Their end is unknown: it is recorded
    /// as their start, so a schedule catching up counts from when the run
    /// began, not from when its failure was noticed. Returns how many.
    pub async fn end_abandoned_runs(&self, before: i64, reason: &str) -> Result<u64, StoreError> {
        let n = write_tx!(self, tx => {
            sqlx::query(
                "UPDATE training_runs SET status = 'failed', reason = $1, \
                 finished_at = started_at \
                 WHERE status = 'running' AND triggered_by <> 'offline' AND started_at < $2",
            )
            .bind(reason)
            .bind(before)
            .execute(&mut *tx)
            .await?
            .rows_affected()
        });
        Ok(n)
    }

    /// The most recent training run.
    pub async fn last_run(&self) -> Result<Option<Run>, StoreError> {
        Ok(self.runs(1, RunFilter::default()).await?.pop())
    }

    /// Run `id`, if recorded.
    pub async fn run(&self, id: i64) -> Result<Option<Run>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM training_runs WHERE id = $1");
        let run = on_pool!(self, pool => {
            match sqlx::query(&sql).bind(id).fetch_optional(pool).await? {
                Some(row) => Some(run_of_row!(row)),
                None => None,
            }
        });
        Ok(run)
    }

    /// Up to `limit` runs, newest first, those `filter` keeps.
    pub async fn runs(&self, limit: u32, filter: RunFilter) -> Result<Vec<Run>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM training_runs \
             WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR triggered_by = $2) \
             ORDER BY id DESC LIMIT $3"
        );
        let status = filter.status.map(RunStatus::name);
        let trigger = filter.trigger.map(Trigger::name);
        let runs = on_pool!(self, pool => {
            let rows = sqlx::query(&sql)
                .bind(status)
                .bind(trigger)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?;
            let mut runs = Vec::with_capacity(rows.len());
            for row in rows {
                runs.push(run_of_row!(row));
            }
            runs
        });
        Ok(runs)
    }

    /// A value of the scheduler's durable state.
    pub async fn schedule_state(&self, key: &str) -> Result<Option<String>, StoreError> {
        let value = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT value FROM schedule_state WHERE key = $1")
                .bind(key)
                .fetch_optional(pool)
                .await?
        });
        Ok(value)
    }

    /// Set (`Some`) or clear (`None`) a value of the scheduler's state.
    pub async fn set_schedule_state(
        &self,
        key: &str,
        value: Option<&str>,
    ) -> Result<(), StoreError> {
        write_tx!(self, tx => {
            match value {
                Some(value) => sqlx::query(
                    "INSERT INTO schedule_state (key, value) VALUES ($1, $2) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                )
                .bind(key)
                .bind(value)
                .execute(&mut *tx)
                .await?,
                None => sqlx::query("DELETE FROM schedule_state WHERE key = $1")
                    .bind(key)
                    .execute(&mut *tx)
                    .await?,
            };
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_on_the_wire_and_read_back() {
        let run = Run {
            id: 3,
            trigger: Trigger::Scheduled,
            status: RunStatus::Running,
            started_at: 978_300_760,
            finished_at: None,
            seconds: None,
            params: serde_json::json!({"n_factors": 100}),
            metrics: None,
            counts: None,
            new_ratings: Some(120),
            watermark: 0,
            model_version: None,
            reason: None,
        };
        let v = serde_json::to_value(&run).unwrap();
        assert_eq!(v["started_at"], "2000-12-31T22:12:40Z");
        assert_eq!(v["finished_at"], serde_json::Value::Null);
        assert_eq!(
            (&v["trigger"], &v["status"]),
            (&"scheduled".into(), &"running".into())
        );
        assert_eq!(serde_json::from_value::<Run>(v).unwrap(), run);
        let done = Run {
            finished_at: Some(978_300_820),
            status: RunStatus::Published,
            seconds: Some(60.0),
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
