package sms

import (
	"context"
	"sync"
	"time"
)

// pacer is a token bucket holding one token: submits are spaced 1/rate
// apart, so no second ever sees more than rate+1 of them. wait reserves
// the next slot and sleeps until it, bounded by ctx (a cancelled wait
// gives its slot back when it was the last one reserved).
type pacer struct {
	interval time.Duration

	mu   sync.Mutex
	next time.Time
}

func newPacer(perSecond float64) *pacer {
	return &pacer{interval: time.Duration(float64(time.Second) / perSecond)}
}

func (p *pacer) wait(ctx context.Context) error {
	p.mu.Lock()
	now := time.Now()
	at := p.next
	if at.Before(now) {
		at = now
	}
	p.next = at.Add(p.interval)
	p.mu.Unlock()
	d := time.Until(at)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		p.mu.Lock()
		if p.next.Equal(at.Add(p.interval)) {
			p.next = at
		}
		p.mu.Unlock()
		return context.Cause(ctx)
	}
}
