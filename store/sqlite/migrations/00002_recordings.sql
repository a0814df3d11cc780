-- Chorus schema, version 2: call recordings (record() on a call). The WAV
-- is kept in the database with its session, so a backup of the store has
-- everything; a recording is at most a few MiB (maxTime at 8 kHz).

-- +goose Up
CREATE TABLE recordings (
    id         TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    session_id TEXT NOT NULL,
    app_name   TEXT NOT NULL,
    duration   INTEGER NOT NULL, -- nanoseconds
    wav        BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX recordings_account ON recordings(account_id, created_at);

-- +goose Down
DROP TABLE recordings;
