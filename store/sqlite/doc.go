// Package sqlite is the embedded default implementation of store.Store: one
// SQLite file (pure Go driver modernc.org/sqlite, WAL journal, FULL sync,
// foreign keys) whose schema is migrated by goose from the SQL files embedded
// from migrations/ when Open runs.
//
// Connections: all writes share one connection (SQLite allows one writer;
// transactions begin IMMEDIATE so they never deadlock upgrading a read lock);
// reads use a small pool of read-only connections that WAL lets run while the
// writer works.
//
// Ownership and ordering: Open starts one goroutine, the batch writer, and
// Close stops it after a last flush; nothing else runs in the background.
// SaveSession and AppendLog only queue: the writer commits everything queued
// in one transaction at least every Config.FlushInterval (100ms by default),
// sooner when Sync asks or the queue grows large. Saves of the same session
// coalesce. Log line IDs are assigned in commit order. Session and log reads
// first wait for what was queued before them, so a caller reads its own
// writes. The writer also deletes expired kv rows (and, with
// Config.LogRetention, old log lines) every Config.CleanupInterval.
//
// Backpressure: beyond Config.MaxPending queued writes, AppendLog and the
// SaveSession of a new session wait up to 500ms for the writer to take the
// queue (about one commit); then a log line is dropped and counted in a
// warning, while a session is queued anyway: sessions are never dropped, and
// a save of a session already queued replaces it without waiting. A failed commit is
// retried with backoff, and the Syncs waiting for it return its error.
//
// Secrets: address credentials and app configuration values are sealed with
// AES-256-GCM (store.Sealer) under Config.Key, bound to their row. The key's
// fingerprint is recorded on first use; a later Open with another key logs a
// warning, and reads of those secrets fail with an error wrapping
// store.ErrDecrypt that says to restore the original secret.key.
//
// Addresses are normalised with channels.Normalize before they are stored
// and looked up, so uniqueness is per network and normalised address.
package sqlite
