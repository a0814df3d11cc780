package sip

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorus-dev/chorus/channels"
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
	res, err := siptest.Sipp(context.Background(), siptest.SippOptions{
		Scenario: "testdata/" + scenario,
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
