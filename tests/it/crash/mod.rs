//! Crashes: SIGKILL at random moments and at exact points, then what must
//! still hold. `publish`: `recd train` and the daemon killed mid-retrain and
//! inside the publish step; `ratings`: the daemon killed under concurrent
//! writers, on SQLite and on PostgreSQL.
//!
//! CI runs a bounded number of kills; `RECD_LONG_TESTS=1` runs ten times
//! as many (docs/testing.md).

mod publish;
mod ratings;
