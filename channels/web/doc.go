// Package web is the web channel: a chat anyone can open, and how tests and
// the CLI talk to an app (spec/rest-api.md, "The web channel").
//
// A sender is the pair (address, from). POST /v1/web/{address}/messages
// delivers one message and answers when the script waits for input, ends,
// or the turn bound runs out, with every reply produced since the previous
// response to that sender. GET /v1/web/{address}/ws?from= is a WebSocket
// that pushes each reply and state change as it happens.
//
// Conversations are run by channels/thread. The Channel owns one sweeper
// goroutine (started by Serve) that forgets idle senders.
//
// Backpressure: each sender is rate limited (Config.PerSender, 429 with
// Retry-After); a conversation queues at most 16 messages (429 beyond);
// a sender keeps at most 256 undelivered replies (the oldest are dropped);
// a WebSocket that cannot keep up is closed.
package web
