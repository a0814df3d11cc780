package channeltest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/chorus-dev/chorus/channels"
)

// Conversation is a scripted text conversation: Receive hands out the
// queued inputs one by one; Send records. It never waits: an exhausted
// script fails (ErrExhausted) so that a test cannot hang.
type Conversation struct {
	info   channels.Info
	ctx    context.Context
	cancel context.CancelCauseFunc

	mu     sync.Mutex
	inputs []Line
	log    []Line
	err    error
}

// ErrExhausted is returned when the app waits for input the script lacks.
var ErrExhausted = errors.New("the app waits for input but the transcript has none left")

// NewConversation returns a text conversation; inputs are '>' and '!'
// lines (the first '>' is not included: it is info.InitialText).
func NewConversation(info channels.Info, inputs []Line) *Conversation {
	ctx, cancel := context.WithCancelCause(context.Background())
	return &Conversation{info: info, ctx: ctx, cancel: cancel, inputs: inputs}
}

// Info describes the conversation.
func (c *Conversation) Info() channels.Info { return c.info }

// Context is cancelled by a '! hangup' line.
func (c *Conversation) Context() context.Context { return c.ctx }

// Send records an outgoing message.
func (c *Conversation) Send(_ context.Context, text string) error {
	if c.ctx.Err() != nil {
		return channels.ErrHangup
	}
	c.record(Line{Dir: '<', Text: text})
	return nil
}

func (c *Conversation) record(l Line) {
	c.mu.Lock()
	c.log = append(c.log, l)
	c.mu.Unlock()
}

// next returns the next input.
func (c *Conversation) next() (Line, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.inputs) == 0 {
		c.err = ErrExhausted
		c.cancel(fmt.Errorf("%w", channels.ErrHangup))
		return Line{}, ErrExhausted
	}
	l := c.inputs[0]
	c.inputs = c.inputs[1:]
	c.log = append(c.log, l)
	if l.Dir == '!' && l.Text == "hangup" {
		c.cancel(channels.ErrHangup)
	}
	return l, nil
}

// input is the text of the next '>' line; "! timeout" is ErrTimeout, and
// "! hangup", an exhausted script or a conversation already over are
// ErrHangup.
func (c *Conversation) input() (string, error) {
	if c.ctx.Err() != nil {
		return "", channels.ErrHangup
	}
	l, err := c.next()
	switch {
	case err != nil:
		return "", fmt.Errorf("%w: %w", channels.ErrHangup, err)
	case l.Dir == '!' && l.Text == "timeout":
		return "", channels.ErrTimeout
	case l.Dir == '!':
		return "", channels.ErrHangup
	}
	return l.Text, nil
}

// Receive hands out the next input line.
func (c *Conversation) Receive(ctx context.Context, _ time.Duration) (channels.Message, error) {
	text, err := c.input()
	if err != nil {
		return channels.Message{}, err
	}
	return channels.Message{From: c.info.Remote, To: c.info.Local, Text: text, At: time.Now()}, nil
}

// Log is what happened, in order.
func (c *Conversation) Log() []Line {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Line(nil), c.log...)
}

// Left is the input not consumed, and whether the app ran out of input.
func (c *Conversation) Left() ([]Line, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Line(nil), c.inputs...), c.err
}

// Call is a scripted voice call: Play records, Collect hands out the next
// input as keypad digits (a trailing "#" is the terminator).
type Call struct {
	*Conversation
	mu       sync.Mutex
	answered bool
	hungUp   bool
	rejected int
}

var _ channels.Call = (*Call)(nil)

// NewCall returns a scripted call.
func NewCall(info channels.Info, inputs []Line) *Call {
	info.Voice = true
	return &Call{Conversation: NewConversation(info, inputs)}
}

// Answer answers.
func (c *Call) Answer(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.answered = true
	return nil
}

// Answered reports whether the call was answered.
func (c *Call) Answered() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.answered
}

// Play records the spoken text.
func (c *Call) Play(_ context.Context, text string, _ channels.PlayOptions) error {
	if c.ctx.Err() != nil {
		return channels.ErrHangup
	}
	c.record(Line{Dir: '<', Text: text})
	return nil
}

// Collect hands out the next input as DTMF.
func (c *Call) Collect(ctx context.Context, o channels.CollectOptions) (channels.Input, error) {
	digits, err := c.input()
	if err != nil {
		return channels.Input{}, err
	}
	if o.Terminator != "" {
		digits = strings.TrimSuffix(digits, o.Terminator)
	}
	return channels.Input{Text: digits, Kind: "dtmf", Confidence: 1}, nil
}

// Record takes the next input as the recording's URI.
func (c *Call) Record(ctx context.Context, _ channels.RecordOptions) (channels.Recording, error) {
	text, err := c.input()
	if err != nil {
		return channels.Recording{}, err
	}
	return channels.Recording{URI: "test:" + text, Duration: time.Second}, nil
}

// Transfer records the transfer.
func (c *Call) Transfer(_ context.Context, to string, _ channels.TransferOptions) error {
	c.record(Line{Dir: '<', Text: "[transfer " + to + "]"})
	return nil
}

// Reject records the rejection.
func (c *Call) Reject(_ context.Context, code int) error {
	c.mu.Lock()
	c.rejected = code
	c.mu.Unlock()
	c.record(Line{Dir: '<', Text: fmt.Sprintf("[reject %d]", code)})
	return nil
}

// Redirect records the redirect.
func (c *Call) Redirect(_ context.Context, to string) error {
	c.record(Line{Dir: '<', Text: "[redirect " + to + "]"})
	return nil
}

// Hangup hangs up.
func (c *Call) Hangup(context.Context) error {
	c.mu.Lock()
	c.hungUp = true
	c.mu.Unlock()
	return nil
}

// HungUp reports whether the app hung up.
func (c *Call) HungUp() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hungUp
}
