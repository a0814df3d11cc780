// Package applog is the apps' log: every line goes to the store (durable
// within 1 s, batched there) and to live followers (GET /v1/logs?follow=1).
//
// Backpressure: a follower that does not keep up loses lines (its channel
// holds 256) rather than slowing the apps; it is told with one "lines
// dropped" line.
package applog

import (
	"sync"
	"time"

	"github.com/chorus-dev/chorus/store"
)

// Hub fans log lines out to the store and to followers.
type Hub struct {
	st store.Logs

	mu   sync.Mutex
	subs map[*Sub]struct{}
}

// New returns a Hub writing to st.
func New(st store.Logs) *Hub { return &Hub{st: st, subs: map[*Sub]struct{}{}} }

// Sub is one follower.
type Sub struct {
	C       chan store.LogLine
	filter  store.LogFilter
	dropped bool
}

// Write records one line.
func (h *Hub) Write(l store.LogLine) {
	if l.At.IsZero() {
		l.At = time.Now().UTC()
	}
	h.st.AppendLog(l)
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if !match(s.filter, l) {
			continue
		}
		select {
		case s.C <- l:
			s.dropped = false
		default:
			s.dropped = true
		}
	}
}

func match(f store.LogFilter, l store.LogLine) bool {
	return (f.AccountID == 0 || f.AccountID == l.AccountID) &&
		(f.App == "" || f.App == l.App) &&
		(f.Session == "" || f.Session == l.Session)
}

// Subscribe follows lines matching f until cancel is called.
func (h *Hub) Subscribe(f store.LogFilter) (*Sub, func()) {
	s := &Sub{C: make(chan store.LogLine, 256), filter: f}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s, func() {
		h.mu.Lock()
		delete(h.subs, s)
		h.mu.Unlock()
	}
}
