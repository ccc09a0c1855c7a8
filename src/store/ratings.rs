//! The `ratings` and `movies` tables: what a rating is as written and as
//! stored, the catalogue, counts, and the queries the daemon and the
//! retrain pipeline read ratings with. Writing is in [`super::write`].
//!
//! The statements are the same text on both backends (`$N` placeholders,
//! `ON CONFLICT`); nothing here checks what a rating means (that is
//! [`super::rules`]).

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::connect::{on_pool, write_tx};
use super::{Store, StoreError};

/// One rating as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stored {
    pub seq: i64,
    pub user: String,
    pub movie: u32,
    pub rating: f32,
    pub rated_at: i64,
}

/// A rating to write.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRating {
    pub user: String,
    pub movie: u32,
    pub rating: f32,
    /// Unix seconds.
    pub rated_at: i64,
}

/// The database's side of `stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    pub ratings: i64,
    pub users: i64,
    /// Distinct movies rated.
    pub movies: i64,
    /// Movies in the catalogue.
    pub catalogue: i64,
    /// The highest sequence number (0: no ratings yet).
    pub max_seq: i64,
}

/// Rows a multi-row statement carries at most (well under both backends'
/// limits on bound parameters).
pub(super) const ROWS_PER_STATEMENT: usize = 500;

/// A `ratings` row, selected as seq, user_id, movie_id, rating, rated_at.
fn stored<'r, R: Row>(row: &'r R) -> Result<Stored, StoreError>
where
    usize: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    f64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(Stored {
        seq: row.try_get(0)?,
        user: row.try_get(1)?,
        movie: u32::try_from(row.try_get::<i64, _>(2)?)
            .map_err(|_| StoreError::Failed("a movie id out of range".into()))?,
        rating: row.try_get::<f64, _>(3)? as f32,
        rated_at: row.try_get(4)?,
    })
}

/// The argument of a [`Store::ratings_where`] filter.
enum Filter<'a> {
    None,
    Seq(i64),
    User(&'a str),
}

impl Store {
    /// Make the catalogue hold `movies` (id, title, genres): new ones are
    /// added and changed ones updated, in one transaction.
    pub async fn put_movies(&self, movies: &[(u32, String, String)]) -> Result<(), StoreError> {
        write_tx!(self, tx => {
            for chunk in movies.chunks(ROWS_PER_STATEMENT) {
                let mut b = sqlx::QueryBuilder::new("INSERT INTO movies (movie_id, title, genres) ");
                b.push_values(chunk, |mut b, (id, title, genres)| {
                    b.push_bind(i64::from(*id)).push_bind(title.as_str()).push_bind(genres.as_str());
                });
                b.push(
                    " ON CONFLICT (movie_id) DO UPDATE SET title = excluded.title, \
                     genres = excluded.genres",
                );
                b.build().execute(&mut *tx).await?;
            }
        });
        Ok(())
    }

    /// Every movie id in the catalogue.
    pub async fn movie_ids(&self) -> Result<Vec<u32>, StoreError> {
        let ids: Vec<i64> = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT movie_id FROM movies ORDER BY movie_id")
                .fetch_all(pool)
                .await?
        });
        Ok(ids
            .into_iter()
            .filter_map(|id| u32::try_from(id).ok())
            .collect())
    }

    pub async fn counts(&self) -> Result<Counts, StoreError> {
        let row = on_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT (SELECT COUNT(*) FROM ratings), \
                        (SELECT COUNT(DISTINCT user_id) FROM ratings), \
                        (SELECT COUNT(DISTINCT movie_id) FROM ratings), \
                        (SELECT COUNT(*) FROM movies), \
                        (SELECT COALESCE(MAX(seq), 0) FROM ratings)",
            )
            .fetch_one(pool)
            .await?;
            (
                row.try_get::<i64, _>(0)?,
                row.try_get::<i64, _>(1)?,
                row.try_get::<i64, _>(2)?,
                row.try_get::<i64, _>(3)?,
                row.try_get::<i64, _>(4)?,
            )
        });
        Ok(Counts {
            ratings: row.0,
            users: row.1,
            movies: row.2,
            catalogue: row.3,
            max_seq: row.4,
        })
    }

    /// Ratings with a sequence number above `watermark`.
    pub async fn count_since(&self, watermark: i64) -> Result<i64, StoreError> {
        let n: i64 = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM ratings WHERE seq > $1")
                .bind(watermark)
                .fetch_one(pool)
                .await?
        });
        Ok(n)
    }

    /// Every rating, in sequence order.
    pub async fn all_ratings(&self) -> Result<Vec<Stored>, StoreError> {
        self.ratings_where("", Filter::None).await
    }

    /// Ratings with a sequence number above `watermark`, in sequence order.
    pub async fn ratings_since(&self, watermark: i64) -> Result<Vec<Stored>, StoreError> {
        self.ratings_where("WHERE seq > $1", Filter::Seq(watermark))
            .await
    }

    /// One user's ratings, in sequence order.
    pub async fn user_ratings(&self, user: &str) -> Result<Vec<Stored>, StoreError> {
        self.ratings_where("WHERE user_id = $1", Filter::User(user))
            .await
    }

    /// Ratings selected by `filter`, whose `$1` is `arg`, in sequence order.
    async fn ratings_where(
        &self,
        filter: &str,
        arg: Filter<'_>,
    ) -> Result<Vec<Stored>, StoreError> {
        let sql = format!(
            "SELECT seq, user_id, movie_id, rating, rated_at FROM ratings {filter} ORDER BY seq"
        );
        let rows = on_pool!(self, pool => {
            let q = sqlx::query(&sql);
            let q = match arg {
                Filter::None => q,
                Filter::Seq(seq) => q.bind(seq),
                Filter::User(user) => q.bind(user),
            };
            let mut out = Vec::new();
            for row in q.fetch_all(pool).await? {
                out.push(stored(&row)?);
            }
            out
        });
        Ok(rows)
    }
}
