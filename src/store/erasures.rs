//! The `erasures` table: one row per `forget`, written in the transaction
//! that deletes the user's ratings ([`super::Write::Forget`]). It is both
//! the audit record (who, how many ratings, when, asked by which uid; never
//! the ratings) and the tombstones: a row applies to every model trained
//! from ratings read before it was written, which a model records as the
//! highest erasure id it saw (`erased_through`).

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::connect::on_pool;
use super::{Store, StoreError};

/// One erasure as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Erasure {
    pub id: i64,
    pub user: String,
    pub ratings_deleted: i64,
    /// Unix seconds (RFC 3339 on the wire).
    #[serde(with = "super::runs::rfc3339")]
    pub erased_at: i64,
    pub by_uid: Option<i64>,
    /// The HTTP token's name, when it came over HTTP.
    #[serde(default)]
    pub by_token: Option<String>,
}

impl Store {
    /// The highest erasure id (0: none yet). Read before the ratings, it
    /// names every erasure whose deletions the ratings read after it lack.
    pub async fn last_erasure(&self) -> Result<i64, StoreError> {
        let id: i64 = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM erasures")
                .fetch_one(pool)
                .await?
        });
        Ok(id)
    }

    /// Erasures with an id above `through`, oldest first: the tombstones of
    /// a model whose `erased_through` it is.
    pub async fn erasures_after(&self, through: i64) -> Result<Vec<Erasure>, StoreError> {
        self.erasures_where("WHERE id > $1 ORDER BY id", through)
            .await
    }

    /// The latest `limit` erasures, newest first (`history`).
    pub async fn latest_erasures(&self, limit: u32) -> Result<Vec<Erasure>, StoreError> {
        self.erasures_where("ORDER BY id DESC LIMIT $1", i64::from(limit))
            .await
    }

    async fn erasures_where(&self, tail: &str, bound: i64) -> Result<Vec<Erasure>, StoreError> {
        let query = format!(
            "SELECT id, user_id, ratings_deleted, erased_at, by_uid, by_token FROM erasures {tail}"
        );
        let rows = on_pool!(self, pool => {
            let rows = sqlx::query(&query)
            .bind(bound)
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(Erasure {
                    id: row.try_get(0)?,
                    user: row.try_get(1)?,
                    ratings_deleted: row.try_get(2)?,
                    erased_at: row.try_get(3)?,
                    by_uid: row.try_get(4)?,
                    by_token: row.try_get(5)?,
                });
            }
            out
        });
        Ok(rows)
    }
}
