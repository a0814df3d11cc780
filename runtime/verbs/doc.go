// Package verbs is the Tropo-style API of spec/lua-api.md: one file per
// verb. Each verb declares what it needs (a call, an unanswered call, a
// conversation) and otherwise answers with the documented fallback (an
// "error" event, a no-op).
//
// A Runtime belongs to one session and is used only from that session's
// goroutine. Verbs that block (say, ask, record, wait, ...) call
// Host.Blocking first so that waiting does not count as compute, and select
// on the session context so that a stopped session never stays blocked.
//
// Ending verbs (hangup, reject) stop the session through Host.Stop: pcall
// cannot catch them.
package verbs
