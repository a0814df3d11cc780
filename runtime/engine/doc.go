// Package engine runs one app per conversation. It implements
// channels.Handler: for each conversation it resolves the app bound to the
// address reached, takes the app version's compiled code from its cache,
// starts a sandboxed session (runtime/sandbox) whose limits bound it, opens
// the verbs (runtime/verbs) and modules (json, http, store, config, asset,
// lookup, require) on it, runs the script in the conversation's goroutine,
// and records the session (state, transcript, end reason) in the store.
//
// Ownership: ServeConversation runs in the goroutine of the channel that
// owns the conversation. Sessions launched through the API (Launch) run in
// goroutines the Engine owns; Shutdown stops them and waits.
//
// Caches: compiled code per app version (immutable, so never stale); the
// address -> app route and app configuration are cached and dropped by
// Invalidate, which the API calls after every change.
package engine
