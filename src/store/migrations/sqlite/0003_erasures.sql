-- One row per `forget`: who was erased, when, by whom (the peer's uid),
-- and how many ratings went; never the ratings. A row is also the user's
-- tombstone for every model trained before it (a model records the last
-- erasure its ratings were read after, `erased_through`).
CREATE TABLE erasures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL,
    ratings_deleted BIGINT NOT NULL,
    erased_at BIGINT NOT NULL,
    by_uid BIGINT
);
CREATE INDEX erasures_by_user ON erasures (user_id);
