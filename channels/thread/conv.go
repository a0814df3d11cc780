package thread

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/chorus-dev/chorus/channels"
)

// Conv is one text conversation. It implements channels.Conversation.
type Conv struct {
	t      *Threads
	k      key
	ctx    context.Context
	cancel context.CancelCauseFunc
	info   channels.Info
	inbox  chan *channels.Message // pointers: an idle inbox costs 16 words, not 16 messages
	owned  bool                   // opened with Open: no handler goroutine

	mu        sync.Mutex
	state     State
	delivered uint64 // messages handed to this conversation (the first counts)
	consumed  uint64 // messages the script has received
	changed   chan struct{}
	lastIn    time.Time
	idle      *time.Timer
	// next is the conversation the messages left in this one's inbox
	// started; their sequence numbers there are ours minus nextOffset.
	next       *Conv
	nextOffset uint64
}

var _ channels.Conversation = (*Conv)(nil)

func (c *Conv) run() {
	defer c.t.wg.Done()
	c.mu.Lock()
	c.idle = time.AfterFunc(c.t.cfg.Idle, c.idleCheck)
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.idle.Stop()
		c.mu.Unlock()
		c.cancel(ErrEnded)
		c.t.finish(c)
	}()
	defer func() {
		if r := recover(); r != nil {
			c.t.cfg.Logger.Error("conversation handler panicked", "session", c.info.ID, "remote", c.info.Remote.String(), "panic", fmt.Sprint(r))
		}
	}()
	c.t.cfg.Handler.ServeConversation(c)
}

// idleCheck ends the conversation if nothing arrived for Idle, or re-arms
// its one timer for when that would be.
func (c *Conv) idleCheck() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == Ended {
		return
	}
	if since := time.Since(c.lastIn); since < c.t.cfg.Idle {
		c.idle.Reset(c.t.cfg.Idle - since)
		return
	}
	c.cancel(ErrIdle)
}

func (c *Conv) push(m channels.Message) (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == Ended {
		return 0, ErrEnded
	}
	select {
	case c.inbox <- &m:
	default:
		return 0, channels.ErrQueueFull
	}
	c.delivered++
	c.lastIn = time.Now()
	return c.delivered, nil
}

// Info describes the conversation.
func (c *Conv) Info() channels.Info { return c.info }

// Context is cancelled when the conversation ends from outside.
func (c *Conv) Context() context.Context { return c.ctx }

// Close ends a conversation opened with Open.
func (c *Conv) Close() {
	if !c.owned {
		return
	}
	c.cancel(ErrEnded)
	c.t.finish(c)
}

// End cancels the conversation with cause (API DELETE, shutdown).
func (c *Conv) End(cause error) { c.cancel(cause) }

// Send delivers text to the other party.
func (c *Conv) Send(ctx context.Context, text string) error {
	if err := context.Cause(c.ctx); err != nil {
		return fmt.Errorf("%w: %w", channels.ErrHangup, err)
	}
	m := channels.Message{From: c.k.local, To: c.k.remote, Text: text, At: time.Now(), SessionID: c.info.ID}
	return c.t.cfg.Send(ctx, m)
}

// Receive waits up to d for the next message.
func (c *Conv) Receive(ctx context.Context, d time.Duration) (channels.Message, error) {
	select {
	case m := <-c.inbox:
		c.consume()
		return *m, nil
	default:
	}
	c.setState(Waiting)
	defer c.setState(Running)
	var timeout <-chan time.Time
	if d > 0 {
		tm := time.NewTimer(d)
		defer tm.Stop()
		timeout = tm.C
	}
	select {
	case m := <-c.inbox:
		c.consume()
		return *m, nil
	case <-timeout:
		return channels.Message{}, channels.ErrTimeout
	case <-c.ctx.Done():
		return channels.Message{}, fmt.Errorf("%w: %w", channels.ErrHangup, context.Cause(c.ctx))
	case <-ctx.Done():
		return channels.Message{}, context.Cause(ctx)
	}
}

// consume counts a received message and leaves Waiting in the same step, so
// WaitTurn never sees "waiting" with the new message already counted.
func (c *Conv) consume() {
	c.mu.Lock()
	c.consumed++
	was := c.state
	if c.state == Waiting {
		c.state = Running
	}
	c.notifyLocked()
	c.mu.Unlock()
	if was == Waiting {
		c.observe(Event{State: Running})
	}
}

func (c *Conv) setState(s State) {
	c.mu.Lock()
	if c.state == Ended || c.state == s {
		c.mu.Unlock()
		return
	}
	c.state = s
	c.notifyLocked()
	c.mu.Unlock()
	c.observe(Event{State: s})
}

func (c *Conv) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *Conv) observe(ev Event) {
	if c.t.cfg.Observe != nil {
		c.t.cfg.Observe(c, ev)
	}
}

// State is the conversation's state now.
func (c *Conv) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Status returns the state, how many messages the script has consumed, and
// a channel closed at the next change.
func (c *Conv) Status() (State, uint64, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state, c.consumed, c.changed
}

// WaitTurn waits until the script has consumed message seq and then waits
// for input or ends, or until ctx is done. It returns the conversation the
// message was answered in (a message left queued when a conversation ended
// starts the next one, which WaitTurn follows) and its state then.
func (c *Conv) WaitTurn(ctx context.Context, seq uint64) (*Conv, State) {
	for {
		st, consumed, ch := c.Status()
		if st == Ended {
			c.mu.Lock()
			next, off := c.next, c.nextOffset
			c.mu.Unlock()
			if next != nil && seq > off {
				c, seq = next, seq-off
				continue
			}
			return c, st
		}
		if st == Waiting && consumed >= seq {
			return c, st
		}
		select {
		case <-ch:
		case <-ctx.Done():
			st, _, _ := c.Status()
			if st == Waiting {
				// Waiting, but not yet for this message: still running it.
				return c, Running
			}
			return c, st
		}
	}
}
