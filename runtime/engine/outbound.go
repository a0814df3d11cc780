package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/chorus-dev/chorus/channels"
	"github.com/chorus-dev/chorus/runtime/verbs"
)

// RateLimitError says an app sent too much.
type RateLimitError struct{ Limit int }

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("the app sent more than %d outbound messages/calls this minute; try again later", e.Limit)
}

// appOutbound applies per-app limits to the configured Outbound.
type appOutbound struct {
	e         *Engine
	rt        route
	sessionID string
}

func (e *Engine) outbound(rt route, sessionID string) verbs.Outbound {
	if e.cfg.Outbound == nil {
		return nil
	}
	return appOutbound{e, rt, sessionID}
}

func (o appOutbound) allow() error {
	if o.e.cfg.AppMessagesPerMinute <= 0 {
		return nil
	}
	return o.e.rates.take(o.rt.AppID, o.e.cfg.AppMessagesPerMinute)
}

func (o appOutbound) Message(ctx context.Context, m channels.Message) error {
	from, err := o.from(ctx, m.From.Network, m.From.ID)
	if err != nil {
		return err
	}
	if err := o.allow(); err != nil {
		return err
	}
	m.From.ID = from
	m.SessionID = o.sessionID
	return o.e.cfg.Outbound.Message(ctx, m)
}

func (o appOutbound) Dial(ctx context.Context, n channels.Network, from, to string, opts channels.DialOptions) (channels.Conversation, error) {
	from, err := o.from(ctx, n, from)
	if err != nil {
		return nil, err
	}
	if err := o.allow(); err != nil {
		return nil, err
	}
	opts.SessionID = o.sessionID
	return o.e.cfg.Outbound.Dial(ctx, n, from, to, opts)
}

// ErrNotYourAddress refuses a from/callerID that is not the app's own.
var ErrNotYourAddress = errors.New("an app sends and calls only from its own addresses")

// from is the address an app sends from on network n: the one it names,
// which must be bound to this app (an app must never speak as another
// app's or another account's address), or by default its first address on
// that network ("" when it has none: the channel then says so).
func (o appOutbound) from(ctx context.Context, n channels.Network, from string) (string, error) {
	if from == "" {
		return o.e.appAddress(ctx, o.rt, n), nil
	}
	id, err := channels.Normalize(n, from)
	if err != nil {
		return "", err
	}
	rec, err := o.e.cfg.Store.Address(ctx, string(n), id)
	if err != nil || rec.AppID != o.rt.AppID {
		return "", fmt.Errorf("%s address %s is not bound to this app: %w", n, id, ErrNotYourAddress)
	}
	return id, nil
}

// appAddress is the app's first address on network n ("" if none).
func (e *Engine) appAddress(ctx context.Context, rt route, n channels.Network) string {
	recs, err := e.cfg.Store.ListAddresses(ctx, rt.AccountID)
	if err != nil {
		return ""
	}
	for _, r := range recs {
		if r.AppID == rt.AppID && r.Network == string(n) {
			return r.Address
		}
	}
	return ""
}

// minuteRates counts outbound actions per app per minute.
type minuteRates struct {
	mu     sync.Mutex
	window time.Time
	counts map[int64]int
}

func (r *minuteRates) take(app int64, limit int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now().Truncate(time.Minute)
	if !now.Equal(r.window) || r.counts == nil {
		r.window = now
		r.counts = map[int64]int{}
	}
	if r.counts[app] >= limit {
		return &RateLimitError{Limit: limit}
	}
	r.counts[app]++
	return nil
}

// Router is the Outbound of a server: it sends through the channel of the
// message's network and dials through the channels that can.
type Router struct {
	Senders map[channels.Network]channels.Sender
	Dialers map[channels.Network]Dialer
}

// Dialer starts outbound conversations (a network's Dial).
type Dialer interface {
	Dial(ctx context.Context, from, to string, opts channels.DialOptions) (channels.Conversation, error)
}

// Message sends m through its network's channel.
func (r Router) Message(ctx context.Context, m channels.Message) error {
	s := r.Senders[m.To.Network]
	if s == nil {
		return fmt.Errorf("no %s channel runs on this server: %w", m.To.Network, channels.ErrNoRoute)
	}
	to, err := channels.Normalize(m.To.Network, m.To.ID)
	if err != nil {
		return err
	}
	m.To.ID = to
	if m.At.IsZero() {
		m.At = time.Now()
	}
	return s.SendMessage(ctx, m)
}

// Dial starts a conversation through the network's channel.
func (r Router) Dial(ctx context.Context, n channels.Network, from, to string, opts channels.DialOptions) (channels.Conversation, error) {
	d := r.Dialers[n]
	if d == nil {
		return nil, fmt.Errorf("cannot call on %s from this server: %w", n, channels.ErrNoRoute)
	}
	if from == "" {
		return nil, fmt.Errorf("the app has no %s address to call from (bind one, or pass callerID): %w", n, channels.ErrNoRoute)
	}
	to, err := channels.Normalize(n, to)
	if err != nil {
		return nil, err
	}
	return d.Dial(ctx, from, to, opts)
}
