package sandbox

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// Session is one run of a script on a pooled Lua state, with its own
// globals, context, compute clock and memory budget. It belongs to the
// goroutine that called Start: Run, Blocking, Charge and Close must be
// called from it (Stop, Context and Stats from anywhere).
type Session struct {
	sb      *Sandbox
	ps      *pstate
	lstate  *lua.LState
	ctx     context.Context
	cancel  context.CancelCauseFunc
	globals *lua.LTable
	strMT   *lua.LTable // the protected metatable of strings for this session
	strCap  int         // the longest string a library function may build

	// runMu is held by the owner goroutine from Start to Close, except
	// between Blocking and resume: holding it is what lets the watchdog walk
	// an idle session's values without racing its goroutine.
	runMu    sync.Mutex
	resumeFn func()

	// Owner-goroutine state.
	blocked bool
	closed  bool
	dirty   bool // the state is not reusable (the script did not return normally)

	started  int64        // nanotime at Start
	phase    atomic.Int64 // nanotime the current compute phase began; 0 when not computing
	compute  atomic.Int64 // nanoseconds of compute in finished phases
	running  atomic.Bool  // inside Run
	finished atomic.Bool  // closed
	stopped  atomic.Bool  // Stop was called

	churn      atomic.Int64 // bytes built or charged since the last measurement
	base       atomic.Int64 // bytes reachable from the script at the last measurement
	measures   atomic.Int32
	coroutines atomic.Int32
}

// Stats describes a session's use of its limits, for logs.
type Stats struct {
	Compute    time.Duration // Lua compute so far, over all phases
	Phase      time.Duration // the current compute phase (0 while blocked)
	Elapsed    time.Duration // since Start
	Memory     int64         // estimated bytes: reachable at the last measurement plus built since
	Measures   int           // how often the session's values were walked to measure them
	Coroutines int           // coroutines created
}

// L returns the session's Lua state, for registering functions. It is only
// valid until Close; between Blocking and resume Go code must not touch it.
func (s *Session) L() *lua.LState { return s.lstate }

// Globals returns this session's fresh global table. The engine adds its
// verbs and modules to it before Run.
func (s *Session) Globals() *lua.LTable { return s.globals }

// Context returns the session's context. It is cancelled by Stop, by a
// limit (SessionMax included, by the watchdog), by the parent context passed
// to Start and by Close; context.Cause tells which.
func (s *Session) Context() context.Context { return s.ctx }

// Stop ends the script with cause (ErrStopped if nil). The script cannot
// catch it: once the context is done the VM raises before every
// instruction, so pcall, xpcall and coroutines all unwind, and Run returns
// an error that errors.Is cause. Safe to call from any goroutine, any number
// of times; the first cause wins. Go code that calls L.PCall must check
// Context().Err() afterwards and raise again when it is set.
func (s *Session) Stop(cause error) {
	if cause == nil {
		cause = ErrStopped
	}
	s.stopped.Store(true)
	s.cancel(cause)
}

func noop() {}

// Blocking is called by Go code (verbs such as ask, wait, http) before it
// blocks, and the returned resume after: time blocked does not count against
// Limits.Compute, and while blocked the session is idle for the heap
// watchdog, which may walk its values. Between the two calls the LState must
// not be touched. resume must be called on the owner goroutine before
// returning to Lua; calling Blocking while already blocked returns a no-op.
func (s *Session) Blocking() (resume func()) {
	if s.blocked || s.closed {
		return noop
	}
	s.blocked = true
	s.endPhase()
	s.runMu.Unlock()
	return s.resumeFn
}

func (s *Session) resume() {
	if !s.blocked {
		return
	}
	s.runMu.Lock()
	s.blocked = false
	s.phase.Store(s.sb.nanotime())
}

func (s *Session) endPhase() {
	if p := s.phase.Swap(0); p != 0 {
		s.compute.Add(s.sb.nanotime() - p)
	}
}

// Charge counts n bytes the script is about to hold (e.g. an asset() it
// loads) against the memory budget. If the budget would be exceeded, the
// session is stopped with a *LimitError, which Charge returns; the caller
// should raise it. Like the strings the library builds, a charge is an
// allocation: what stays reachable from Lua is found by the next
// measurement, what the script drops stops counting.
func (s *Session) Charge(n int64) error {
	if n <= 0 {
		return nil
	}
	mem := s.sb.limits.Memory
	if n > mem {
		return s.memoryLimit(fmt.Sprintf("needed %s at once, more than the session's %s", size(n), size(mem)))
	}
	if s.churn.Add(n)+s.base.Load() <= mem {
		return nil
	}
	if live := s.measure(mem - n); live+n > mem {
		return s.memoryLimit(fmt.Sprintf("used more than its %s of memory", size(mem)))
	}
	return nil
}

// allocString is called before a library function or the VM builds a
// string of n bytes; it raises a memory limit when the string is too long or
// the session's estimate goes over its budget.
func (s *Session) allocString(L *lua.LState, n int) {
	if n > s.strCap {
		s.raise(L, s.memoryLimit(fmt.Sprintf("built a string of %s, more than the %s one string may use", size(int64(n)), size(int64(s.strCap)))))
	}
	mem := s.sb.limits.Memory
	if s.churn.Add(int64(n))+s.base.Load() <= mem {
		return
	}
	if live := s.measure(mem - int64(n)); live+int64(n) > mem {
		s.raise(L, s.memoryLimit(fmt.Sprintf("used more than its %s of memory", size(mem))))
	}
}

// measure walks the session's values (on the owner goroutine), makes the
// result the new base of the estimate and returns it. The walk stops early
// once it is past stopAbove.
func (s *Session) measure(stopAbove int64) int64 {
	s.measures.Add(1)
	live := s.estimate(stopAbove, maxWalkNodes)
	s.base.Store(live)
	s.churn.Store(0)
	return live
}

func (s *Session) memoryLimit(detail string) error {
	err := &LimitError{Kind: KindMemory, Detail: detail}
	s.Stop(err)
	return err
}

// raise raises err in L, unless the session's context already carries a
// cause, which is raised instead.
func (s *Session) raise(L *lua.LState, err error) {
	if c := context.Cause(s.ctx); c != nil {
		err = c
	}
	L.RaiseError("%s", err.Error())
}

// checkCtx raises if the session has been stopped; for long loops in Go.
func (s *Session) checkCtx(L *lua.LState) {
	if s.ctx.Err() != nil {
		s.raise(L, context.Cause(s.ctx))
	}
}

// Run runs the main chunk proto with Globals() as its environment. It
// returns nil when the chunk returns normally; a *LimitError (errors.As)
// when a limit stopped it; the cause given to Stop (or of the parent
// context); or a *ScriptError with the script's error message.
func (s *Session) Run(proto *lua.FunctionProto) error {
	if s.closed {
		return errors.New("sandbox: Run on a closed session")
	}
	if proto == nil {
		return errors.New("sandbox: Run with a nil FunctionProto")
	}
	s.resume()
	if s.phase.Load() == 0 {
		s.phase.Store(s.sb.nanotime())
	}
	s.running.Store(true)
	defer s.running.Store(false)
	L := s.lstate
	fn := L.NewFunctionFromProto(proto)
	fn.Env = s.globals
	L.Push(fn)
	err := pcall(L)
	s.resume() // in case Go code returned to Lua while blocked
	L.SetTop(0)
	s.endPhase()
	if s.ctx.Err() != nil {
		s.dirty = true
		return context.Cause(s.ctx)
	}
	if err != nil {
		s.dirty = true
		return scriptError(err)
	}
	return nil
}

// pcall runs the function on top of L's stack. PCall recovers the script's
// errors; a panic escaping PCall itself (from its own recovery on a state
// left inconsistent) is turned into an error here rather than crashing the
// process.
func pcall(L *lua.LState) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error: %v", r)
		}
	}()
	return L.PCall(0, 0, nil)
}

func scriptError(err error) error {
	var ae *lua.ApiError
	if !errors.As(err, &ae) {
		return &ScriptError{Msg: err.Error()}
	}
	se := &ScriptError{Traceback: ae.StackTrace}
	switch v := ae.Object.(type) {
	case lua.LString:
		se.Msg = string(v)
	case nil:
		se.Msg = ae.Error()
	case *lua.LNilType:
		se.Msg = "nil"
	case lua.LNumber:
		se.Msg = v.String()
	default:
		se.Msg = fmt.Sprintf("(error object is a %s value)", v.Type().String())
		se.Value = v
	}
	if ae.Type == lua.ApiErrorPanic {
		se.Msg = "internal error: " + se.Msg
	}
	return se
}

// Close ends the session and releases its state: back to the pool if the
// script returned normally, otherwise discarded. Close is idempotent.
func (s *Session) Close() {
	if s.closed {
		return
	}
	s.resume()
	s.closed = true
	s.endPhase()
	s.cancel(errSessionClosed)
	s.sb.mu.Lock()
	delete(s.sb.sessions, s)
	s.sb.mu.Unlock()
	s.finished.Store(true)
	ps := s.ps
	if s.dirty {
		ps.sess = nil
		s.runMu.Unlock()
		ps.L.Close()
		return
	}
	s.clear()
	ps.sess = nil
	s.runMu.Unlock()
	s.sb.putState(ps)
}

// discard drops a session that never started.
func (s *Session) discard() {
	s.closed = true
	s.finished.Store(true)
	s.ps.sess = nil
	s.runMu.Unlock()
	s.ps.L.Close()
}

// Stats returns the session's use of its limits so far.
func (s *Session) Stats() Stats {
	now := s.sb.nanotime()
	st := Stats{
		Compute:    time.Duration(s.compute.Load()),
		Elapsed:    time.Duration(now - s.started),
		Memory:     s.base.Load() + s.churn.Load(),
		Measures:   int(s.measures.Load()),
		Coroutines: int(s.coroutines.Load()),
	}
	if p := s.phase.Load(); p != 0 {
		st.Phase = time.Duration(now - p)
		st.Compute += st.Phase
	}
	return st
}

// size formats a byte count for messages: "64 MiB", "1.5 KiB", "12 bytes".
func size(n int64) string {
	switch {
	case n >= 1<<30:
		return trimSize(float64(n)/(1<<30), "GiB")
	case n >= 1<<20:
		return trimSize(float64(n)/(1<<20), "MiB")
	case n >= 1<<10:
		return trimSize(float64(n)/(1<<10), "KiB")
	}
	return fmt.Sprintf("%d bytes", n)
}

func trimSize(v float64, unit string) string {
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d %s", int64(v), unit)
	}
	return fmt.Sprintf("%.1f %s", v, unit)
}
