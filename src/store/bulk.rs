//! Every rating for a retrain: millions of rows in sequence order, handed
//! to the caller one at a time, in memory bounded whatever their number,
//! by the fastest path each database has. SQLite steps one statement
//! itself on a connection of the pool (sqlx's row stream costs
//! microseconds a row in its channel); PostgreSQL sends the rows with
//! `COPY … TO STDOUT` in its binary format, parsed as the bytes arrive.

use futures_util::StreamExt;

use super::connect::Pool;
use super::{Store, StoreError};

/// One stored rating as a retrain reads it; `user` is borrowed from the
/// reader and valid for the call only.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row<'a> {
    pub seq: i64,
    pub user: &'a str,
    pub movie: u32,
    pub rating: f32,
}

const SELECT: &str = "SELECT seq, user_id, movie_id, rating FROM ratings ORDER BY seq";

impl Store {
    /// Hand every rating to `sink`, in sequence order; how many there were.
    pub async fn each_rating(&self, sink: &mut dyn FnMut(Row<'_>)) -> Result<u64, StoreError> {
        match &self.current().await.1 {
            Pool::Sqlite(pool) => {
                let mut conn = pool.acquire().await?;
                let mut handle = conn.lock_handle().await?;
                // SAFETY: the handle is locked for us alone until it drops,
                // after the read.
                unsafe { sqlite::each(handle.as_raw_handle().as_ptr(), sink) }
            }
            Pool::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                let copy = format!("COPY ({SELECT}) TO STDOUT (FORMAT binary)");
                let mut chunks = conn.copy_out_raw(&copy).await?;
                let mut reader = copy_binary::Reader::default();
                while let Some(chunk) = chunks.next().await {
                    reader.feed(&chunk?, sink)?;
                }
                reader.finish()
            }
        }
    }
}

fn bad_row(seq: i64, what: &str) -> StoreError {
    StoreError::Failed(format!("rating {seq} in the database: {what}"))
}

mod sqlite {
    use std::ffi::CStr;

    use libsqlite3_sys as ffi;

    use super::{bad_row, Row, SELECT};
    use crate::store::StoreError;

    /// Finalizes its statement however the read ends.
    struct Statement(*mut ffi::sqlite3_stmt);

    impl Drop for Statement {
        fn drop(&mut self) {
            // SAFETY: prepared by sqlite3_prepare_v2, finalized once, here.
            unsafe { ffi::sqlite3_finalize(self.0) };
        }
    }

    unsafe fn error(db: *mut ffi::sqlite3, doing: &str) -> StoreError {
        let message = CStr::from_ptr(ffi::sqlite3_errmsg(db)).to_string_lossy();
        StoreError::Failed(format!("{doing}: {message}"))
    }

    /// # Safety
    /// `db` is an open connection no one else uses during the call.
    pub(super) unsafe fn each(
        db: *mut ffi::sqlite3,
        sink: &mut dyn FnMut(Row<'_>),
    ) -> Result<u64, StoreError> {
        let mut stmt = std::ptr::null_mut();
        let rc = ffi::sqlite3_prepare_v2(
            db,
            SELECT.as_ptr().cast(),
            SELECT.len() as i32,
            &mut stmt,
            std::ptr::null_mut(),
        );
        if rc != ffi::SQLITE_OK {
            return Err(error(db, "reading the ratings"));
        }
        let stmt = Statement(stmt);
        let mut n = 0u64;
        loop {
            match ffi::sqlite3_step(stmt.0) {
                ffi::SQLITE_ROW => {}
                ffi::SQLITE_DONE => return Ok(n),
                _ => return Err(error(db, "reading the ratings")),
            }
            let s = stmt.0;
            let seq = ffi::sqlite3_column_int64(s, 0);
            let text = ffi::sqlite3_column_text(s, 1);
            let len = ffi::sqlite3_column_bytes(s, 1);
            let bytes: &[u8] = if text.is_null() || len <= 0 {
                &[]
            } else {
                // SAFETY: SQLite keeps the text, `len` bytes, valid until the
                // next step, and the borrow ends with this iteration.
                std::slice::from_raw_parts(text, len as usize)
            };
            let user =
                std::str::from_utf8(bytes).map_err(|_| bad_row(seq, "its user id is not UTF-8"))?;
            let movie = u32::try_from(ffi::sqlite3_column_int64(s, 2))
                .map_err(|_| bad_row(seq, "its movie id is out of range"))?;
            let rating = ffi::sqlite3_column_double(s, 3) as f32;
            sink(Row {
                seq,
                user,
                movie,
                rating,
            });
            n += 1;
        }
    }
}

pub(super) mod copy_binary;
