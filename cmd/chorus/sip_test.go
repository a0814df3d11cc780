package main

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chorus-dev/chorus/channels/sip/siptest"
)

// sipWeather starts a server with SIP on a free port, the weather app
// (bound to sip:weather@localhost as a sample) asking the NWS fake.
func sipWeather(t *testing.T) *testServer {
	t.Helper()
	fc := &fileConfig{}
	fc.SIP.Listen = "127.0.0.1:0"
	ts := weatherServer(t, fc)
	if ts.s.sip == nil {
		t.Fatal("the SIP channel did not start")
	}
	// The samples are bound to sip:<name>@<sip.domain> on a fresh data dir.
	ts.addressState("sip", "sip:weather@localhost", "connected", 5*time.Second)
	return ts
}

// voiceSession waits for the weather app's voice session and returns it
// with its transcript.
func (ts *testServer) voiceSession(t *testing.T) map[string]any {
	t.Helper()
	var found map[string]any
	waitFor(t, 10*time.Second, "the call's session to end", func() bool {
		for _, s := range ts.sessionsOf("weather") {
			if s["network"] == "sip" && s["state"] == "ended" {
				ts.do(http.MethodGet, "/v1/sessions/"+s["id"].(string), ts.admin, "", nil).json(t, &found)
				return true
			}
		}
		return false
	})
	return found
}

func transcriptHas(s map[string]any, kind, dir, sub string) bool {
	tr, _ := s["transcript"].([]any)
	for _, e := range tr {
		m, _ := e.(map[string]any)
		if m["kind"] == kind && m["dir"] == dir && strings.Contains(m["text"].(string), sub) {
			return true
		}
	}
	return false
}

// TestWeatherCallFromAPhone: a phone calls the weather app, hears the
// prompt as RTP, keys 3 2 8 0 1 as RFC 4733 events and hears the forecast;
// the app hangs up and the session records what was spoken and keyed.
func TestWeatherCallFromAPhone(t *testing.T) {
	t.Parallel() // the forecast is spoken in real time: ~15 s
	ts := sipWeather(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	phone, err := siptest.Call(ctx, ts.s.sip.Addr(), "weather")
	if err != nil {
		t.Fatalf("call the weather app: %v", err)
	}
	defer phone.Close()
	waitFor(t, 15*time.Second, "the prompt's audio", func() bool { return len(phone.Received()) > 25 }) // half a second of RTP
	for _, d := range "32801" {
		if err := phone.SendDigit(d); err != nil {
			t.Fatal(err)
		}
		time.Sleep(150 * time.Millisecond)
	}
	select {
	case <-phone.Bye():
	case <-ctx.Done():
		t.Fatal("the app did not hang up after the forecast")
	}
	s := ts.voiceSession(t)
	if s["end_reason"] != "completed" || !transcriptHas(s, "dtmf", "in", "32801") || !transcriptHas(s, "speech", "out", "Orlando") {
		t.Fatalf("session %v", s)
	}
	if n := len(phone.Received()); n < 100 {
		t.Fatalf("only %d RTP packets reached the phone", n)
	}
}

// TestWeatherCallFromSipp: sipp calls the weather app with an SDP offer,
// sends the ZIP as RFC 4733 events from sipp's own pcaps (first packet of
// each digit has duration 0) and gets the app's BYE.
func TestWeatherCallFromSipp(t *testing.T) {
	t.Parallel()
	ts := sipWeather(t)
	scenario, err := filepath.Abs("../../channels/sip/testdata/uac_dtmf.xml")
	if err != nil {
		t.Fatal(err)
	}
	res, err := siptest.Sipp(context.Background(), siptest.SippOptions{Scenario: scenario, Target: ts.s.sip.Addr(), Service: "weather", Timeout: 45 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 {
		t.Fatalf("sipp:\n%s", res)
	}
	s := ts.voiceSession(t)
	if s["end_reason"] != "completed" || !transcriptHas(s, "dtmf", "in", "32801") || !transcriptHas(s, "speech", "out", "Orlando") {
		t.Fatalf("session %v", s)
	}
}
