//! Writing ratings: a list of ratings, removals and erasures applied in
//! order in one transaction, each answered with what it did, and `import`
//! on top of it.
//!
//! Writing a run of ratings is the one statement that differs between the
//! backends ([`WriteRun`]); every other statement is the same text on both.
//! This module never batches callers together (that is
//! [`super::writer`]) and never checks what a rating means (that is
//! [`super::rules`]).

use std::collections::{HashMap, HashSet};

use sqlx::Row;

use super::connect::write_tx;
use super::ratings::ROWS_PER_STATEMENT;
use super::{NewRating, Store, StoreError};

/// A write, as the batching writer hands them over.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    Rate(NewRating),
    Unrate {
        user: String,
        movie: u32,
    },
    /// Every rating of `user` deleted and the erasure recorded (`erasures`).
    Forget {
        user: String,
        /// Unix seconds.
        at: i64,
        /// Who asked, for the record: the socket peer's uid, or the HTTP
        /// token's name.
        by_uid: Option<u32>,
        by_token: Option<String>,
    },
}

impl Write {
    /// Whose rating it writes.
    pub fn user(&self) -> &str {
        match self {
            Write::Rate(r) => &r.user,
            Write::Unrate { user, .. } | Write::Forget { user, .. } => user,
        }
    }
}

/// What a write did: the new rating's sequence number, whether a rating
/// was removed, or the erasure's id and how many ratings it deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    Rated { seq: i64 },
    Unrated { removed: bool },
    Forgotten { erasure: i64, deleted: u64 },
}

/// The future of a [`WriteRun::write_run`].
type RunFuture<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Vec<(String, i64, i64)>, sqlx::Error>> + Send + 'a>,
>;

/// Write ratings, at most one per user and movie, in place of any earlier
/// rating of theirs: the one statement that differs between the backends.
/// Returns each row's (user, movie, seq).
trait WriteRun {
    fn write_run<'a>(&'a mut self, rows: &'a [&'a NewRating]) -> RunFuture<'a>;
}

/// A row of `RETURNING user_id, movie_id, seq`.
fn returned<'r, R: Row>(row: &'r R) -> Result<(String, i64, i64), sqlx::Error>
where
    usize: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
}

/// SQLite: the rows go as multi-row statements, one delete and one insert
/// (an upsert cannot give the row a new `seq`: it is the rowid).
impl WriteRun for sqlx::SqliteConnection {
    fn write_run<'a>(&'a mut self, rows: &'a [&'a NewRating]) -> RunFuture<'a> {
        Box::pin(async move {
            let mut del =
                sqlx::QueryBuilder::new("DELETE FROM ratings WHERE (user_id, movie_id) IN (");
            del.push_values(rows, |mut b, r| {
                b.push_bind(r.user.as_str()).push_bind(i64::from(r.movie));
            });
            del.push(")");
            del.build().execute(&mut *self).await?;
            let mut ins = sqlx::QueryBuilder::new(
                "INSERT INTO ratings (user_id, movie_id, rating, rated_at) ",
            );
            ins.push_values(rows, |mut b, r| {
                b.push_bind(r.user.as_str())
                    .push_bind(i64::from(r.movie))
                    .push_bind(f64::from(r.rating))
                    .push_bind(r.rated_at);
            });
            ins.push(" RETURNING user_id, movie_id, seq");
            ins.build()
                .fetch_all(&mut *self)
                .await?
                .iter()
                .map(returned)
                .collect()
        })
    }
}

/// PostgreSQL: one upsert of the rows as arrays (four parameters whatever
/// their number, so one prepared statement); a re-rating takes the next
/// `seq` from the sequence, as a new row would.
impl WriteRun for sqlx::PgConnection {
    fn write_run<'a>(&'a mut self, rows: &'a [&'a NewRating]) -> RunFuture<'a> {
        Box::pin(async move {
            let users: Vec<&str> = rows.iter().map(|r| r.user.as_str()).collect();
            let movies: Vec<i64> = rows.iter().map(|r| i64::from(r.movie)).collect();
            let ratings: Vec<f64> = rows.iter().map(|r| f64::from(r.rating)).collect();
            let times: Vec<i64> = rows.iter().map(|r| r.rated_at).collect();
            sqlx::query(
                "INSERT INTO ratings (user_id, movie_id, rating, rated_at) \
                 SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::float8[], $4::bigint[]) \
                 ON CONFLICT (user_id, movie_id) DO UPDATE \
                 SET rating = EXCLUDED.rating, rated_at = EXCLUDED.rated_at, seq = DEFAULT \
                 RETURNING user_id, movie_id, seq",
            )
            .bind(users)
            .bind(movies)
            .bind(ratings)
            .bind(times)
            .fetch_all(&mut *self)
            .await?
            .iter()
            .map(returned)
            .collect()
        })
    }
}

impl Store {
    /// Apply `writes` in order in one transaction: all or none.
    pub async fn write(&self, writes: &[Write]) -> Result<Vec<Done>, StoreError> {
        let done = write_tx!(self, tx => {
            let mut done = vec![Done::Unrated { removed: false }; writes.len()];
            let mut k = 0;
            while k < writes.len() {
                if let Write::Unrate { user, movie } = &writes[k] {
                    let n = sqlx::query("DELETE FROM ratings WHERE user_id = $1 AND movie_id = $2")
                        .bind(user)
                        .bind(i64::from(*movie))
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    done[k] = Done::Unrated { removed: n > 0 };
                    k += 1;
                    continue;
                }
                // The record and the deletion commit together: a reader that
                // sees the record (the retrain pipeline) sees no rating of theirs.
                if let Write::Forget {
                    user,
                    at,
                    by_uid,
                    by_token,
                } = &writes[k]
                {
                    let deleted = sqlx::query("DELETE FROM ratings WHERE user_id = $1")
                        .bind(user)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    let erasure: i64 = sqlx::query_scalar(
                        "INSERT INTO erasures (user_id, ratings_deleted, erased_at, by_uid, by_token) \
                         VALUES ($1, $2, $3, $4, $5) RETURNING id",
                    )
                    .bind(user)
                    .bind(deleted as i64)
                    .bind(*at)
                    .bind(by_uid.map(i64::from))
                    .bind(by_token)
                    .fetch_one(&mut *tx)
                    .await?;
                    done[k] = Done::Forgotten { erasure, deleted };
                    k += 1;
                    continue;
                }
                // A run of ratings: two statements for the lot. Within the
                // run the last rating of a user and movie is the one kept;
                // the earlier ones are answered with its sequence number.
                let end = writes[k..]
                    .iter()
                    .position(|w| !matches!(w, Write::Rate(_)))
                    .map_or(writes.len(), |p| k + p);
                let run: Vec<&NewRating> = writes[k..end]
                    .iter()
                    .filter_map(|w| match w {
                        Write::Rate(r) => Some(r),
                        Write::Unrate { .. } | Write::Forget { .. } => None,
                    })
                    .collect();
                let mut last = HashMap::with_capacity(run.len());
                for (j, r) in run.iter().enumerate() {
                    last.insert((r.user.as_str(), r.movie), j);
                }
                let rows: Vec<&NewRating> = run
                    .iter()
                    .enumerate()
                    .filter(|(j, r)| last.get(&(r.user.as_str(), r.movie)) == Some(j))
                    .map(|(_, r)| *r)
                    .collect();
                // The sequence number of each kept rating, by its place in the run.
                let mut seqs = vec![None; run.len()];
                for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                    for (user, movie, seq) in (*tx).write_run(chunk).await? {
                        let kept = u32::try_from(movie)
                            .ok()
                            .and_then(|m| last.get(&(user.as_str(), m)));
                        if let Some(&j) = kept {
                            seqs[j] = Some(seq);
                        }
                    }
                }
                for (j, r) in run.iter().enumerate() {
                    let seq = seqs[last[&(r.user.as_str(), r.movie)]]
                        .ok_or_else(|| StoreError::Failed("an inserted rating was not returned".into()))?;
                    done[k + j] = Done::Rated { seq };
                }
                k = end;
            }
            done
        });
        Ok(done)
    }

    /// Write `ratings` in one transaction; a later rating of the same user
    /// and movie replaces an earlier one, in the file as in the database.
    /// Returns how many rows were written.
    pub async fn import(&self, ratings: &[NewRating]) -> Result<u64, StoreError> {
        let writes: Vec<Write> = ratings.iter().cloned().map(Write::Rate).collect();
        let done = self.write(&writes).await?;
        let rows: HashSet<i64> = done
            .iter()
            .filter_map(|d| match d {
                Done::Rated { seq } => Some(*seq),
                Done::Unrated { .. } | Done::Forgotten { .. } => None,
            })
            .collect();
        Ok(rows.len() as u64)
    }
}
