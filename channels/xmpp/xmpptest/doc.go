// Package xmpptest gives tests real XMPP peers: a Prosody server in a temp
// dir, and people logged in with a real client (go-xmpp).
//
//	p := xmpptest.StartProsody(t)           // 127.0.0.1, free ports, stopped by PID at cleanup
//	p.Register(t, "bot", "bot-pw")           // prosodyctl register bot localhost bot-pw
//	p.Register(t, "alice", "alice-pw")
//	// account mode: xmpp.Account{JID: p.JID("bot"), Password: "bot-pw", Server: p.C2S}
//	// component mode: xmpp.Component{Domain: p.ComponentDomain, Server: p.Component, Secret: p.ComponentSecret}
//	alice := xmpptest.Dial(t, p.C2S, p.JID("alice"), "alice-pw")
//	alice.Send(p.JID("bot"), "32801")
//	from, text, err := alice.Next(ctx)
//
// The server allows plain c2s and PLAIN auth, keeps accounts and offline
// messages in its temp dir (Restart keeps them), and serves one component,
// ComponentDomain, with a random secret. StartProsodyWith(t, Options{TLS:
// true}) also offers STARTTLS with a self-signed certificate that
// TLSConfig trusts.
//
// Prosody 0.12 must be installed (Debian: apt-get install prosody); without
// it the test fails with that hint. Running as root, the config sets
// run_as_root and prosody_user "root" (Prosody refuses root otherwise, and
// prosodyctl would switch to a user that cannot write the temp dir).
//
// A Client is a person: it fetches its roster at login (so the server sends
// it subscription approvals), approves subscription requests, and queues
// what arrives — messages for Next/NextMessage, errors for NextError,
// presences for NextPresence. Close logs out.
package xmpptest
