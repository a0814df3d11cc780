package sqlite

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/chorus-dev/chorus/store"
)

// The batch writer. SaveSession and AppendLog put writes on a queue and
// return; one goroutine, owned by the Store, takes everything queued at
// least every FlushInterval (sooner when kicked by Sync or a large queue) and
// commits it in one transaction. Saves of the same session coalesce: only
// the newest is written. Each queued write has a sequence number; done is the
// highest one committed, which is what Sync waits for.
//
// Backpressure: when MaxPending writes are queued, AppendLog and the
// SaveSession of a new session wait until the writer takes the queue, at
// most maxWait. Then a log line is dropped and counted (a warning reports
// drops); a session is queued anyway (sessions are never dropped, and saves
// of a queued session replace it without waiting). The writer takes the
// whole queue at once, so a wait lasts at most one commit of MaxPending
// writes. A failed commit puts its writes back (behind newer saves
// of the same session), fails the Syncs waiting on it, and is retried with
// backoff.

const (
	kickAt     = 2048 // queued writes that trigger a flush before the tick
	maxWait    = 500 * time.Millisecond
	maxBackoff = 5 * time.Second
)

var errClosed = errors.New("store: closed")

// pendingSession is a session snapshot: Params and Transcript are encoded
// when queued, so the caller may go on changing its own copy.
type pendingSession struct {
	s          store.Session
	params     string
	transcript string
}

type batch struct {
	sessions map[string]*pendingSession
	logs     []store.LogLine
	upto     uint64
}

type queue struct {
	mu       sync.Mutex
	sessions map[string]*pendingSession
	logs     []store.LogLine
	enq      uint64        // sequence number of the newest queued write
	done     uint64        // every write numbered <= done is committed
	errGen   uint64        // counts failed commits
	lastErr  error         // of the newest failed commit
	changed  chan struct{} // closed (and replaced) when done, errGen or the queue changes
	kick     chan struct{} // asks the writer to flush now
	closed   bool
	dropped  uint64 // log lines dropped since last reported
	max      int    // queued writes beyond which callers wait
	finalErr error  // what the last flush at Close lost
}

func (q *queue) init(max int) {
	q.sessions = map[string]*pendingSession{}
	q.changed = make(chan struct{})
	q.kick = make(chan struct{}, 1)
	q.max = max
}

// broadcast wakes everyone waiting on changed; q.mu is held.
func (q *queue) broadcast() {
	close(q.changed)
	q.changed = make(chan struct{})
}

func (q *queue) poke() {
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

// pendingLocked is how many writes are queued; q.mu is held.
func (q *queue) pendingLocked() int { return len(q.sessions) + len(q.logs) }

// waitRoom waits, q.mu held, until fewer than max writes are queued, the
// store closes, or maxWait passes (false).
func (q *queue) waitRoom() bool {
	var deadline *time.Timer
	for q.pendingLocked() >= q.max && !q.closed {
		if deadline == nil {
			deadline = time.NewTimer(maxWait)
			defer deadline.Stop()
		}
		ch := q.changed
		q.mu.Unlock()
		q.poke()
		select {
		case <-ch:
			q.mu.Lock()
		case <-deadline.C:
			q.mu.Lock()
			return false
		}
	}
	return true
}

// putSession queues ps, replacing a queued save of the same session. A new
// session waits for room like a log line but is queued even when none came.
func (q *queue) putSession(ps *pendingSession) bool {
	q.mu.Lock()
	if _, replace := q.sessions[ps.s.ID]; !replace {
		q.waitRoom()
	}
	if q.closed {
		q.mu.Unlock()
		return false
	}
	q.enq++
	q.sessions[ps.s.ID] = ps
	kick := q.pendingLocked() >= kickAt
	q.mu.Unlock()
	if kick {
		q.poke()
	}
	return true
}

// putLog queues l; it reports false if the store is closed or the line was
// dropped because the queue stayed full.
func (q *queue) putLog(l store.LogLine) bool {
	q.mu.Lock()
	if !q.waitRoom() {
		q.dropped++
		q.mu.Unlock()
		return false
	}
	if q.closed {
		q.mu.Unlock()
		return false
	}
	q.enq++
	q.logs = append(q.logs, l)
	kick := q.pendingLocked() >= kickAt
	q.mu.Unlock()
	if kick {
		q.poke()
	}
	return true
}

// take hands everything queued to the writer; ok is false when nothing
// was queued. Emptiness is decided here, under q.mu: the batch owns its map
// and slice (the queue gets new ones), and an empty take hands out nothing,
// never the queue's live map, which putSession goes on writing.
func (q *queue) take() (b batch, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.pendingLocked() == 0 {
		if q.done != q.enq {
			q.done = q.enq
			q.broadcast()
		}
		return batch{}, false
	}
	b = batch{sessions: q.sessions, logs: q.logs, upto: q.enq}
	q.sessions = make(map[string]*pendingSession, len(b.sessions))
	q.logs = make([]store.LogLine, 0, len(b.logs))
	q.broadcast() // room for waiting AppendLogs
	return b, true
}

// committed records that b is durable.
func (q *queue) committed(b batch) {
	q.mu.Lock()
	q.done = b.upto
	q.broadcast()
	q.mu.Unlock()
}

// failed puts b back in front of what was queued since and fails the Syncs
// waiting for it.
func (q *queue) failed(b batch, err error) {
	q.mu.Lock()
	for id, ps := range b.sessions {
		if _, newer := q.sessions[id]; !newer {
			q.sessions[id] = ps
		}
	}
	q.logs = append(b.logs, q.logs...)
	q.errGen++
	q.lastErr = err
	q.broadcast()
	q.mu.Unlock()
}

func (q *queue) closeErr() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.finalErr
}

// Sync waits until every session and log write queued before the call is
// committed. It returns the error of a commit that failed meanwhile (the
// writes are retried), or ctx's error.
func (s *Store) Sync(ctx context.Context) error {
	q := &s.q
	q.mu.Lock()
	target, gen := q.enq, q.errGen
	q.mu.Unlock()
	kicked := false
	for {
		q.mu.Lock()
		switch {
		case q.done >= target:
			q.mu.Unlock()
			return nil
		case q.errGen != gen:
			err := q.lastErr
			q.mu.Unlock()
			return fmt.Errorf("store: sync: %w", err)
		case q.closed && q.finalErr != nil:
			err := q.finalErr
			q.mu.Unlock()
			return fmt.Errorf("store: sync: %w", err)
		}
		ch := q.changed
		q.mu.Unlock()
		if !kicked {
			q.poke()
			kicked = true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("store: sync: %w", ctx.Err())
		case <-s.done:
			// The writer is gone: its last flush decides.
			q.mu.Lock()
			ok, err := q.done >= target, q.finalErr
			q.mu.Unlock()
			if ok {
				return nil
			}
			if err == nil {
				err = errClosed
			}
			return fmt.Errorf("store: sync: %w", err)
		}
	}
}

// syncForRead makes a read see the writes queued before it. A failing
// writer does not stop reads of what is committed (the writer logs its
// errors); a done ctx does.
func (s *Store) syncForRead(ctx context.Context) error {
	q := &s.q
	q.mu.Lock()
	idle := q.done >= q.enq
	q.mu.Unlock()
	if idle {
		return nil
	}
	if err := s.Sync(ctx); err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return nil
}

// writer is the goroutine that commits queued writes; Close stops it.
func (s *Store) writer() {
	defer close(s.done)
	tick := time.NewTicker(s.cfg.FlushInterval)
	defer tick.Stop()
	cleanup := time.NewTicker(s.cfg.CleanupInterval)
	defer cleanup.Stop()
	failures := 0
	for {
		select {
		case <-s.stop:
			s.finalFlush()
			return
		case <-cleanup.C:
			s.cleanup(context.Background())
			continue
		case <-tick.C:
			s.reportDrops()
		case <-s.q.kick:
		}
		if err := s.flush(); err != nil {
			failures++
			wait := min(s.cfg.FlushInterval<<min(failures, 10), maxBackoff)
			s.log.Error("store: saving sessions and logs failed; retrying", "err", err, "retry_in", wait, "failures", failures)
			select {
			case <-time.After(wait):
			case <-s.stop:
				s.finalFlush()
				return
			}
			continue
		}
		failures = 0
	}
}

// flush commits everything queued in one transaction.
func (s *Store) flush() error {
	b, ok := s.q.take()
	if !ok {
		return nil
	}
	if err := s.commit(b); err != nil {
		s.q.failed(b, err)
		return err
	}
	s.q.committed(b)
	return nil
}

// finalFlush commits what is queued when the store closes, retrying a
// failed commit a few times, and records what could not be saved.
func (s *Store) finalFlush() {
	s.q.mu.Lock()
	s.q.closed = true
	s.q.broadcast() // wake AppendLogs waiting for room: they drop now
	s.q.mu.Unlock()
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = s.flush(); err == nil {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 100 * time.Millisecond)
	}
	s.reportDrops()
	q := &s.q
	q.mu.Lock()
	defer q.mu.Unlock()
	if err != nil {
		q.finalErr = fmt.Errorf("%d sessions and %d log lines not saved: %w", len(q.sessions), len(q.logs), err)
		s.log.Error("store: closing: queued writes lost", "err", q.finalErr)
	}
	q.broadcast()
}

func (s *Store) reportDrops() {
	q := &s.q
	q.mu.Lock()
	n := q.dropped
	q.dropped = 0
	q.mu.Unlock()
	if n > 0 {
		s.log.Warn("store: log queue full: log lines dropped", "count", n, "max_pending", q.max)
	}
}

// commit writes one batch in one transaction.
func (s *Store) commit(b batch) error {
	ctx := context.Background()
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	if len(b.sessions) > 0 {
		st, err := tx.PrepareContext(ctx, upsertSession)
		if err != nil {
			return fmt.Errorf("prepare session upsert: %w", err)
		}
		defer st.Close()
		for _, ps := range b.sessions {
			x := &ps.s
			if _, err := st.ExecContext(ctx, x.ID, x.AccountID, x.AppID, x.AppName, x.Version, x.Network,
				x.Caller, x.Called, x.State, toNS(x.StartedAt), toNS(x.EndedAt), x.EndReason,
				ps.params, ps.transcript); err != nil {
				return fmt.Errorf("save session %s: %w", x.ID, err)
			}
		}
	}
	if len(b.logs) > 0 {
		st, err := tx.PrepareContext(ctx, insertLog)
		if err != nil {
			return fmt.Errorf("prepare log insert: %w", err)
		}
		defer st.Close()
		for i := range b.logs {
			l := &b.logs[i]
			if _, err := st.ExecContext(ctx, l.At.UnixNano(), l.AccountID, l.App, l.Session, l.Level, l.Text); err != nil {
				return fmt.Errorf("append log: %w", err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
