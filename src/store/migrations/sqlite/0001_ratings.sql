-- Ratings the application's users leave. `seq` only grows: a re-rating
-- deletes the old row and inserts a new one, and AUTOINCREMENT never reuses
-- a value, so "ratings since the model's watermark" are those with a larger
-- seq.
CREATE TABLE ratings (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL,
    movie_id INTEGER NOT NULL,
    rating REAL NOT NULL,
    rated_at INTEGER NOT NULL,
    UNIQUE (user_id, movie_id)
);

-- The catalogue, imported from the dataset's movie file at start.
CREATE TABLE movies (
    movie_id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    genres TEXT NOT NULL
);

-- One row per retrain, whatever its end.
CREATE TABLE training_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    status TEXT NOT NULL,
    params TEXT NOT NULL,
    metrics TEXT,
    counts TEXT,
    watermark INTEGER NOT NULL DEFAULT 0,
    model_version TEXT,
    error TEXT
);
