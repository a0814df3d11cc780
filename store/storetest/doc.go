// Package storetest is the conformance suite every store.Store passes.
//
// An implementation's tests call Run with a function that opens a fresh,
// empty store for one subtest and arranges (t.Cleanup) for it to be closed.
// The suite checks behaviour only through the store.Store interface, so the
// embedded SQLite store and a PostgreSQL one answer to the same rules:
// sentinel errors (errors.Is ErrNotFound / ErrConflict), normalised address
// uniqueness, encryption round-trips, kv expiry, asynchronous sessions and
// logs made visible by Sync, MarkInterrupted and the DeleteApp cascade.
//
// Times are compared to the microsecond, what PostgreSQL keeps.
package storetest
