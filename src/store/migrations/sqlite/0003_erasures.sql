-- One row per `forget`: who was erased, when, by whom (the socket peer's
-- uid, or the name of the HTTP token),
-- and how many ratings went; never the ratings. A row is also the user's
-- tombstone for every model trained before it (a model records the last
-- erasure its ratings were read after, `erased_through`).
CREATE TABLE erasures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL,
    ratings_deleted BIGINT NOT NULL,
    erased_at BIGINT NOT NULL,
    by_uid BIGINT,
    by_token TEXT
);
CREATE INDEX erasures_by_user ON erasures (user_id);
