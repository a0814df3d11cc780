// Package storetest is the conformance suite every store.Store passes.
//
// An implementation's tests call Run with a function that opens a fresh,
// empty store for one subtest and arranges (t.Cleanup) for it to be closed.
// The suite checks behaviour only through the store.Store interface, so the
// embedded SQLite store and a PostgreSQL one answer to the same rules:
//
//   - lookups of what does not exist wrap store.ErrNotFound, unique clashes
//     store.ErrConflict (errors.Is);
//   - an account's name and each API key are unique; only key hashes are kept;
//   - app names are unique per account; PutVersion numbers versions from 1
//     and makes the newest live; SetLive rolls back without a new version;
//     ids of deleted apps are not reused;
//   - addresses are normalised (channels.Normalize) before they are stored
//     and looked up: unique per network and normalised address; an app of
//     another account cannot be bound;
//   - credentials and config values round-trip (stored encrypted);
//     MergeConfig keeps other keys, and an empty value removes its key;
//   - kv values with a ttl are absent once expired; KVSet on an unknown app
//     is ErrNotFound;
//   - SaveSession and AppendLog are asynchronous and visible after Sync;
//     the store keeps its own copy of a session's params and transcript;
//     sessions and logs refer to accounts and apps by value (no foreign
//     keys: they are history and outlive the app);
//   - ListSessions is newest first (Limit 0: 100); ListLogs is oldest first
//     by ID: with AfterID or Since the first Limit lines after that point,
//     with neither the newest Limit lines (a tail);
//   - MarkInterrupted ends every live session with "server_restart";
//   - DeleteApp removes versions, config, kv and addresses, keeps sessions
//     and logs.
//
// Times are compared to the microsecond, what PostgreSQL keeps.
package storetest
