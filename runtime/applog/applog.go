// Package applog is the apps' log: every line goes to the store (durable
// within 1 s, batched there) and on to live followers.
//
// Followers that must not lose lines (GET /v1/logs?follow=1) are woken, not
// fed: Notify gives a channel that is signalled after each matching line is
// queued in the store, and the follower reads the store itself, from the
// last line ID it sent (store.LogFilter.AfterID; reads see queued lines).
// Such a follower may be slow or busy with its backlog: it loses nothing and
// gets every line once, in ID order.
//
// Subscribe feeds the lines themselves, for a console (chorus run). A
// subscriber that does not keep up loses lines rather than slowing the apps
// (its channel holds 256); once it has room again it is told with one
// "lines dropped" line.
package applog

import (
	"fmt"
	"sync"
	"time"

	"github.com/chorus-dev/chorus/store"
)

// Hub fans log lines out to the store and to followers.
type Hub struct {
	st store.Logs

	mu     sync.Mutex
	subs   map[*Sub]struct{}
	wakers map[*waker]struct{}
}

// New returns a Hub writing to st.
func New(st store.Logs) *Hub {
	return &Hub{st: st, subs: map[*Sub]struct{}{}, wakers: map[*waker]struct{}{}}
}

// Sub is one subscriber fed the lines themselves.
type Sub struct {
	C       chan store.LogLine
	filter  store.LogFilter
	dropped int // lines lost since the subscriber last had room
}

type waker struct {
	c      chan struct{}
	filter store.LogFilter
}

// Write records one line: it queues it in the store, then wakes the
// followers and feeds the subscribers it matches.
func (h *Hub) Write(l store.LogLine) {
	if l.At.IsZero() {
		l.At = time.Now().UTC()
	}
	h.st.AppendLog(l)
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.wakers {
		if match(w.filter, l) {
			select {
			case w.c <- struct{}{}:
			default: // already signalled: one read of the store gets both
			}
		}
	}
	for s := range h.subs {
		if match(s.filter, l) {
			s.feed(l)
		}
	}
}

// feed gives l to s without blocking; h.mu is held.
func (s *Sub) feed(l store.LogLine) {
	if s.dropped > 0 {
		notice := store.LogLine{
			At: l.At, AccountID: l.AccountID, App: l.App, Level: "warn",
			Text: fmt.Sprintf("applog: %d log lines dropped: this follower did not keep up", s.dropped),
		}
		select {
		case s.C <- notice:
			s.dropped = 0
		default:
			s.dropped++
			return
		}
	}
	select {
	case s.C <- l:
	default:
		s.dropped++
	}
}

func match(f store.LogFilter, l store.LogLine) bool {
	return (f.AccountID == 0 || f.AccountID == l.AccountID) &&
		(f.App == "" || f.App == l.App) &&
		(f.Session == "" || f.Session == l.Session)
}

// Subscribe feeds lines matching f (account, app and session; other fields
// are ignored) to the returned Sub's C until cancel is called. Lines are
// lost when C is full; see the package doc.
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

// Notify returns a channel that is signalled after each Write of a line
// matching f (account, app and session), once that line is queued in the
// store, until cancel is called. Signals coalesce (the channel holds one):
// on each, read the store past the last line ID seen. Call Notify before the
// first read so that no line falls between the two.
func (h *Hub) Notify(f store.LogFilter) (<-chan struct{}, func()) {
	w := &waker{c: make(chan struct{}, 1), filter: f}
	h.mu.Lock()
	h.wakers[w] = struct{}{}
	h.mu.Unlock()
	return w.c, func() {
		h.mu.Lock()
		delete(h.wakers, w)
		h.mu.Unlock()
	}
}
