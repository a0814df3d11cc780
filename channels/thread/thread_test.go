package thread

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorus-dev/chorus/channels"
)

type sink struct {
	mu  sync.Mutex
	out []string
}

func (s *sink) send(_ context.Context, m channels.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.out = append(s.out, m.To.ID+":"+m.Text)
	return nil
}

func (s *sink) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.out...)
}

var ids atomic.Int64

func newID() string { return fmt.Sprint(ids.Add(1)) }

func msg(from, text string) channels.Message {
	return channels.Message{From: channels.Address{Network: channels.SMS, ID: from}, To: channels.Address{Network: channels.SMS, ID: "+1555"}, Text: text}
}

// echoUntilBye answers every message until "bye".
func echoUntilBye(c channels.Conversation) {
	ctx := context.Background()
	_ = c.Send(ctx, "hi "+c.Info().InitialText)
	for {
		m, err := c.Receive(ctx, 5*time.Second)
		if err != nil {
			return
		}
		if m.Text == "bye" {
			_ = c.Send(ctx, "bye")
			return
		}
		_ = c.Send(ctx, "echo "+m.Text)
	}
}

func TestConversationPerSender(t *testing.T) {
	s := &sink{}
	th, err := New(Config{Handler: channels.HandlerFunc(echoUntilBye), Send: s.send, NewID: newID})
	if err != nil {
		t.Fatal(err)
	}
	defer quickShutdown(th)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a1, seq, _ := th.Deliver(msg("a", "one"))
	if _, st := a1.WaitTurn(ctx, seq); st != Waiting {
		t.Fatalf("state after first message = %v", st)
	}
	b1, seq, _ := th.Deliver(msg("b", "uno"))
	b1.WaitTurn(ctx, seq)
	a2, seq, _ := th.Deliver(msg("a", "two"))
	if a2 != a1 {
		t.Fatal("the second message from a started a new conversation")
	}
	a2.WaitTurn(ctx, seq)
	a3, seq, _ := th.Deliver(msg("a", "bye"))
	if _, st := a3.WaitTurn(ctx, seq); st != Ended {
		t.Fatalf("state after bye = %v", st)
	}
	if a1.Info().InitialText != "one" || b1.Info().InitialText != "uno" {
		t.Fatal("initial texts wrong")
	}
	a4, seq, _ := th.Deliver(msg("a", "again"))
	if a4 == a1 {
		t.Fatal("a message after the end went to the ended conversation")
	}
	a4.WaitTurn(ctx, seq)
	want := []string{"a:hi one", "b:hi uno", "a:echo two", "a:bye", "a:hi again"}
	if got := s.lines(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("sent %q, want %q", got, want)
	}
}

func TestQueueFull(t *testing.T) {
	release := make(chan struct{})
	h := channels.HandlerFunc(func(c channels.Conversation) { <-release })
	th, _ := New(Config{Handler: h, Send: (&sink{}).send, NewID: newID, QueueDepth: 3})
	defer quickShutdown(th)
	defer close(release)
	if _, _, err := th.Deliver(msg("a", "start")); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, _, err := th.Deliver(msg("a", "q")); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if _, _, err := th.Deliver(msg("a", "over")); !errors.Is(err, channels.ErrQueueFull) {
		t.Fatalf("4th queued message: err = %v, want ErrQueueFull", err)
	}
	if _, _, err := th.Deliver(msg("b", "other")); err != nil {
		t.Fatalf("another sender was refused: %v", err)
	}
}

func TestLeftoversStartNextConversation(t *testing.T) {
	s := &sink{}
	gate := make(chan struct{})
	h := channels.HandlerFunc(func(c channels.Conversation) {
		if c.Info().InitialText == "first" {
			<-gate // messages queue meanwhile; then end without reading them
			return
		}
		_ = c.Send(context.Background(), "new session for "+c.Info().InitialText)
		m, err := c.Receive(context.Background(), time.Second)
		if err == nil {
			_ = c.Send(context.Background(), "then "+m.Text)
		}
	})
	th, _ := New(Config{Handler: h, Send: s.send, NewID: newID})
	defer quickShutdown(th)
	th.Deliver(msg("a", "first"))
	th.Deliver(msg("a", "second"))
	c, seq, _ := th.Deliver(msg("a", "third"))
	close(gate)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	answered, st := c.WaitTurn(ctx, seq)
	if answered == c || st != Ended || answered.Info().InitialText != "second" {
		t.Fatalf("WaitTurn for the third message ended on %q (%v), want the conversation the leftovers started", answered.Info().InitialText, st)
	}
	deadline := time.Now().Add(3 * time.Second)
	for len(s.lines()) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	want := []string{"a:new session for second", "a:then third"}
	if got := s.lines(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("sent %q, want %q", got, want)
	}
}

func TestIdleExpiry(t *testing.T) {
	ended := make(chan error, 1)
	h := channels.HandlerFunc(func(c channels.Conversation) {
		_, err := c.Receive(context.Background(), 0)
		ended <- context.Cause(c.Context())
		_ = err
	})
	th, _ := New(Config{Handler: h, Send: (&sink{}).send, NewID: newID, Idle: 50 * time.Millisecond})
	defer quickShutdown(th)
	th.Deliver(msg("a", "hello"))
	select {
	case err := <-ended:
		if !errors.Is(err, channels.ErrIdle) {
			t.Fatalf("cause = %v, want ErrIdle", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("idle conversation was not ended")
	}
}

func TestShutdownEndsAndWaits(t *testing.T) {
	var running atomic.Int32
	h := channels.HandlerFunc(func(c channels.Conversation) {
		running.Add(1)
		defer running.Add(-1)
		_, _ = c.Receive(context.Background(), time.Hour)
	})
	th, _ := New(Config{Handler: h, Send: (&sink{}).send, NewID: newID})
	for i := 0; i < 20; i++ {
		c, seq, _ := th.Deliver(msg(fmt.Sprint(i), "x"))
		c.WaitTurn(context.Background(), seq)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := th.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if n := running.Load(); n != 0 {
		t.Fatalf("%d handlers still running after Shutdown", n)
	}
	if _, _, err := th.Deliver(msg("z", "late")); !errors.Is(err, channels.ErrUnavailable) {
		t.Fatalf("Deliver after Shutdown: %v", err)
	}
}

func TestPanickingHandlerDoesNotKillTheServer(t *testing.T) {
	h := channels.HandlerFunc(func(c channels.Conversation) { panic("boom") })
	th, _ := New(Config{Handler: h, Send: (&sink{}).send, NewID: newID})
	defer quickShutdown(th)
	c, seq, _ := th.Deliver(msg("a", "x"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, st := c.WaitTurn(ctx, seq); st != Ended {
		t.Fatalf("state = %v", st)
	}
}

// TestShutdownDrains: a conversation that is about to finish is let finish
// (its next message is still delivered); no new one starts meanwhile.
func TestShutdownDrains(t *testing.T) {
	s := &sink{}
	th, _ := New(Config{Handler: channels.HandlerFunc(echoUntilBye), Send: s.send, NewID: newID})
	c, seq, _ := th.Deliver(msg("a", "hello"))
	c.WaitTurn(context.Background(), seq)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- th.Shutdown(ctx) }()
	time.Sleep(50 * time.Millisecond)
	if _, _, err := th.Deliver(msg("b", "new")); !errors.Is(err, channels.ErrUnavailable) {
		t.Fatalf("a new conversation started while draining: %v", err)
	}
	if _, _, err := th.Deliver(msg("a", "bye")); err != nil {
		t.Fatalf("a live conversation's message was refused while draining: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Shutdown did not return once the conversation finished")
	}
	if got := strings.Join(s.lines(), "|"); got != "a:hi hello|a:bye" {
		t.Fatalf("sent %q", got)
	}
}

// quickShutdown ends a test's Threads without the 5 s drain.
func quickShutdown(th *Threads) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_ = th.Shutdown(ctx)
}

func TestEndLocal(t *testing.T) {
	ended := make(chan error, 4)
	h := channels.HandlerFunc(func(c channels.Conversation) {
		_, _ = c.Receive(context.Background(), 0)
		ended <- context.Cause(c.Context())
	})
	th, _ := New(Config{Handler: h, Send: (&sink{}).send, NewID: newID})
	defer quickShutdown(th)
	other := msg("c", "hello")
	other.To.ID = "+1666"
	for _, m := range []channels.Message{msg("a", "hi"), msg("b", "hi"), other} {
		if _, _, err := th.Deliver(m); err != nil {
			t.Fatal(err)
		}
	}
	if n := th.EndLocal(channels.Address{Network: channels.SMS, ID: "+1555"}, channels.ErrReleased); n != 2 {
		t.Fatalf("EndLocal ended %d conversations, want 2", n)
	}
	for i := 0; i < 2; i++ {
		select {
		case err := <-ended:
			if !errors.Is(err, channels.ErrReleased) {
				t.Fatalf("cause %v", err)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("a conversation of the released address goes on")
		}
	}
	select {
	case err := <-ended:
		t.Fatalf("the other address's conversation ended too: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
}
