// Package channels is the vocabulary every channel adapter and the runtime
// share: who is talking (Address), what they say (Message), the conversation
// a script runs in (Conversation, with Call as its voice extension found by
// type assertion, like http.Flusher), and who handles it (Handler).
//
// It depends on the standard library only. Adapters (channels/web, sip, sms,
// xmpp, ...) turn their wire formats into these types; channels/thread turns
// stateless text traffic into Conversations; runtime/engine implements
// Handler.
//
// Ownership: a Conversation belongs to the goroutine its Handler runs in.
// Returning from Serve ends the conversation. A remote hangup cancels the
// Conversation's Context: blocking calls return and the handler unwinds.
package channels
