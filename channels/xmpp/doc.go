// Package xmpp is the XMPP (Jabber) channel: apps answer instant messages,
// and scripts see currentCall.network "JABBER", channel "TEXT".
//
// # Use
//
//	ch, err := xmpp.New(xmpp.Config{
//		Handler:    engine,          // runs each conversation
//		NewID:      ids.New,
//		Components: []xmpp.Component{{Domain: "apps.example.com", Server: "127.0.0.1:5347", Secret: secret}},
//		Resolve:    store.IsBound,   // component JIDs without an app get <service-unavailable/>
//		Logger:     log,
//	})
//	ch.SetAccounts([]xmpp.Account{{JID: "weather@example.com", Password: pw}})
//	go ch.Serve(ctx)                 // connects, reconnects, until ctx is done or Shutdown
//	st, detail, retryAt := ch.State("weather@example.com") // for GET /v1/addresses
//	...
//	ch.Shutdown(ctx)                 // drain conversations, then log out
//
// SetAccounts may be called at any time (before Serve, while it runs,
// concurrently): it reconciles the set of account-mode JIDs. Call it again
// whenever addresses are added, removed or get new credentials.
//
// # Two ways in
//
// Account mode: Chorus logs in as a JID with its password, like any client.
// Each account has its own connection and goroutine; one failing does not
// touch the others. Component mode (XEP-0114): Chorus attaches to the
// server as a component and answers every <name>@<component domain>; a
// message to a JID no app is bound to (Config.Resolve) is answered with a
// <service-unavailable/> error, a presence subscription to a bound one is
// approved (subscribed, then available presence).
//
// A conversation runs per (our JID, their bare JID) through channels/thread,
// which outlives connections: a person who answers an ask after a
// reconnection continues the same conversation. Messages of type chat,
// normal or none with a body start or feed conversations; groupchat,
// headline, error and body-less ones (chat states) are ignored. A reply goes
// as a chat message to the full JID that wrote last (else the bare JID),
// with the <thread> it used. Subscription requests to an account are
// approved and answered with a subscription back.
//
// # How an account connects
//
// The connection is github.com/xmppo/go-xmpp's client, but it does not
// dial the server itself: that library has no way to be handed a connection,
// a context or a login timeout, and after a parse error its decoder lock
// stays taken. So Chorus dials the server, opens a stream and does STARTTLS
// itself (whenever the server offers it; without it only when
// AllowPlaintext; the certificate is checked for the JID's domain, with
// TLSConfig's roots), then points go-xmpp at a one-shot loopback listener
// and relays the two connections. go-xmpp does SASL (SCRAM or PLAIN),
// binding (resource "chorus-<random>"), initial presence — after which the
// server delivers the messages it stored while we were away — and stanza
// parsing. The relay owns the sockets: it bounds the login (20 s), every
// write (15 s), closes both ends on shutdown, and inspects what the server
// sends before go-xmpp's decoder sees it. An account connection that is
// silent for Config.Ping (90 s) is pinged (XEP-0199) and reset if no answer
// comes within a third of that.
//
// go-xmpp honours HTTP_PROXY/http_proxy for its connection, excepting only
// what NO_PROXY names: when a proxy variable is set, New adds 127.0.0.1 to
// NO_PROXY (and no_proxy) so that the loopback leg never goes to the proxy.
//
// # Hostile servers
//
// Every byte a server sends (account relay or component link) goes through a
// guard that follows the XML just enough to find stanza boundaries. A stanza
// larger than 256 KiB (MaxStanza), elements nested deeper than 64, a DOCTYPE
// (and with it any entity trick such as billion laughs), a comment or a
// processing instruction other than the XML declaration reset the
// connection before a decoder buffers them; malformed XML (an undefined
// entity, a bad close tag, binary) fails the decoder. Either way the
// connection is closed, a warning names the JID or component and why, and
// it reconnects with backoff. Memory stays bounded by one stanza per
// connection.
//
// # Reconnecting and State
//
// A lost connection or failed login is retried after 1 s, doubling to 30 s
// (Config.MinBackoff, MaxBackoff; ±20% jitter), and starts over only once a
// link stayed up 10 s (a server that drops us right after each login keeps
// backing off); a refused password waits the maximum. State reports "connecting", "connected", "failed" with a
// detail that starts with the reason ("unreachable", "TLS refused", "bad
// password", "bad secret", "connection lost", "connection reset" for hostile
// input, "protocol error") and the time of the next attempt, or "disabled"
// for a JID with no account outside the component domains. JIDs of a
// component domain have the component link's state.
//
// # Limits and backpressure
//
//   - Inbound text over 16 KiB (MaxText) is cut at a UTF-8 boundary and
//     the cut logged; replies over 64 KiB (MaxReply) are cut too.
//   - A conversation queues 16 messages (channels/thread); beyond that, or
//     past MaxLive conversations, the sender gets a <resource-constraint/>
//     error (type wait). While the channel shuts down, a new sender gets
//     <service-unavailable/> (type wait); live conversations go on.
//   - Replies an app sends while its link is down are queued — 100 per
//     account, 1,000 per component, each for at most 10 minutes — and sent
//     in order once it is back. Beyond that Send and SendMessage return an
//     error wrapping channels.ErrUnavailable.
//   - Nothing the server stored is lost: what people send while we are away
//     waits in the server's offline storage. There are no stream-management
//     acks (XEP-0198): a reply written in the instant a connection dies can
//     be lost with it.
//
// Credentials (passwords, component secrets) are never logged.
//
// # Goroutines
//
// Serve starts one runner per account and per component and waits for all
// of them before it returns. While connected, a runner owns a reader and a
// keepalive goroutine, and an account's relay owns two copy goroutines;
// each ends when its connection closes. SetAccounts retires a removed
// account's runner (it logs out in the background, still counted by
// Serve). Shutdown drains the conversations (channels/thread), then cancels
// the runners, which send unavailable presence and </stream:stream> and
// wait up to 2 s for the server's close.
//
// Not supported: direct TLS (XEP-0368), SRV lookups, stream management
// (XEP-0198), carbons, group chats.
//
// Package xmpptest starts a real Prosody and logs people in for tests.
package xmpp
