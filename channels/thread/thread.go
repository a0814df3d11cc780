package thread

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/chorus-dev/chorus/channels"
)

// Causes a conversation's context is cancelled with.
var (
	ErrIdle     = channels.ErrIdle
	ErrShutdown = channels.ErrShutdown
	ErrEnded    = errors.New("conversation ended")
)

// Config configures Threads.
type Config struct {
	// Handler runs each conversation (the engine). Required.
	Handler channels.Handler
	// Send delivers an app's message to the other party. Required.
	Send func(ctx context.Context, m channels.Message) error
	// Idle ends a conversation when no message arrived for this long.
	// Default 30 minutes.
	Idle time.Duration
	// QueueDepth bounds each inbox. Default 16.
	QueueDepth int
	// MaxLive bounds live conversations; a message that would start one
	// more gets ErrCapacity. Default 10,000.
	MaxLive int
	// NewID makes session ids. Required.
	NewID func() string
	// Observe, when set, is called for every state change, from the
	// conversation's goroutine. (What the app sends goes to Send.)
	Observe func(c *Conv, ev Event)
	Logger  *slog.Logger
}

// State of a conversation.
type State int

// States. Waiting means the script waits for input in Receive.
const (
	Running State = iota
	Waiting
	Ended
)

func (s State) String() string {
	switch s {
	case Waiting:
		return "waiting"
	case Ended:
		return "ended"
	}
	return "running"
}

// Event is what Observe sees: a change of the conversation's state.
type Event struct {
	State State // the state after the change
}

type key struct{ local, remote channels.Address }

// Threads owns every live text conversation of one channel.
type Threads struct {
	cfg  Config
	base context.Context
	stop context.CancelCauseFunc
	wg   sync.WaitGroup

	mu     sync.Mutex
	live   map[key]*Conv
	closed bool
}

// New returns Threads for cfg.
func New(cfg Config) (*Threads, error) {
	if cfg.Handler == nil || cfg.Send == nil || cfg.NewID == nil {
		return nil, errors.New("thread: Handler, Send and NewID are required")
	}
	if cfg.Idle <= 0 {
		cfg.Idle = 30 * time.Minute
	}
	if cfg.QueueDepth <= 0 {
		cfg.QueueDepth = 16
	}
	if cfg.MaxLive <= 0 {
		cfg.MaxLive = 10000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	base, stop := context.WithCancelCause(context.Background())
	return &Threads{cfg: cfg, base: base, stop: stop, live: map[key]*Conv{}}, nil
}

// Deliver routes m (From: them, To: us) to its conversation. It returns the
// conversation and the message's sequence number in it: the conversation
// has consumed the message once Status reports consumed >= seq.
func (t *Threads) Deliver(m channels.Message) (*Conv, uint64, error) {
	if m.At.IsZero() {
		m.At = time.Now()
	}
	k := key{m.To, m.From}
	t.mu.Lock()
	if c := t.live[k]; c != nil { // live ones are served while draining
		seq, err := c.push(m)
		t.mu.Unlock()
		return c, seq, err
	}
	if t.closed {
		t.mu.Unlock()
		return nil, 0, channels.ErrUnavailable
	}
	if len(t.live) >= t.cfg.MaxLive {
		t.mu.Unlock()
		return nil, 0, ErrCapacity
	}
	c := t.start(k, m)
	t.mu.Unlock()
	t.run(c)
	return c, 1, nil
}

// ErrCapacity is returned when a new conversation would exceed MaxLive.
var ErrCapacity = errors.New("too many conversations are going on; try again shortly")

// start registers a new conversation for m; t.mu is held. The caller runs
// it (t.run) once the lock is released.
func (t *Threads) start(k key, m channels.Message) *Conv {
	ctx, cancel := context.WithCancelCause(t.base)
	c := &Conv{
		t:      t,
		k:      k,
		ctx:    ctx,
		cancel: cancel,
		info: channels.Info{
			ID:          t.cfg.NewID(),
			Local:       m.To,
			Remote:      m.From,
			RemoteName:  m.Name,
			InitialText: m.Text,
			Headers:     m.Headers,
		},
		inbox:     make(chan *channels.Message, t.cfg.QueueDepth),
		delivered: 1,
		consumed:  1,
		changed:   make(chan struct{}),
		lastIn:    time.Now(),
	}
	t.live[k] = c
	t.wg.Add(1)
	return c
}

// run starts c's handler goroutine (counted in t.wg by start).
func (t *Threads) run(c *Conv) { go c.run() }

// ErrBusy is returned by Open when a conversation with that person is live.
var ErrBusy = errors.New("a conversation with that address is already going on")

// Open starts an outbound conversation owned by the caller (a session's
// call()): replies from remote go to it. No handler runs; the caller must
// Close it.
func (t *Threads) Open(local, remote channels.Address, id string) (*Conv, error) {
	k := key{local, remote}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, channels.ErrUnavailable
	}
	if t.live[k] != nil {
		return nil, ErrBusy
	}
	ctx, cancel := context.WithCancelCause(t.base)
	c := &Conv{
		t: t, k: k, ctx: ctx, cancel: cancel, owned: true,
		info:    channels.Info{ID: id, Local: local, Remote: remote},
		inbox:   make(chan *channels.Message, t.cfg.QueueDepth),
		changed: make(chan struct{}),
		lastIn:  time.Now(),
	}
	t.live[k] = c
	return c, nil
}

// EndLocal ends every live conversation on our address local with cause
// (an address released from its app) and returns how many there were.
func (t *Threads) EndLocal(local channels.Address, cause error) int {
	t.mu.Lock()
	var ends []*Conv
	for k, c := range t.live {
		if k.local == local {
			ends = append(ends, c)
		}
	}
	t.mu.Unlock()
	for _, c := range ends {
		c.End(cause)
	}
	return len(ends)
}

// Lookup returns the live conversation between local and remote, or nil.
func (t *Threads) Lookup(local, remote channels.Address) *Conv {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.live[key{local, remote}]
}

// Live counts live conversations.
func (t *Threads) Live() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.live)
}

// Shutdown drains: no new conversation starts, live ones go on (their
// messages are still delivered) for half the time ctx leaves (5 s without a
// deadline), then every one still live is ended (cause ErrShutdown). It
// waits for their handlers until ctx is done.
func (t *Threads) Shutdown(ctx context.Context) error {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	done := make(chan struct{})
	go func() { t.wg.Wait(); close(done) }()
	drain := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		drain = time.Until(dl) / 2
	}
	timer := time.NewTimer(drain)
	defer timer.Stop()
	select {
	case <-done:
		t.stop(ErrShutdown)
		return nil
	case <-timer.C:
	case <-ctx.Done():
	}
	t.stop(ErrShutdown)
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// finish removes c and marks it ended. Messages still queued start the
// next conversation, which WaitTurn follows; c's Ended event is observed
// before the next conversation runs.
func (t *Threads) finish(c *Conv) {
	t.mu.Lock()
	if t.live[c.k] == c {
		delete(t.live, c.k)
	}
	var left []channels.Message
	for {
		select {
		case m := <-c.inbox:
			left = append(left, *m)
			continue
		default:
		}
		break
	}
	var next *Conv
	if len(left) > 0 && !t.closed && t.live[c.k] == nil {
		next = t.start(c.k, left[0])
		for _, m := range left[1:] {
			_, _ = next.push(m)
		}
	}
	c.mu.Lock()
	c.state = Ended
	c.next, c.nextOffset = next, c.consumed
	c.notifyLocked()
	c.mu.Unlock()
	t.mu.Unlock()
	c.observe(Event{State: Ended})
	if next != nil {
		t.run(next)
	}
}
