package xmpp_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chorus-dev/chorus/channels/xmpp"
	"github.com/chorus-dev/chorus/channels/xmpp/xmpptest"
)

// TestAccountMode runs the account-mode cases against one Prosody.
func TestAccountMode(t *testing.T) {
	p := xmpptest.StartProsody(t)
	p.Register(t, "bot", "bot-pw-1")
	p.Register(t, "alice", "alice-pw")

	t.Run("OneShot", func(t *testing.T) {
		r := start(t, xmpp.Config{Handler: echo, AllowPlaintext: true},
			xmpp.Account{JID: p.JID("bot"), Password: "bot-pw-1", Server: p.C2S})
		waitState(t, r.ch, p.JID("bot"), "connected", 10*time.Second)
		alice := xmpptest.Dial(t, p.C2S, p.JID("alice"), "alice-pw")
		if err := alice.Send(p.JID("bot"), "32801"); err != nil {
			t.Fatal(err)
		}
		from, text, err := alice.Next(ctxT(t, 10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if text != "echo: 32801" || !strings.HasPrefix(from, p.JID("bot")+"/") {
			t.Fatalf("got %q from %q", text, from)
		}
	})
}
