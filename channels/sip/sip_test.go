package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorus-dev/chorus/channels"
	"github.com/chorus-dev/chorus/channels/sip/flood"
	"github.com/chorus-dev/chorus/channels/sip/siptest"
	"github.com/chorus-dev/chorus/channels/sip/tts"
)

var idSeq atomic.Int64

func newID() string { return fmt.Sprintf("s%d", idSeq.Add(1)) }

// testSynth is one flite synthesiser with a cache in a temp dir.
func testSynth(t *testing.T) *tts.Synth {
	t.Helper()
	s, err := tts.New(tts.Config{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatalf("tts: %v (install flite: apt-get install flite)", err)
	}
	return s
}

// startChannel runs a channel on a free port until the test ends.
func startChannel(t *testing.T, cfg Config) *Channel {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.NewID == nil {
		cfg.NewID = newID
	}
	if cfg.Domain == "" {
		cfg.Domain = "chorus.test"
	}
	if cfg.Logger == nil && testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ch, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ch.Serve(ctx) }()
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = ch.Shutdown(sctx)
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after Shutdown")
		}
	})
	return ch
}

// only resolves exactly the given app users.
// callWeather calls sip:weather at ch from a siptest phone; d bounds the
// returned context, and the phone closes when the test ends.
func callWeather(t *testing.T, ch *Channel, d time.Duration) (*siptest.Phone, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	ph, err := siptest.Call(ctx, ch.Addr(), "weather")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ph.Close)
	return ph, ctx
}

func only(users ...string) func(context.Context, channels.Address) (bool, error) {
	return func(_ context.Context, a channels.Address) (bool, error) {
		for _, u := range users {
			if channels.SIPUser(a.ID) == u {
				return true, nil
			}
		}
		return false, nil
	}
}

func sipp(t *testing.T, ch *Channel, scenario, service string, timeout time.Duration, args ...string) *siptest.SippResult {
	t.Helper()
	if !strings.HasPrefix(scenario, "/") {
		scenario = "testdata/" + scenario
	}
	res, err := siptest.Sipp(context.Background(), siptest.SippOptions{
		Scenario: scenario,
		Target:   ch.Addr(),
		Service:  service,
		Timeout:  timeout,
		Args:     args,
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// record is what a test handler saw.
type record struct {
	mu     sync.Mutex
	info   channels.Info
	digits string
	err    error
	cause  error
	done   chan struct{}
}

func newRecord() *record { return &record{done: make(chan struct{})} }

func (r *record) wait(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(d):
		t.Fatal("the handler did not finish")
	}
}

func TestSippCallCollectsDigits(t *testing.T) {
	rec := newRecord()
	ch := startChannel(t, Config{
		TTS:     testSynth(t),
		Resolve: only("weather"),
		Handler: channels.HandlerFunc(func(c channels.Conversation) {
			defer close(rec.done)
			call := c.(channels.Call)
			rec.info = c.Info()
			if err := call.Answer(c.Context()); err != nil {
				rec.err = err
				return
			}
			if err := call.Play(c.Context(), "Please enter a 5 digit ZIP code.", channels.PlayOptions{BargeIn: true}); err != nil {
				rec.err = err
				return
			}
			in, err := call.Collect(c.Context(), channels.CollectOptions{Timeout: 10 * time.Second, InterDigit: 3 * time.Second, MaxDigits: 5, Terminator: "#"})
			rec.digits, rec.err = in.Text, err
			_ = call.Hangup(c.Context())
		}),
	})
	res := sipp(t, ch, "uac_dtmf.xml", "weather", 20*time.Second)
	rec.wait(t, 5*time.Second)
	if res.ExitCode != 0 {
		t.Fatalf("sipp failed:\n%s", res)
	}
	if rec.err != nil || rec.digits != "32801" {
		t.Fatalf("handler got %q, %v; want 32801", rec.digits, rec.err)
	}
	in := rec.info
	if in.Local.ID != "sip:weather@chorus.test" || in.Remote.ID != "sip:caller@127.0.0.1" || in.RemoteName != "Sipp Caller" || !in.Voice {
		t.Errorf("info %+v", in)
	}
	if in.Headers["X-Chorus-Test"] != "dtmf" || !strings.Contains(in.RemoteURI, "caller@127.0.0.1") || !strings.Contains(in.LocalURI, "weather@") {
		t.Errorf("headers/URIs: %q %q %v", in.RemoteURI, in.LocalURI, in.Headers)
	}
}

func TestOptions(t *testing.T) {
	t.Parallel()
	ch := startChannel(t, Config{Resolve: only("weather"), Handler: channels.HandlerFunc(func(channels.Conversation) {})})
	code, out, err := siptest.Sipsak(context.Background(), "sip:weather@"+ch.Addr().String())
	if err != nil || code != 0 {
		t.Fatalf("OPTIONS to a bound app: sipsak exit %d, %v\n%s", code, err, out)
	}
	code, out, err = siptest.Sipsak(context.Background(), "sip:nobody@"+ch.Addr().String())
	if err != nil || code != 1 || !strings.Contains(out, "404") {
		t.Fatalf("OPTIONS to an unknown user: sipsak exit %d, %v\n%s", code, err, out)
	}
}

func TestInviteUnknownUser404(t *testing.T) {
	t.Parallel()
	var called atomic.Bool
	ch := startChannel(t, Config{Resolve: only("weather"), Handler: channels.HandlerFunc(func(channels.Conversation) { called.Store(true) })})
	res := sipp(t, ch, "uac_404.xml", "nobody", 10*time.Second)
	if res.ExitCode != 0 {
		t.Fatalf("sipp:\n%s", res)
	}
	if called.Load() {
		t.Fatal("the handler ran for an unknown address")
	}
}

func TestCancelBeforeAnswer(t *testing.T) {
	t.Parallel()
	rec := newRecord()
	ch := startChannel(t, Config{Handler: channels.HandlerFunc(func(c channels.Conversation) {
		defer close(rec.done)
		select {
		case <-c.Context().Done():
			rec.cause = context.Cause(c.Context())
		case <-time.After(10 * time.Second):
		}
	})})
	res := sipp(t, ch, "uac_cancel.xml", "weather", 10*time.Second)
	if res.ExitCode != 0 {
		t.Fatalf("sipp:\n%s", res)
	}
	rec.wait(t, 2*time.Second)
	if rec.cause == nil {
		t.Fatal("CANCEL did not end the handler's context")
	}
}

func TestRemoteByeEndsContext(t *testing.T) {
	t.Parallel()
	rec := newRecord()
	var took time.Duration
	ch := startChannel(t, Config{Handler: channels.HandlerFunc(func(c channels.Conversation) {
		defer close(rec.done)
		call := c.(channels.Call)
		if rec.err = call.Answer(c.Context()); rec.err != nil {
			return
		}
		start := time.Now()
		_, rec.err = call.Collect(c.Context(), channels.CollectOptions{Timeout: 15 * time.Second})
		took = time.Since(start)
		rec.cause = context.Cause(c.Context())
	})})
	res := sipp(t, ch, "uac_bye.xml", "weather", 10*time.Second)
	if res.ExitCode != 0 {
		t.Fatalf("sipp:\n%s", res)
	}
	rec.wait(t, 2*time.Second)
	if !errors.Is(rec.err, channels.ErrHangup) || rec.cause == nil {
		t.Fatalf("Collect returned %v (cause %v); want ErrHangup", rec.err, rec.cause)
	}
	if took > 3*time.Second {
		t.Fatalf("the BYE (sent 1 s after the ACK) ended Collect only after %s", took)
	}
}

func TestRejectAndRedirect(t *testing.T) {
	t.Parallel()
	ch := startChannel(t, Config{Handler: channels.HandlerFunc(func(c channels.Conversation) {
		call := c.(channels.Call)
		switch channels.SIPUser(c.Info().Local.ID) {
		case "busy":
			_ = call.Reject(c.Context(), 486)
		case "decline":
			_ = call.Reject(c.Context(), 603)
		case "moved":
			_ = call.Redirect(c.Context(), "sip:other@example.net")
		}
	})})
	for _, tc := range []struct{ user, status string }{{"busy", "486"}, {"decline", "603"}, {"moved", "302"}, {"silent", "480"}} {
		tmpl, err := os.ReadFile("testdata/uac_final.xml")
		if err != nil {
			t.Fatal(err)
		}
		scen := filepath.Join(t.TempDir(), "final.xml")
		if err := os.WriteFile(scen, []byte(strings.ReplaceAll(string(tmpl), "STATUS", tc.status)), 0o644); err != nil {
			t.Fatal(err)
		}
		res := sipp(t, ch, scen, tc.user, 10*time.Second)
		if res.ExitCode != 0 {
			t.Fatalf("%s: want %s:\n%s", tc.user, tc.status, res)
		}
		if tc.user == "moved" && !strings.Contains(res.Messages, "Contact: <sip:other@example.net>") {
			t.Fatalf("302 without the Contact:\n%s", res.Messages)
		}
	}
}

func TestInfoDTMFAcrossHold(t *testing.T) {
	t.Parallel()
	rec := newRecord()
	ch := startChannel(t, Config{Handler: channels.HandlerFunc(func(c channels.Conversation) {
		defer close(rec.done)
		call := c.(channels.Call)
		in, err := call.Collect(c.Context(), channels.CollectOptions{Timeout: 10 * time.Second, InterDigit: 5 * time.Second, MaxDigits: 3})
		rec.digits, rec.err = in.Text, err
	})})
	res := sipp(t, ch, "uac_info_hold.xml", "weather", 15*time.Second)
	rec.wait(t, 2*time.Second)
	if res.ExitCode != 0 {
		t.Fatalf("sipp:\n%s", res)
	}
	if rec.err != nil || rec.digits != "427" {
		t.Fatalf("digits %q, %v; want 427 (INFO dtmf-relay, INFO dtmf after hold/resume, RFC 4733)", rec.digits, rec.err)
	}
}

func TestRTPTimeoutHangsUp(t *testing.T) {
	t.Parallel()
	rec := newRecord()
	ch := startChannel(t, Config{RTPTimeout: time.Second, Handler: channels.HandlerFunc(func(c channels.Conversation) {
		defer close(rec.done)
		call := c.(channels.Call)
		_, rec.err = call.Collect(c.Context(), channels.CollectOptions{Timeout: 15 * time.Second})
		rec.cause = context.Cause(c.Context())
	})})
	start := time.Now()
	res := sipp(t, ch, "uac_silent.xml", "weather", 10*time.Second)
	if res.ExitCode != 0 {
		t.Fatalf("sipp:\n%s", res)
	}
	rec.wait(t, 2*time.Second)
	if !errors.Is(rec.cause, errRTPTimeout) || !errors.Is(rec.err, channels.ErrHangup) {
		t.Fatalf("cause %v, err %v; want the RTP timeout", rec.cause, rec.err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("torn down after %s with a 1 s RTP timeout", d)
	}
}

func TestMessageConversation(t *testing.T) {
	t.Parallel()
	rec := newRecord()
	ch := startChannel(t, Config{Resolve: only("weather"), Handler: channels.HandlerFunc(func(c channels.Conversation) {
		rec.mu.Lock()
		rec.info = c.Info()
		rec.mu.Unlock()
		rec.err = c.Send(c.Context(), "you said "+c.Info().InitialText)
		close(rec.done)
	})})
	t.Logf("channel at %s", ch.Addr())
	res := sipp(t, ch, "message.xml", "weather", 10*time.Second)
	if res.ExitCode != 0 {
		t.Fatalf("sipp:\n%s", res)
	}
	rec.wait(t, 2*time.Second)
	in := rec.info
	if rec.err != nil || in.Voice || in.Local.ID != "sip:weather@chorus.test" || in.Remote.ID != "sip:texter@127.0.0.1" || in.RemoteName != "Sipp Texter" || in.InitialText != "32801" {
		t.Fatalf("info %+v, send %v", in, rec.err)
	}
}

func TestFloodFromOneSourceSparesOthers(t *testing.T) {
	t.Parallel()
	var resolves atomic.Int64
	ch := startChannel(t, Config{
		Flood: flood.New(flood.Config{PerSecond: 20, Burst: 20, BanAfter: time.Second, BanFor: time.Minute}),
		Resolve: func(context.Context, channels.Address) (bool, error) {
			resolves.Add(1)
			return true, nil
		},
		Handler: channels.HandlerFunc(func(c channels.Conversation) {
			_ = c.(channels.Call).Answer(c.Context())
			<-c.Context().Done()
		}),
	})
	flooded := make(chan *siptest.SippResult, 1)
	go func() {
		res, err := siptest.Sipp(context.Background(), siptest.SippOptions{
			Scenario: "testdata/options.xml", Target: ch.Addr(), Local: netip.MustParseAddr("127.0.0.2"),
			Service: "weather", Calls: 900, Timeout: 8 * time.Second, Args: []string{"-r", "300", "-l", "400"},
		})
		if err != nil {
			t.Error(err)
		}
		flooded <- res
	}()
	time.Sleep(1500 * time.Millisecond) // the flooder is banned by now
	res := sipp(t, ch, "uac_bye.xml", "weather", 10*time.Second)
	if res.ExitCode != 0 {
		t.Fatalf("a call from another source failed during the flood:\n%s", res)
	}
	fr := <-flooded
	if fr == nil {
		return
	}
	if fr.ExitCode == 0 {
		t.Fatalf("every one of 900 OPTIONS at 300/s was answered 200: no rate limit\n%s", fr)
	}
	// 20/s with a burst of 20 for the ~1 s before the ban, plus the call.
	if n := resolves.Load(); n > 80 {
		t.Fatalf("%d requests of the flood reached the app lookup; the limit is 20/s", n)
	}
}

// TestLateOfferInvite: an INVITE without SDP is answered with our offer in
// the 200; the ACK's answer is applied (its telephone-event payload type
// carries the key the app collects), and the app's hangup is a BYE.
func TestLateOfferInvite(t *testing.T) {
	t.Parallel()
	rec := newRecord()
	ch := startChannel(t, Config{Handler: channels.HandlerFunc(func(c channels.Conversation) {
		defer close(rec.done)
		call := c.(channels.Call)
		in, err := call.Collect(c.Context(), channels.CollectOptions{Timeout: 5 * time.Second, MaxDigits: 1})
		rec.digits, rec.err = in.Text, err
		_ = call.Hangup(c.Context())
	})})
	res := sipp(t, ch, "uac_late_offer.xml", "weather", 10*time.Second)
	rec.wait(t, 2*time.Second)
	if res.ExitCode != 0 {
		t.Fatalf("sipp:\n%s", res)
	}
	if rec.err != nil || rec.digits != "7" {
		t.Fatalf("Collect %q, %v; want 7 over the payload type the ACK's answer named", rec.digits, rec.err)
	}
}
