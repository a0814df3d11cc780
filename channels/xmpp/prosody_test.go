package xmpp_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chorus-dev/chorus/channels"
	"github.com/chorus-dev/chorus/channels/xmpp"
	"github.com/chorus-dev/chorus/channels/xmpp/xmpptest"
)

func expect(t *testing.T, c *xmpptest.Client, wantFrom, wantPrefix string) xmpptest.Message {
	t.Helper()
	m, err := c.NextMessage(ctxT(t, 15*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	bare, _, _ := strings.Cut(m.From, "/")
	if bare != wantFrom || !strings.HasPrefix(m.Text, wantPrefix) {
		t.Fatalf("%s got %q from %q, want %q... from %s", c.JID, m.Text, m.From, wantPrefix, wantFrom)
	}
	return m
}

// TestAccountMode runs the account-mode cases against one Prosody.
func TestAccountMode(t *testing.T) {
	p := xmpptest.StartProsody(t)
	for _, u := range []string{"bot", "bot2", "bot3", "alice", "bob"} {
		p.Register(t, u, u+"-pw")
	}
	bot := xmpp.Account{JID: p.JID("bot"), Password: "bot-pw", Server: p.C2S}

	t.Run("BehindAnHTTPProxy", func(t *testing.T) {
		// go-xmpp would send its loopback leg to this (dead) proxy if New
		// did not exempt 127.0.0.1.
		t.Setenv("HTTP_PROXY", "http://127.0.0.1:9")
		t.Setenv("NO_PROXY", "")
		t.Setenv("no_proxy", "")
		r := start(t, xmpp.Config{Handler: echo, AllowPlaintext: true}, bot)
		waitState(t, r.ch, bot.JID, "connected", 10*time.Second)
		if !strings.Contains(os.Getenv("NO_PROXY"), "127.0.0.1") {
			t.Fatalf("NO_PROXY = %q", os.Getenv("NO_PROXY"))
		}
	})

	t.Run("OneShot", func(t *testing.T) {
		r := start(t, xmpp.Config{Handler: echo, AllowPlaintext: true}, bot)
		waitState(t, r.ch, bot.JID, "connected", 10*time.Second)
		alice := xmpptest.Dial(t, p.C2S, p.JID("alice"), "alice-pw")
		if err := alice.Send(bot.JID, "32801"); err != nil {
			t.Fatal(err)
		}
		m := expect(t, alice, bot.JID, "echo: 32801")
		if m.Type != "chat" {
			t.Errorf("reply type %q, want chat", m.Type)
		}
		// A <thread> comes back; text survives UTF-8 and markup.
		text := "héllo ☃ 🌦 <b>&amp;</b> 'quoted\""
		if err := alice.SendThread(bot.JID, text, "th-42"); err != nil {
			t.Fatal(err)
		}
		m = expect(t, alice, bot.JID, "echo: "+text)
		if m.Thread != "th-42" {
			t.Errorf("reply thread %q, want th-42", m.Thread)
		}
		// Chat states (no body) and headlines start nothing.
		_ = alice.SendRaw("<message to='" + bot.JID + "' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>")
		_ = alice.SendRaw("<message to='" + bot.JID + "' type='headline'><body>news</body></message>")
		_ = alice.Send(bot.JID, "after")
		expect(t, alice, bot.JID, "echo: after")
		// No type means "normal": answered like chat.
		_ = alice.SendRaw("<message to='" + bot.JID + "'><body>typeless</body></message>")
		expect(t, alice, bot.JID, "echo: typeless")

		// Over 16 KiB of text: the app gets the first 16 KiB, cut on a
		// character boundary, and the cut is logged.
		long := strings.Repeat("é", 10_000) // 20,000 bytes
		_ = alice.Send(bot.JID, long)
		m = expect(t, alice, bot.JID, "echo: éé")
		got := strings.TrimPrefix(m.Text, "echo: ")
		if len(got) > xmpp.MaxText || !strings.HasSuffix(got, "…") || !utf8.ValidString(got) {
			t.Errorf("a 20,000-byte message reached the app as %d bytes ending %q", len(got), got[len(got)-8:])
		}
		r.logs.waitLog(t, time.Second, "longer than 16 KiB cut", "remote="+p.JID("alice"))

		// Nobody serves this JID.
		err := r.ch.SendMessage(context.Background(), channels.Message{
			From: channels.Address{Network: channels.XMPP, ID: p.JID("stranger")},
			To:   channels.Address{Network: channels.XMPP, ID: p.JID("alice")}, Text: "x"})
		if !errors.Is(err, channels.ErrNoRoute) {
			t.Errorf("SendMessage from an unserved JID: %v, want ErrNoRoute", err)
		}
		if _, err := r.ch.Dial(context.Background(), p.JID("stranger"), p.JID("alice"), channels.DialOptions{}); !errors.Is(err, channels.ErrNoRoute) {
			t.Errorf("Dial from an unserved JID: %v, want ErrNoRoute", err)
		}
	})

	t.Run("MultiTurn", func(t *testing.T) {
		r := start(t, xmpp.Config{Handler: zipBot, AllowPlaintext: true}, bot)
		waitState(t, r.ch, bot.JID, "connected", 10*time.Second)
		alice := xmpptest.Dial(t, p.C2S, p.JID("alice"), "alice-pw")
		_ = alice.Send(bot.JID, "hi")
		expect(t, alice, bot.JID, "What is your ZIP code?")
		_ = alice.Send(bot.JID, "no idea")
		expect(t, alice, bot.JID, "What is your ZIP code?")
		_ = alice.Send(bot.JID, "32801")
		expect(t, alice, bot.JID, "Weather for 32801: sunny")
		if n := r.ch.Threads().Live(); n != 0 {
			t.Errorf("%d conversations live after the app returned", n)
		}
	})

	t.Run("TwoPeopleAtOnce", func(t *testing.T) {
		r := start(t, xmpp.Config{Handler: zipBot, AllowPlaintext: true}, bot)
		waitState(t, r.ch, bot.JID, "connected", 10*time.Second)
		alice := xmpptest.Dial(t, p.C2S, p.JID("alice"), "alice-pw")
		bob := xmpptest.Dial(t, p.C2S, p.JID("bob"), "bob-pw")
		_ = alice.Send(bot.JID, "hi")
		_ = bob.Send(bot.JID, "hello")
		expect(t, alice, bot.JID, "What is your ZIP code?")
		expect(t, bob, bot.JID, "What is your ZIP code?")
		if n := r.ch.Threads().Live(); n != 2 {
			t.Fatalf("%d live conversations, want 2", n)
		}
		_ = bob.Send(bot.JID, "10001")
		_ = alice.Send(bot.JID, "32801")
		a := expect(t, alice, bot.JID, "Weather for 32801")
		b := expect(t, bob, bot.JID, "Weather for 10001")
		if a.Text[len("Weather for 32801"):] == b.Text[len("Weather for 10001"):] {
			t.Errorf("one conversation for two people: %q, %q", a.Text, b.Text)
		}
	})

	t.Run("TwoAccountsOneWrongPassword", func(t *testing.T) {
		wrong := xmpp.Account{JID: p.JID("bot2"), Password: "not-the-password", Server: p.C2S}
		r := start(t, xmpp.Config{Handler: echo, AllowPlaintext: true, MinBackoff: time.Second, MaxBackoff: 20 * time.Second}, bot, wrong)
		waitState(t, r.ch, bot.JID, "connected", 10*time.Second)
		detail := waitState(t, r.ch, wrong.JID, "failed", 10*time.Second)
		if !strings.Contains(detail, "bad password") || !strings.Contains(detail, "refused the login") {
			t.Errorf("failed detail %q does not say the password was refused", detail)
		}
		_, _, retry := r.ch.State(wrong.JID)
		if wait := time.Until(retry); wait < 10*time.Second || wait > 25*time.Second {
			t.Errorf("a refused login retries in %s, want the max backoff (20 s ±20%%)", wait)
		}
		alice := xmpptest.Dial(t, p.C2S, p.JID("alice"), "alice-pw")
		_ = alice.Send(bot.JID, "still here?")
		expect(t, alice, bot.JID, "echo: still here?")
		if st, _, _ := r.ch.State(p.JID("nobody")); st != "disabled" {
			t.Errorf("State of an unknown JID = %s, want disabled", st)
		}
		r.logs.waitLog(t, time.Second, "jid="+wrong.JID, "bad password")
	})

	t.Run("PlaintextRefused", func(t *testing.T) {
		r := start(t, xmpp.Config{Handler: echo}, bot) // AllowPlaintext false; this server has no TLS
		detail := waitState(t, r.ch, bot.JID, "failed", 10*time.Second)
		if !strings.Contains(detail, "TLS refused") || !strings.Contains(detail, "STARTTLS") {
			t.Errorf("detail %q does not say TLS was missing", detail)
		}
	})

	t.Run("SubscriptionThenRemoval", func(t *testing.T) {
		b3 := xmpp.Account{JID: p.JID("bot3"), Password: "bot3-pw", Server: p.C2S}
		r := start(t, xmpp.Config{Handler: echo, AllowPlaintext: true}, b3)
		waitState(t, r.ch, b3.JID, "connected", 10*time.Second)
		alice := xmpptest.Dial(t, p.C2S, p.JID("alice"), "alice-pw")
		alice.Subscribe(b3.JID)
		ctx := ctxT(t, 10*time.Second)
		if _, err := alice.NextPresence(ctx, b3.JID, "subscribed"); err != nil {
			t.Fatal(err)
		}
		if _, err := alice.NextPresence(ctx, b3.JID, "subscribe"); err != nil { // it subscribes back
			t.Fatal(err)
		}
		if _, err := alice.NextPresence(ctx, b3.JID, ""); err != nil { // the bot is online
			t.Fatal(err)
		}
		// Removing the account logs it out: the person sees its resource
		// leave. (Prosody also acknowledged the request with an unavailable
		// presence from the bare JID: not that one.)
		r.ch.SetAccounts(nil)
		for {
			pr, err := alice.NextPresence(ctx, b3.JID, "unavailable")
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(pr.From, b3.JID+"/chorus-") {
				break
			}
		}
		if st, _, _ := r.ch.State(b3.JID); st != "disabled" {
			t.Errorf("State after removal = %s, want disabled", st)
		}
		// Adding it back (a new password would be the same) connects again.
		r.ch.SetAccounts([]xmpp.Account{b3})
		waitState(t, r.ch, b3.JID, "connected", 10*time.Second)
		if _, err := alice.NextPresence(ctx, b3.JID, ""); err != nil {
			t.Fatal(err)
		}
		_ = alice.Send(b3.JID, "back?")
		expect(t, alice, b3.JID, "echo: back?")
	})

	t.Run("ShutdownDrains", func(t *testing.T) {
		r := start(t, xmpp.Config{Handler: zipBot, AllowPlaintext: true}, bot)
		waitState(t, r.ch, bot.JID, "connected", 10*time.Second)
		alice := xmpptest.Dial(t, p.C2S, p.JID("alice"), "alice-pw")
		bob := xmpptest.Dial(t, p.C2S, p.JID("bob"), "bob-pw")
		_ = alice.Send(bot.JID, "hi")
		expect(t, alice, bot.JID, "What is your ZIP code?")
		shut := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			shut <- r.ch.Shutdown(ctx)
		}()
		// Wait until new conversations are refused.
		deadline := time.Now().Add(5 * time.Second)
		for {
			conv, err := r.ch.Dial(context.Background(), bot.JID, p.JID("carol"), channels.DialOptions{})
			if errors.Is(err, channels.ErrUnavailable) {
				break
			}
			if err == nil {
				conv.(channels.Closer).Close()
			}
			if (err != nil && !errors.Is(err, channels.ErrUnavailable)) || time.Now().After(deadline) {
				t.Fatalf("Dial during shutdown: %v", err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		// Someone new is told to come back; the live conversation finishes.
		_ = bob.Send(bot.JID, "hello?")
		e, err := bob.NextError(ctxT(t, 10*time.Second))
		if err != nil || e.Condition != "service-unavailable" {
			t.Errorf("new sender during shutdown: %+v, %v; want a service-unavailable error", e, err)
		}
		_ = alice.Send(bot.JID, "32801")
		expect(t, alice, bot.JID, "Weather for 32801")
		select {
		case err := <-shut:
			if err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("Shutdown did not return")
		}
		r.stop()
		r.logs.waitLog(t, time.Second, "xmpp account logged out")
	})
}

// TestAccountTLS: STARTTLS is used when offered, the certificate checked.
func TestAccountTLS(t *testing.T) {
	p := xmpptest.StartProsodyWith(t, xmpptest.Options{TLS: true})
	p.Register(t, "bot", "bot-pw")
	p.Register(t, "alice", "alice-pw")
	bot := xmpp.Account{JID: p.JID("bot"), Password: "bot-pw", Server: p.C2S}

	r := start(t, xmpp.Config{Handler: echo, TLSConfig: p.TLSConfig()}, bot)
	waitState(t, r.ch, bot.JID, "connected", 10*time.Second)
	r.logs.waitLog(t, time.Second, "xmpp account connected", "tls=true")
	alice := xmpptest.Dial(t, p.C2S, p.JID("alice"), "alice-pw")
	_ = alice.Send(bot.JID, "over TLS")
	expect(t, alice, bot.JID, "echo: over TLS")

	// Without trusting the self-signed certificate, even AllowPlaintext
	// does not fall back to plain text.
	r2 := start(t, xmpp.Config{Handler: echo, AllowPlaintext: true}, bot)
	detail := waitState(t, r2.ch, bot.JID, "failed", 10*time.Second)
	if !strings.Contains(detail, "TLS refused") || !strings.Contains(detail, "certificate") {
		t.Errorf("detail %q does not say the certificate was refused", detail)
	}
}

// TestProsodyRestart: the server goes away mid-conversation; a message sent
// while the bot is offline reaches it from offline storage after the
// reconnection, in the same conversation, and a reply the app sent while
// offline is delivered.
func TestProsodyRestart(t *testing.T) {
	p := xmpptest.StartProsody(t)
	p.Register(t, "bot", "bot-pw")
	p.Register(t, "alice", "alice-pw")
	bot := xmpp.Account{JID: p.JID("bot"), Password: "bot-pw", Server: p.C2S}

	var mu sync.Mutex
	var delayed []string
	h := channels.HandlerFunc(func(c channels.Conversation) {
		ctx := c.Context()
		_ = c.Send(ctx, "What is your ZIP code? ("+c.Info().ID+")")
		m, err := c.Receive(ctx, time.Minute)
		if err != nil {
			return
		}
		mu.Lock()
		delayed = append(delayed, m.Headers["delay"])
		mu.Unlock()
		_ = c.Send(ctx, fmt.Sprintf("Weather for %s: sunny (%s)", m.Text, c.Info().ID))
	})
	// The first reconnection attempt comes at least 4.8 s after the loss:
	// time for the person to write while the bot is away.
	r := start(t, xmpp.Config{Handler: h, AllowPlaintext: true, MinBackoff: 6 * time.Second, MaxBackoff: 10 * time.Second}, bot)
	waitState(t, r.ch, bot.JID, "connected", 10*time.Second)
	alice := xmpptest.Dial(t, p.C2S, p.JID("alice"), "alice-pw")
	_ = alice.Send(bot.JID, "hi")
	first := expect(t, alice, bot.JID, "What is your ZIP code?")
	session := first.Text[strings.Index(first.Text, "("):]

	p.Stop(t)
	detail := waitState(t, r.ch, bot.JID, "failed", 10*time.Second)
	if !strings.Contains(detail, "connection lost") {
		t.Errorf("detail while the server is down: %q", detail)
	}
	// message() while offline: queued, sent after the reconnection.
	err := r.ch.SendMessage(context.Background(), channels.Message{
		From: channels.Address{Network: channels.XMPP, ID: bot.JID},
		To:   channels.Address{Network: channels.XMPP, ID: p.JID("alice")},
		Text: "sent while offline",
	})
	if err != nil {
		t.Fatalf("SendMessage while offline: %v", err)
	}
	// The queue is bounded: 100 replies per account wait, the next fails.
	for i := 1; i < 100; i++ {
		err := r.ch.SendMessage(context.Background(), channels.Message{
			From: channels.Address{Network: channels.XMPP, ID: bot.JID},
			To:   channels.Address{Network: channels.XMPP, ID: p.JID("nobody")},
			Text: "filler",
		})
		if err != nil {
			t.Fatalf("queued reply %d: %v", i+1, err)
		}
	}
	err = r.ch.SendMessage(context.Background(), channels.Message{
		From: channels.Address{Network: channels.XMPP, ID: bot.JID},
		To:   channels.Address{Network: channels.XMPP, ID: p.JID("nobody")},
		Text: "one too many",
	})
	if !errors.Is(err, channels.ErrUnavailable) || !strings.Contains(err.Error(), "offline") {
		t.Fatalf("the 101st reply while offline: %v, want an offline error", err)
	}
	p.Start(t)
	alice2 := xmpptest.Dial(t, p.C2S, p.JID("alice"), "alice-pw")
	if st, d, _ := r.ch.State(bot.JID); st == "connected" {
		t.Fatalf("the bot reconnected (%s) before the person could write: the test proves nothing", d)
	}
	if err := alice2.Send(bot.JID, "32801"); err != nil {
		t.Fatal(err)
	}
	waitState(t, r.ch, bot.JID, "connected", 20*time.Second)
	got := map[string]bool{}
	for len(got) < 2 {
		m, err := alice2.NextMessage(ctxT(t, 20*time.Second))
		if err != nil {
			t.Fatalf("after the restart: %v (got %v)", err, got)
		}
		switch {
		case m.Text == "sent while offline":
			got["queued"] = true
		case strings.HasPrefix(m.Text, "Weather for 32801"):
			if !strings.HasSuffix(m.Text, session) {
				t.Errorf("the answer %q is not from the conversation %s", m.Text, session)
			}
			got["answer"] = true
		default:
			t.Errorf("unexpected message %q", m.Text)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(delayed) != 1 || delayed[0] == "" {
		t.Errorf("the answer did not come from offline storage (delay headers %q)", delayed)
	}
}

// TestComponentMode: Chorus as an XEP-0114 component of Prosody.
func TestComponentMode(t *testing.T) {
	p := xmpptest.StartProsody(t)
	p.Register(t, "alice", "alice-pw")
	p.Register(t, "bob", "bob-pw")
	weather := "weather@" + p.ComponentDomain
	resolve := func(_ context.Context, a channels.Address) (bool, error) {
		return a.Network == channels.XMPP && a.ID == weather, nil
	}
	comp := xmpp.Component{Domain: p.ComponentDomain, Server: p.Component, Secret: p.ComponentSecret}
	r := start(t, xmpp.Config{Handler: zipBot, Components: []xmpp.Component{comp}, Resolve: resolve})
	waitState(t, r.ch, weather, "connected", 10*time.Second)
	alice := xmpptest.Dial(t, p.C2S, p.JID("alice"), "alice-pw")
	bob := xmpptest.Dial(t, p.C2S, p.JID("bob"), "bob-pw")

	t.Run("OneShot", func(t *testing.T) {
		_ = alice.Send(weather, "32801")
		expect(t, alice, weather, "Weather for 32801")
	})
	t.Run("MultiTurnTwoPeople", func(t *testing.T) {
		_ = alice.SendThread(weather, "hi", "t1")
		_ = bob.Send(weather, "hello")
		m := expect(t, alice, weather, "What is your ZIP code?")
		if m.Thread != "t1" {
			t.Errorf("thread %q, want t1", m.Thread)
		}
		expect(t, bob, weather, "What is your ZIP code?")
		_ = alice.Send(weather, "32801")
		_ = bob.Send(weather, "10001")
		expect(t, alice, weather, "Weather for 32801")
		expect(t, bob, weather, "Weather for 10001")
	})
	t.Run("UnboundJID", func(t *testing.T) {
		nobody := "nobody@" + p.ComponentDomain
		_ = alice.Send(nobody, "anyone?")
		e, err := alice.NextError(ctxT(t, 10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if bare, _, _ := strings.Cut(e.From, "/"); bare != nobody || e.Condition != "service-unavailable" {
			t.Errorf("error %+v, want service-unavailable from %s", e, nobody)
		}
		if n := r.ch.Threads().Live(); n != 0 {
			t.Errorf("a conversation started for an unbound JID (%d live)", n)
		}
	})
	t.Run("Subscription", func(t *testing.T) {
		alice.Subscribe(weather)
		ctx := ctxT(t, 10*time.Second)
		if _, err := alice.NextPresence(ctx, weather, "subscribed"); err != nil {
			t.Fatal(err)
		}
		if _, err := alice.NextPresence(ctx, weather, ""); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("Outbound", func(t *testing.T) {
		err := r.ch.SendMessage(context.Background(), channels.Message{
			From: channels.Address{Network: channels.XMPP, ID: weather},
			To:   channels.Address{Network: channels.XMPP, ID: p.JID("bob")},
			Text: "storm warning",
		})
		if err != nil {
			t.Fatal(err)
		}
		expect(t, bob, weather, "storm warning")
		conv, err := r.ch.Dial(context.Background(), weather, p.JID("bob"), channels.DialOptions{SessionID: "out-1"})
		if err != nil {
			t.Fatal(err)
		}
		defer conv.(channels.Closer).Close()
		if err := conv.Send(context.Background(), "Reply with your ZIP"); err != nil {
			t.Fatal(err)
		}
		expect(t, bob, weather, "Reply with your ZIP")
		_ = bob.Send(weather, "10001")
		m, err := conv.Receive(context.Background(), 10*time.Second)
		if err != nil || m.Text != "10001" {
			t.Fatalf("call() conversation received %q, %v", m.Text, err)
		}
	})
	t.Run("WrongSecret", func(t *testing.T) {
		bad := comp
		bad.Secret = "wrong"
		r2 := start(t, xmpp.Config{Handler: echo, Components: []xmpp.Component{bad}})
		detail := waitState(t, r2.ch, weather, "failed", 10*time.Second)
		if !strings.Contains(detail, "bad secret") {
			t.Errorf("detail %q does not say the secret was refused", detail)
		}
	})
	t.Cleanup(func() {
		if strings.Contains(r.logs.String(), p.ComponentSecret) {
			t.Error("the component secret appears in the logs")
		}
	})
	t.Run("ServerRestart", func(t *testing.T) {
		p.Restart(t)
		waitState(t, r.ch, weather, "connected", 15*time.Second)
		carol := "carol"
		p.Register(t, carol, "carol-pw")
		c := xmpptest.Dial(t, p.C2S, p.JID(carol), "carol-pw")
		_ = c.Send(weather, "32801")
		expect(t, c, weather, "Weather for 32801")
	})
}
