// Package thread turns stateless text traffic (web, SMS, XMPP, X, SIP
// MESSAGE, P2P) into conversations.
//
// One conversation lives per (our address, their address). Deliver hands a
// message to the live conversation's inbox, where a waiting ask receives
// it, or starts a new conversation with the message as its initial text and
// runs the Handler on it in a goroutine the Threads owns.
//
// Backpressure: an inbox holds at most Config.QueueDepth messages (16);
// Deliver returns channels.ErrQueueFull beyond that and the adapter answers
// its sender accordingly (the web channel with 429).
//
// Lifetime: a conversation ends when its handler returns, when nothing
// arrives for Config.Idle (its context is cancelled with ErrIdle), or on
// Shutdown (ErrShutdown). Messages still queued when a conversation ends are
// not lost: the first starts the next conversation and the rest follow it.
// Shutdown cancels every conversation and waits for every handler.
package thread
