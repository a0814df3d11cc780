// Package luamodtest helps test script modules and the code that opens
// them: a recording fake of luamod.Host, and Run to run a chunk and get
// what it returns.
package luamodtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrBudget is what Host.Charge returns once the budget is spent.
var ErrBudget = errors.New("luamodtest: memory budget exceeded")

// Host is a luamod.Host that records every call as an event:
// "block", "resume" and "charge N". The zero value is ready to use: its
// context is context.Background() and its budget unlimited.
//
// Host is safe for concurrent use, so a test server's handler may add events
// with Note while a script runs.
type Host struct {
	// Ctx is returned by Context; nil means context.Background().
	Ctx context.Context
	// Budget, when positive, is the number of bytes Charge accepts in all;
	// the charge that would pass it fails with ErrBudget.
	Budget int64

	mu      sync.Mutex
	events  []string
	charged int64
	blocked int
}

// Context returns h.Ctx, or context.Background() when it is nil.
func (h *Host) Context() context.Context {
	if h.Ctx == nil {
		return context.Background()
	}
	return h.Ctx
}

// Blocking records "block"; the returned resume records "resume". Calling
// resume more than once records "resume again", which tests can look for.
func (h *Host) Blocking() func() {
	h.mu.Lock()
	h.blocked++
	h.events = append(h.events, "block")
	h.mu.Unlock()
	var once sync.Once
	return func() {
		done := false
		once.Do(func() {
			done = true
			h.mu.Lock()
			h.blocked--
			h.events = append(h.events, "resume")
			h.mu.Unlock()
		})
		if !done {
			h.Note("resume again")
		}
	}
}

// Charge records "charge N" and fails with ErrBudget when the total would
// pass a positive Budget (the failed charge is recorded, not counted).
func (h *Host) Charge(n int64) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, fmt.Sprintf("charge %d", n))
	if n < 0 {
		return fmt.Errorf("luamodtest: negative charge %d", n)
	}
	if h.Budget > 0 && h.charged+n > h.Budget {
		return ErrBudget
	}
	h.charged += n
	return nil
}

// Note adds an event of the test's own, such as "server" from a handler.
func (h *Host) Note(event string) {
	h.mu.Lock()
	h.events = append(h.events, event)
	h.mu.Unlock()
}

// Events returns a copy of the events recorded so far, in order.
func (h *Host) Events() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.events...)
}

// Charged returns the bytes successfully charged so far.
func (h *Host) Charged() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.charged
}

// Blocked reports whether a Blocking call is waiting for its resume.
func (h *Host) Blocked() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.blocked > 0
}
