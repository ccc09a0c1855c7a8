-- Ratings the application's users leave. `seq` only grows: a re-rating
-- deletes the old row and inserts a new one with the next value of the
-- sequence, so "ratings since the model's watermark" are those with a
-- larger seq.
CREATE TABLE ratings (
    seq BIGSERIAL PRIMARY KEY,
    user_id TEXT NOT NULL,
    movie_id BIGINT NOT NULL,
    rating DOUBLE PRECISION NOT NULL,
    rated_at BIGINT NOT NULL,
    UNIQUE (user_id, movie_id)
);

-- The catalogue, imported from the dataset's movie file at start.
CREATE TABLE movies (
    movie_id BIGINT PRIMARY KEY,
    title TEXT NOT NULL,
    genres TEXT NOT NULL
);

-- One row per retrain, whatever its end.
CREATE TABLE training_runs (
    id BIGSERIAL PRIMARY KEY,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    status TEXT NOT NULL,
    params TEXT NOT NULL,
    metrics TEXT,
    counts TEXT,
    watermark BIGINT NOT NULL DEFAULT 0,
    model_version TEXT,
    error TEXT
);
