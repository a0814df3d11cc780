package xmpp_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorus-dev/chorus/channels"
	"github.com/chorus-dev/chorus/channels/xmpp"
)

// logBuf collects a channel's logs; tests search it and print it on
// failure.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitLog waits until the logs contain every one of subs.
func (l *logBuf) waitLog(t *testing.T, d time.Duration, subs ...string) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		s := l.String()
		ok := true
		for _, sub := range subs {
			ok = ok && strings.Contains(s, sub)
		}
		if ok {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("logs never contained %q:\n%s", subs, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var ids atomic.Int64

func newID() string { return fmt.Sprintf("s%d", ids.Add(1)) }

type running struct {
	ch   *xmpp.Channel
	logs *logBuf
	stop func() // Shutdown then wait for Serve
}

// start makes a channel for cfg, runs Serve, and stops it at cleanup.
func start(t *testing.T, cfg xmpp.Config, accts ...xmpp.Account) *running {
	t.Helper()
	logs := &logBuf{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if cfg.NewID == nil {
		cfg.NewID = newID
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = 200 * time.Millisecond
		cfg.MaxBackoff = 2 * time.Second
	}
	ch, err := xmpp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(accts) > 0 {
		ch.SetAccounts(accts)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- ch.Serve(ctx) }()
	var once sync.Once
	r := &running{ch: ch, logs: logs}
	r.stop = func() {
		once.Do(func() {
			sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer scancel()
			if err := ch.Shutdown(sctx); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			cancel()
			select {
			case <-served:
			case <-time.After(10 * time.Second):
				t.Errorf("Serve did not return after Shutdown")
			}
		})
	}
	t.Cleanup(func() {
		r.stop()
		for _, a := range accts {
			if a.Password != "" && strings.Contains(logs.String(), a.Password) {
				t.Errorf("the password of %s appears in the logs", a.JID)
			}
		}
		if t.Failed() {
			t.Logf("channel logs:\n%s", logs.String())
		}
	})
	return r
}

// waitState waits until State(jid) is want and returns its detail.
func waitState(t *testing.T, ch *xmpp.Channel, jid, want string, d time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		st, detail, _ := ch.State(jid)
		if st == want {
			return detail
		}
		if time.Now().After(deadline) {
			t.Fatalf("State(%s) = %s (%s), want %s", jid, st, detail, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// echo answers every first message once.
var echo = channels.HandlerFunc(func(c channels.Conversation) {
	_ = c.Send(c.Context(), "echo: "+c.Info().InitialText)
})

// zipBot asks for a ZIP code, the way the weather app does, then answers
// and ends.
var zipBot = channels.HandlerFunc(func(c channels.Conversation) {
	ctx := c.Context()
	text := c.Info().InitialText
	for !isZIP(text) {
		if err := c.Send(ctx, "What is your ZIP code?"); err != nil {
			return
		}
		m, err := c.Receive(ctx, 30*time.Second)
		if err != nil {
			return
		}
		text = strings.TrimSpace(m.Text)
	}
	_ = c.Send(ctx, "Weather for "+text+": sunny ("+c.Info().ID+")")
})

func isZIP(s string) bool {
	if len(s) != 5 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
