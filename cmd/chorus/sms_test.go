package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chorus-dev/chorus/apps/weather/nwsfake"
	"github.com/chorus-dev/chorus/channels/sms/smstest"
)

// weatherServer starts a server whose weather app asks a local NWS fake.
func weatherServer(t *testing.T, fc *fileConfig) *testServer {
	t.Helper()
	nws := nwsfake.StartT(t, nwsfake.Options{})
	u, err := url.Parse(nws.URL())
	if err != nil {
		t.Fatal(err)
	}
	fc.Lua.HTTPAllow = append(fc.Lua.HTTPAllow, u.Host)
	ts := startTestServer(t, fc)
	expect(t, "point the weather app at the NWS fake", ts.json(http.MethodPut, "/v1/apps/weather/config", ts.admin, map[string]string{"NWS_BASE_URL": nws.URL()}), 200)
	return ts
}

// addressState polls GET /v1/addresses until the address reaches want.
func (ts *testServer) addressState(network, address, want string, within time.Duration) map[string]any {
	ts.t.Helper()
	deadline := time.Now().Add(within)
	var last map[string]any
	for {
		var addrs []map[string]any
		ts.do(http.MethodGet, "/v1/addresses", ts.admin, "", nil).json(ts.t, &addrs)
		for _, a := range addrs {
			if a["network"] == network && a["address"] == address {
				last = a
			}
		}
		if last != nil && last["state"] == want {
			return last
		}
		if time.Now().After(deadline) {
			ts.t.Fatalf("%s address %s: state %v, want %s", network, address, last, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sessionsOf lists the sessions of an app (stored and live).
func (ts *testServer) sessionsOf(app string) []map[string]any {
	ts.t.Helper()
	var out []map[string]any
	ts.do(http.MethodGet, "/v1/sessions?app="+app, ts.admin, "", nil).json(ts.t, &out)
	return out
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

const (
	weatherNumber = "+15550001000"
	phoneA        = "+14075551234"
	phoneB        = "+14075555678"
)

// TestWeatherOverSMPP: the weather app answers text messages that reach it
// through a real SMSC (npm smpp), one-shot and multi-turn, two phones at
// once, with delivery receipts on the session's transcript, and goes on
// after the SMSC drops the link.
func TestWeatherOverSMPP(t *testing.T) {
	smsc := smstest.StartSMSC(t, "chorus", "smpp-secret")
	fc := &fileConfig{}
	fc.SMS.SMPP = append(fc.SMS.SMPP, smppRoute{Name: "main", Addr: smsc.Addr(), SystemID: "chorus", Password: "smpp-secret"})
	ts := weatherServer(t, fc)

	expect(t, "a route that is not configured", ts.json(http.MethodPost, "/v1/addresses", ts.admin,
		map[string]any{"network": "sms", "address": weatherNumber, "app": "weather", "route": "nope"}), 422)
	expect(t, "bind the number", ts.json(http.MethodPost, "/v1/addresses", ts.admin,
		map[string]any{"network": "sms", "address": weatherNumber, "app": "weather", "route": "main"}), 201)
	ts.addressState("sms", weatherNumber, "connected", 10*time.Second)
	if b, err := smsc.WaitEvent(ctxFor(t, 5*time.Second), "bind"); err != nil || !b.Bool("ok") {
		t.Fatalf("the SMSC saw no bind: %v %v", b, err)
	}

	// One-shot.
	smsc.MO(phoneA, weatherNumber, "32801")
	text, parts, err := smsc.NextText(ctxFor(t, 15*time.Second), phoneA)
	if err != nil {
		t.Fatalf("no reply to 32801: %v (smsc stderr: %s)", err, smsc.Stderr())
	}
	if !strings.Contains(text, "Orlando") || parts[0].From != weatherNumber {
		t.Fatalf("reply %q from %s", text, parts[0].From)
	}

	// The receipt for that reply lands on its session's transcript.
	smsc.Receipt(parts[len(parts)-1].ID, "DELIVRD")
	waitFor(t, 10*time.Second, "the delivery receipt on the session", func() bool {
		for _, s := range ts.sessionsOf("weather") {
			if s["network"] != "sms" || s["caller"] != phoneA {
				continue
			}
			var full map[string]any
			ts.do(http.MethodGet, "/v1/sessions/"+s["id"].(string), ts.admin, "", nil).json(t, &full)
			tr, _ := full["transcript"].([]any)
			for _, e := range tr {
				if m, _ := e.(map[string]any); m["kind"] == "receipt" && strings.Contains(m["text"].(string), "delivered") {
					return true
				}
			}
		}
		return false
	})

	// Multi-turn, two phones at once.
	smsc.MO(phoneA, weatherNumber, "hi")
	smsc.MO(phoneB, weatherNumber, "hello")
	for _, p := range []string{phoneA, phoneB} {
		text, _, err := smsc.NextText(ctxFor(t, 15*time.Second), p)
		if err != nil || !strings.Contains(text, "ZIP") {
			t.Fatalf("prompt to %s: %q %v", p, text, err)
		}
	}
	smsc.MO(phoneB, weatherNumber, "32801")
	smsc.MO(phoneA, weatherNumber, "10001")
	for p, want := range map[string]string{phoneA: "New York", phoneB: "Orlando"} {
		text, _, err := smsc.NextText(ctxFor(t, 15*time.Second), p)
		if err != nil || !strings.Contains(text, want) {
			t.Fatalf("forecast to %s: %q %v, want %s", p, text, err, want)
		}
	}

	// The SMSC drops the link; Chorus binds again and the next message is
	// answered.
	smsc.Drop()
	if b, err := smsc.WaitEvent(ctxFor(t, 30*time.Second), "bind"); err != nil || !b.Bool("ok") {
		t.Fatalf("no rebind after the drop: %v %v", b, err)
	}
	ts.addressState("sms", weatherNumber, "connected", 30*time.Second)
	smsc.MO(phoneA, weatherNumber, "32801")
	if text, _, err := smsc.NextText(ctxFor(t, 15*time.Second), phoneA); err != nil || !strings.Contains(text, "Orlando") {
		t.Fatalf("after the rebind: %q %v", text, err)
	}
}

// TestWeatherOverHTTPProvider: a Twilio-shaped provider posts a signed
// webhook; the reply goes out through its REST API. Forged, unsigned and
// wrongly addressed webhooks are refused with no side effect.
func TestWeatherOverHTTPProvider(t *testing.T) {
	prov := smstest.NewFakeProvider(t, "AC0123", "provider-token")
	fc := &fileConfig{}
	fc.SMS.HTTP = append(fc.SMS.HTTP, httpRoute{Name: "provider", BaseURL: prov.URL, Account: "AC0123", Token: "provider-token", WebhookPath: "/v1/sms/provider"})
	ts := weatherServer(t, fc)
	expect(t, "bind the number", ts.json(http.MethodPost, "/v1/addresses", ts.admin,
		map[string]any{"network": "sms", "address": weatherNumber, "app": "weather", "route": "provider"}), 201)
	ts.addressState("sms", weatherNumber, "connected", 5*time.Second)

	hook := ts.url + "/v1/sms/provider"
	form := url.Values{"From": {phoneA}, "To": {weatherNumber}, "Body": {"32801"}, "MessageSid": {"SM1"}, "AccountSid": {"AC0123"}}
	before := len(ts.sessionsOf("weather"))
	for name, sig := range map[string]string{
		"unsigned":             "",
		"forged":               smstest.Sign("not-the-token", hook, form),
		"signed for elsewhere": smstest.Sign("provider-token", "https://example.com/v1/sms/provider", form),
	} {
		r, err := smstest.PostSigned(ctxFor(t, 5*time.Second), hook, sig, form)
		if err != nil {
			t.Fatal(err)
		}
		if r.StatusCode != http.StatusForbidden {
			t.Fatalf("%s webhook: %d, want 403", name, r.StatusCode)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(ts.sessionsOf("weather")); n != before || prov.Requests() != 0 {
		t.Fatalf("refused webhooks had effects: %d sessions (was %d), %d provider requests", n, before, prov.Requests())
	}

	r, err := prov.Inbound(ctxFor(t, 5*time.Second), hook, phoneA, weatherNumber, "32801")
	if err != nil || r.StatusCode != http.StatusOK {
		t.Fatalf("signed webhook: %v %v", r, err)
	}
	m, err := prov.NextMessage(ctxFor(t, 15*time.Second))
	if err != nil {
		t.Fatalf("no reply through the provider: %v", err)
	}
	if m.From != weatherNumber || m.To != phoneA || !strings.Contains(m.Body, "Orlando") || m.Auth != "AC0123" {
		t.Fatalf("reply through the provider: %+v", m)
	}
}

func waitFor(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReleasedAddressEndsItsConversations: a conversation waiting on an
// address ends when the address is released, and the next message reaches
// the app the address is bound to now.
func TestReleasedAddressEndsItsConversations(t *testing.T) {
	ts := startTestServer(t, nil)
	sid, replies, state := ts.turn("weather", "ann", "hi")
	if state != "waiting" || len(replies) == 0 {
		t.Fatalf("weather: %v %s", replies, state)
	}
	expect(t, "release", ts.do(http.MethodDelete, "/v1/addresses/web/weather", ts.admin, "", nil), 204)
	waitFor(t, 5*time.Second, "the weather session to end", func() bool {
		var s map[string]any
		ts.do(http.MethodGet, "/v1/sessions/"+sid, ts.admin, "", nil).json(t, &s)
		return s["state"] == "ended" && s["end_reason"] == "ended_by_api"
	})
	expect(t, "bind the address to echo", ts.json(http.MethodPost, "/v1/addresses", ts.admin, map[string]string{"network": "web", "address": "weather", "app": "echo"}), 201)
	_, replies, _ = ts.turn("weather", "ann", "32801")
	if len(replies) == 0 || replies[0] != "You said: 32801" {
		t.Fatalf("after rebinding: %q", replies)
	}
}
