package main

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chorus-dev/chorus/channels/sms/smstest"
	"github.com/chorus-dev/chorus/channels/xmpp/xmpptest"
)

// nextText waits for the next chat message body from a JID.
func nextText(t *testing.T, c *xmpptest.Client, from string, within time.Duration) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		f, text, err := c.Next(ctx)
		if err != nil {
			t.Fatalf("no message from %s: %v", from, err)
		}
		if strings.EqualFold(strings.SplitN(f, "/", 2)[0], from) {
			return text
		}
	}
}

// TestWeatherOverXMPP: the weather app answers IMs through a real Prosody,
// logged in as its own account and as a component JID: one-shot,
// multi-turn, two people at once, and Prosody restarted mid-conversation
// with nothing lost.
func TestWeatherOverXMPP(t *testing.T) {
	p := xmpptest.StartProsody(t)
	p.Register(t, "weather", "bot-pw")
	p.Register(t, "alice", "alice-pw")
	p.Register(t, "bob", "bob-pw")
	fc := &fileConfig{}
	fc.XMPP.AllowPlaintext = true
	fc.XMPP.Components = []xmppComponent{{Domain: p.ComponentDomain, Server: p.Component, Secret: p.ComponentSecret}}
	ts := weatherServer(t, fc)
	bot := p.JID("weather")
	comp := "weather@" + p.ComponentDomain

	r := ts.json(http.MethodPost, "/v1/addresses", ts.admin, map[string]any{"network": "xmpp", "address": bot, "app": "weather",
		"credentials": map[string]string{"password": "bot-pw", "server": p.C2S}})
	expect(t, "bind the bot's account", r, 201)
	if strings.Contains(string(r.Body), "bot-pw") {
		t.Fatalf("the password is echoed: %s", r.Body)
	}
	expect(t, "bind a component JID without credentials", ts.json(http.MethodPost, "/v1/addresses", ts.admin,
		map[string]any{"network": "xmpp", "address": comp, "app": "weather"}), 201)
	ts.addressState("xmpp", bot, "connected", 15*time.Second)
	ts.addressState("xmpp", comp, "connected", 15*time.Second)

	alice := xmpptest.Dial(t, p.C2S, p.JID("alice"), "alice-pw")
	bob := xmpptest.Dial(t, p.C2S, p.JID("bob"), "bob-pw")

	// One-shot, on the account and on the component.
	for _, to := range []string{bot, comp} {
		if err := alice.Send(to, "32801"); err != nil {
			t.Fatal(err)
		}
		if got := nextText(t, alice, to, 15*time.Second); !strings.Contains(got, "Orlando") {
			t.Fatalf("%s answered %q", to, got)
		}
	}

	// Multi-turn, two people at once.
	var wg sync.WaitGroup
	for _, person := range []struct {
		c        *xmpptest.Client
		zip, out string
	}{{alice, "10001", "New York"}, {bob, "32801", "Orlando"}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := person.c.Send(bot, "hi"); err != nil {
				t.Error(err)
				return
			}
			if got := nextText(t, person.c, bot, 15*time.Second); !strings.Contains(got, "ZIP") {
				t.Errorf("prompt %q", got)
				return
			}
			if err := person.c.Send(bot, person.zip); err != nil {
				t.Error(err)
				return
			}
			if got := nextText(t, person.c, bot, 15*time.Second); !strings.Contains(got, person.out) {
				t.Errorf("forecast for %s: %q", person.zip, got)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	// Prosody restarts while alice's conversation waits for her ZIP: her
	// answer, sent while the bot is still away, reaches the same
	// conversation through Prosody's offline store.
	if err := alice.Send(bot, "hello"); err != nil {
		t.Fatal(err)
	}
	if got := nextText(t, alice, bot, 15*time.Second); !strings.Contains(got, "ZIP") {
		t.Fatalf("prompt %q", got)
	}
	p.Restart(t)
	alice = xmpptest.Dial(t, p.C2S, p.JID("alice"), "alice-pw")
	if err := alice.Send(bot, "32801"); err != nil {
		t.Fatal(err)
	}
	if got := nextText(t, alice, bot, 45*time.Second); !strings.Contains(got, "Orlando") {
		t.Fatalf("after the restart: %q", got)
	}
	ts.addressState("xmpp", bot, "connected", 30*time.Second)
	// A component has no offline store: Prosody bounces what is sent to it
	// while it is away, so wait for the link before using it again.
	ts.addressState("xmpp", comp, "connected", 45*time.Second)

	// One session per conversation, each with its network and the person.
	var hello int
	for _, s := range ts.sessionsOf("weather") {
		if s["network"] != "xmpp" {
			t.Fatalf("session on %v", s["network"])
		}
		var full map[string]any
		ts.do(http.MethodGet, "/v1/sessions/"+s["id"].(string), ts.admin, "", nil).json(t, &full)
		tr, _ := full["transcript"].([]any)
		if len(tr) > 0 && tr[0].(map[string]any)["text"] == "hello" {
			hello++
			if s["caller"] != p.JID("alice") || len(tr) < 4 {
				t.Fatalf("the restarted conversation: %v %v", s, tr)
			}
		}
	}
	if hello != 1 {
		t.Fatalf("the conversation across the restart became %d sessions", hello)
	}

	// A wrong password is reported on the address, and the others go on.
	expect(t, "bind an account with a wrong password", ts.json(http.MethodPost, "/v1/addresses", ts.admin, map[string]any{"network": "xmpp", "address": p.JID("bob"), "app": "echo",
		"credentials": map[string]string{"password": "wrong", "server": p.C2S}}), 201)
	a := ts.addressState("xmpp", p.JID("bob"), "failed", 15*time.Second)
	if d, _ := a["state_detail"].(string); d == "" || strings.Contains(d, "wrong") {
		t.Fatalf("state_detail %q", d)
	}
	if err := alice.Send(comp, "32801"); err != nil {
		t.Fatal(err)
	}
	if got := nextText(t, alice, comp, 15*time.Second); !strings.Contains(got, "Orlando") {
		t.Fatalf("component after another account failed: %q", got)
	}
}

// TestOutboundXMPPAndSMS: a session launched through the API (no
// conversation) sends message() to a Jabber user and to a phone, from the
// app's own addresses, and call() on JABBER holds a conversation.
func TestOutboundXMPPAndSMS(t *testing.T) {
	p := xmpptest.StartProsody(t)
	p.Register(t, "notify", "bot-pw")
	p.Register(t, "ann", "ann-pw")
	smsc := smstest.StartSMSC(t, "chorus", "pw")
	fc := &fileConfig{}
	fc.XMPP.AllowPlaintext = true
	fc.SMS.SMPP = []smppRoute{{Name: "main", Addr: smsc.Addr(), SystemID: "chorus", Password: "pw"}}
	ts := startTestServer(t, fc)
	expect(t, "push", ts.push(ts.admin, "notify", `
		message("Your table is ready", {to = params.jid, network = "JABBER"})
		message("Your table is ready", {to = params.phone, network = "SMS"})
		call(params.jid, {network = "JABBER"})
		local ev = ask("Coming? (yes/no)", {choices = "yes, no", timeout = 20})
		say("Noted: " .. tostring(ev.value) .. " via " .. currentCall.network .. "/" .. currentCall.channel)
	`), 201)
	bot := p.JID("notify")
	expect(t, "bind xmpp", ts.json(http.MethodPost, "/v1/addresses", ts.admin, map[string]any{"network": "xmpp", "address": bot, "app": "notify",
		"credentials": map[string]string{"password": "bot-pw", "server": p.C2S}}), 201)
	expect(t, "bind sms", ts.json(http.MethodPost, "/v1/addresses", ts.admin, map[string]any{"network": "sms", "address": weatherNumber, "app": "notify", "route": "main"}), 201)
	ts.addressState("xmpp", bot, "connected", 15*time.Second)
	ts.addressState("sms", weatherNumber, "connected", 15*time.Second)
	ann := xmpptest.Dial(t, p.C2S, p.JID("ann"), "ann-pw")

	expect(t, "launch", ts.json(http.MethodPost, "/v1/sessions", ts.admin, map[string]any{"app": "notify",
		"params": map[string]string{"jid": p.JID("ann"), "phone": phoneA}}), 201)
	if got := nextText(t, ann, bot, 15*time.Second); got != "Your table is ready" {
		t.Fatalf("IM %q", got)
	}
	text, parts, err := smsc.NextText(ctxFor(t, 15*time.Second), phoneA)
	if err != nil || text != "Your table is ready" || parts[0].From != weatherNumber {
		t.Fatalf("SMS %q %v", text, err)
	}
	if got := nextText(t, ann, bot, 15*time.Second); got != "Coming? (yes/no)" {
		t.Fatalf("call() prompt %q", got)
	}
	if err := ann.Send(bot, "yes"); err != nil {
		t.Fatal(err)
	}
	if got := nextText(t, ann, bot, 15*time.Second); got != "Noted: yes via JABBER/TEXT" {
		t.Fatalf("after the answer: %q", got)
	}
}
