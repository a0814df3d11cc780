-- Chorus schema, version 1. Times are INTEGER unix nanoseconds (UTC);
-- a zero time is NULL. Secrets (address credentials, app config values) are
-- BLOBs sealed with AES-256-GCM by package store.

-- +goose Up
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- AUTOINCREMENT: ids are never reused (sessions and logs keep them).
CREATE TABLE accounts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- hash: hex sha256 of the API key (store.HashKey).
CREATE TABLE api_keys (
    hash       TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX api_keys_account ON api_keys(account_id);

CREATE TABLE apps (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id   INTEGER NOT NULL REFERENCES accounts(id),
    name         TEXT NOT NULL,
    live_version INTEGER NOT NULL DEFAULT 0,
    versions     INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    UNIQUE (account_id, name)
);

-- Every version is kept. archive: the upload as sent (bundles).
CREATE TABLE versions (
    app_id     INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    version    INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    size       INTEGER NOT NULL,
    archive    BLOB,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (app_id, version)
);

-- The files of a version (a script: main.lua only; a bundle: all of them).
CREATE TABLE version_files (
    app_id  INTEGER NOT NULL,
    version INTEGER NOT NULL,
    path    TEXT NOT NULL,
    content BLOB NOT NULL,
    PRIMARY KEY (app_id, version, path),
    FOREIGN KEY (app_id, version) REFERENCES versions(app_id, version) ON DELETE CASCADE
) WITHOUT ROWID;

-- address: normalised (channels.Normalize). credentials: sealed JSON or NULL.
CREATE TABLE addresses (
    network     TEXT NOT NULL,
    address     TEXT NOT NULL,
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    app_id      INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    route       TEXT NOT NULL DEFAULT '',
    credentials BLOB,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (network, address)
);
CREATE INDEX addresses_account ON addresses(account_id);
CREATE INDEX addresses_app ON addresses(app_id);

-- value: sealed.
CREATE TABLE app_config (
    app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    key    TEXT NOT NULL,
    value  BLOB NOT NULL,
    PRIMARY KEY (app_id, key)
) WITHOUT ROWID;

-- expires_at NULL: kept until deleted.
CREATE TABLE kv (
    app_id     INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    expires_at INTEGER,
    PRIMARY KEY (app_id, key)
) WITHOUT ROWID;
CREATE INDEX kv_expires ON kv(expires_at) WHERE expires_at IS NOT NULL;

-- Sessions and logs are history: no foreign keys, they outlive their app.
CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL,
    app_id     INTEGER NOT NULL,
    app_name   TEXT NOT NULL,
    version    INTEGER NOT NULL,
    network    TEXT NOT NULL,
    caller     TEXT NOT NULL,
    called     TEXT NOT NULL,
    state      TEXT NOT NULL,
    started_at INTEGER,
    ended_at   INTEGER,
    end_reason TEXT NOT NULL,
    params     TEXT NOT NULL,     -- JSON object or null
    transcript TEXT NOT NULL      -- JSON array
);
CREATE INDEX sessions_account_app ON sessions(account_id, app_name, started_at);
CREATE INDEX sessions_account ON sessions(account_id, started_at);
CREATE INDEX sessions_started ON sessions(started_at);
CREATE INDEX sessions_live ON sessions(state) WHERE state <> 'ended';

-- AUTOINCREMENT: followers page with AfterID, so ids only grow.
CREATE TABLE logs (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    account_id INTEGER NOT NULL,
    app        TEXT NOT NULL,
    session    TEXT NOT NULL,
    level      TEXT NOT NULL,
    text       TEXT NOT NULL
);
-- Tails and AfterID paging read by id; Since reads by at.
CREATE INDEX logs_account_app ON logs(account_id, app, id);
CREATE INDEX logs_account ON logs(account_id, id);
CREATE INDEX logs_account_app_at ON logs(account_id, app, at);
CREATE INDEX logs_session ON logs(session, id);
CREATE INDEX logs_at ON logs(at);

-- +goose Down
DROP TABLE logs;
DROP TABLE sessions;
DROP TABLE kv;
DROP TABLE app_config;
DROP TABLE addresses;
DROP TABLE version_files;
DROP TABLE versions;
DROP TABLE apps;
DROP TABLE api_keys;
DROP TABLE accounts;
DROP TABLE meta;
