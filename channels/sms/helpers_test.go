package sms

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorus-dev/chorus/channels"
	"github.com/chorus-dev/chorus/channels/sms/smstest"
)

const (
	ourNum = "+15557654321" // the app's number
	phone  = "+15550001111" // the person's
)

var ids atomic.Int64

func newID() string { return fmt.Sprint("s", ids.Add(1)) }

// fastTiming shortens the channel's delays for tests.
func fastTiming() timing {
	t := defaultTiming()
	t.minBackoff = 200 * time.Millisecond
	t.maxBackoff = time.Second
	t.bindTimeout = 3 * time.Second
	t.enquireLink = 500 * time.Millisecond
	t.respTimeout = 5 * time.Second
	t.linkWait = 20 * time.Second
	t.throttleWait = 100 * time.Millisecond
	t.concatAge = 3 * time.Second
	t.httpRetryWait = 100 * time.Millisecond
	t.httpTimeout = 5 * time.Second
	return t
}

// testLogger writes the channel's logs to the test log while the test runs.
func testLogger(t *testing.T) (*slog.Logger, *logBuf) {
	b := &logBuf{t: t}
	t.Cleanup(func() { b.mu.Lock(); b.done = true; b.mu.Unlock() })
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

type logBuf struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
	all  bytes.Buffer
}

func (b *logBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.all.Len() < 1<<20 {
		b.all.Write(p)
	}
	if !b.done {
		b.t.Log(string(bytes.TrimRight(p, "\n")))
	}
	return len(p), nil
}

func (b *logBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.all.String()
}

// receipts records cfg.Receipt calls.
type receipts struct {
	mu  sync.Mutex
	got []string // "session text"
	ch  chan string
}

func newReceipts() *receipts { return &receipts{ch: make(chan string, 64)} }

func (r *receipts) add(_ context.Context, session, text string) {
	r.mu.Lock()
	r.got = append(r.got, session+" "+text)
	r.mu.Unlock()
	r.ch <- session + " " + text
}

func (r *receipts) next(t *testing.T, d time.Duration) string {
	t.Helper()
	select {
	case s := <-r.ch:
		return s
	case <-time.After(d):
		t.Fatalf("no receipt recorded within %s", d)
		return ""
	}
}

func (r *receipts) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

type env struct {
	ch   *Channel
	smsc *smstest.SMSC
	rec  *receipts
	logs *logBuf
}

// startSMPP starts a channel with one SMPP route "main" to smsc, ourNum
// bound to it, and waits until it is connected (unless the password is
// wrong on purpose).
func startSMPP(t *testing.T, smsc *smstest.SMSC, h channels.HandlerFunc, mod func(*Config)) *env {
	t.Helper()
	log, logs := testLogger(t)
	rec := newReceipts()
	cfg := Config{
		Handler: h,
		NewID:   newID,
		SMPP:    []SMPPConfig{{Name: "main", Addr: smsc.Addr(), SystemID: "chorus", Password: "secret", SystemType: "chorus"}},
		Receipt: rec.add,
		Logger:  log,
		timing:  fastTiming(),
	}
	if mod != nil {
		mod(&cfg)
	}
	ch, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ch.SetNumbers([]Number{{Number: ourNum, Route: "main"}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ch.Serve(ctx) }()
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 4*time.Second)
		defer scancel()
		if err := ch.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Serve did not return after Shutdown")
		}
	})
	e := &env{ch: ch, smsc: smsc, rec: rec, logs: logs}
	if cfg.SMPP[0].Password == "secret" {
		e.waitState(t, StateConnected, 10*time.Second)
	}
	return e
}

// waitState polls State(ourNum) until it is want; it returns every state
// seen on the way.
func (e *env) waitState(t *testing.T, want string, d time.Duration) []string {
	t.Helper()
	var seen []string
	deadline := time.Now().Add(d)
	for {
		st, detail, _ := e.ch.State(ourNum)
		if len(seen) == 0 || seen[len(seen)-1] != st {
			seen = append(seen, st)
		}
		if st == want {
			return seen
		}
		if time.Now().After(deadline) {
			t.Fatalf("state %q (%s), want %q; seen %v", st, detail, want, seen)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// nextText waits for the next message the SMSC got for the phone.
func (e *env) nextText(t *testing.T) (string, []smstest.Submit) {
	t.Helper()
	text, subs, err := e.smsc.NextText(ctxT(t, 10*time.Second), phone)
	if err != nil {
		t.Fatal(err)
	}
	return text, subs
}
