package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// Limits bound what one session may use. Zero fields take the defaults.
type Limits struct {
	// Compute is how long Lua may run between two blocking calls (see
	// Session.Blocking). Default 2s.
	Compute time.Duration
	// SessionMax is how long a whole session may last. Default 4h.
	SessionMax time.Duration
	// Memory is the session's memory budget in bytes. One string may use at
	// most a quarter of it (16 MiB by default). Default 64 MiB.
	Memory int64
	// Coroutines is how many coroutines a session may create. Default 64.
	Coroutines int
}

// Defaults of Limits and Config.
const (
	DefaultCompute       = 2 * time.Second
	DefaultSessionMax    = 4 * time.Hour
	DefaultMemory        = 64 << 20
	DefaultCoroutines    = 64
	DefaultHeapLimit     = 1 << 30
	DefaultWatchInterval = 5 * time.Millisecond
)

func (l Limits) withDefaults() Limits {
	if l.Compute <= 0 {
		l.Compute = DefaultCompute
	}
	if l.SessionMax <= 0 {
		l.SessionMax = DefaultSessionMax
	}
	if l.Memory <= 0 {
		l.Memory = DefaultMemory
	}
	if l.Coroutines <= 0 {
		l.Coroutines = DefaultCoroutines
	}
	return l
}

// Config configures a Sandbox. Zero fields take the defaults.
type Config struct {
	// Limits applies to every session.
	Limits Limits
	// HeapLimit is the process memory the heap watchdog defends, in bytes.
	// Default 1 GiB. The watchdog acts at 0.8 x HeapLimit. New also sets it
	// as the Go runtime's soft memory limit (debug.SetMemoryLimit) unless a
	// smaller limit is already set; Close leaves it in place.
	HeapLimit int64
	// WatchInterval is how often the watchdog checks the heap and the
	// compute clocks. Default 5ms.
	WatchInterval time.Duration
	// Logger receives one line per stopped session. Default slog.Default().
	Logger *slog.Logger
}

// LState options for sandboxed states: a small call stack (deep recursion is
// an ordinary "stack overflow" error), a small registry that may grow to a
// bound, and a call stack that grows in segments, so that an idle state
// costs little.
var stateOptions = lua.Options{
	CallStackSize:       256,
	RegistrySize:        256,
	RegistryMaxSize:     64 * 1024,
	RegistryGrowStep:    1024,
	SkipOpenLibs:        true,
	MinimizeStackMemory: true,
}

// maxPooled bounds the idle states a Sandbox keeps for reuse.
const maxPooled = 256

// Sandbox runs untrusted Lua 5.1 scripts in sessions. It owns a pool of
// Lua states and the heap watchdog goroutine; Close stops the watchdog.
// A Sandbox is safe for concurrent use; each Session belongs to the one
// goroutine that started it.
type Sandbox struct {
	limits Limits
	// sessionOver is the cause a session's context ends with at SessionMax
	// (made once: every session would format the same sentence).
	sessionOver *LimitError
	heapLimit   int64
	interval    time.Duration
	log         *slog.Logger
	epoch       time.Time // origin of the monotonic clock readings (nanotime)

	mu       sync.Mutex
	sessions map[*Session]struct{}
	free     []*pstate
	closed   bool

	done chan struct{}
	wg   sync.WaitGroup

	wd watchdog // owned by the watchdog goroutine

	kills atomic.Int64 // sessions stopped by the watchdog for memory
}

// New returns a Sandbox and starts its heap watchdog.
func New(cfg Config) (*Sandbox, error) {
	if cfg.HeapLimit < 0 || cfg.WatchInterval < 0 || cfg.Limits.Memory < 0 {
		return nil, errors.New("sandbox: negative limit in config")
	}
	sb := &Sandbox{
		limits:    cfg.Limits.withDefaults(),
		heapLimit: cfg.HeapLimit,
		interval:  cfg.WatchInterval,
		log:       cfg.Logger,
		epoch:     time.Now(),
		sessions:  make(map[*Session]struct{}),
		done:      make(chan struct{}),
	}
	sb.sessionOver = &LimitError{Kind: KindSession, Detail: fmt.Sprintf("the session lasted longer than %v", sb.limits.SessionMax)}
	if sb.heapLimit == 0 {
		sb.heapLimit = DefaultHeapLimit
	}
	if sb.interval == 0 {
		sb.interval = DefaultWatchInterval
	}
	if sb.log == nil {
		sb.log = slog.Default()
	}
	if cur := debug.SetMemoryLimit(-1); cur > sb.heapLimit {
		debug.SetMemoryLimit(sb.heapLimit)
	}
	if _, err := libs(); err != nil {
		return nil, err
	}
	sb.wg.Add(1)
	go func() {
		defer sb.wg.Done()
		sb.watch()
	}()
	return sb, nil
}

// Close stops the watchdog and drops the pooled states. Sessions still
// running keep running but are no longer watched; Start fails with
// ErrClosed.
func (sb *Sandbox) Close() error {
	sb.mu.Lock()
	if sb.closed {
		sb.mu.Unlock()
		return nil
	}
	sb.closed = true
	free := sb.free
	sb.free = nil
	sb.mu.Unlock()
	close(sb.done)
	sb.wg.Wait()
	for _, ps := range free {
		ps.L.Close()
	}
	return nil
}

// Limits returns the limits every session gets, with defaults applied.
func (sb *Sandbox) Limits() Limits { return sb.limits }

// nanotime is a monotonic clock reading in nanoseconds since sb.epoch; it
// is never 0 for a running sandbox, so 0 can mean "not computing".
func (sb *Sandbox) nanotime() int64 { return int64(time.Since(sb.epoch)) + 1 }

// pstate is a pooled Lua state and the session currently using it. It is
// the state's lua.Limiter, so library functions find their session from L.
type pstate struct {
	L    *lua.LState
	sess *Session // set by Start, cleared by Close; only the owner goroutine touches it
	// strMT is the protected metatable of strings, reused by every session
	// of this state: scripts cannot reach it (getmetatable("") is false), so
	// only its __index, set per session, changes.
	strMT *lua.LTable
}

// StringAlloc implements lua.Limiter for the VM's string concatenation.
func (ps *pstate) StringAlloc(L *lua.LState, n int) {
	if s := ps.sess; s != nil {
		s.allocString(L, n)
	}
}

func newPState() *pstate {
	ps := &pstate{L: lua.NewState(stateOptions)}
	ps.L.Limiter = ps
	return ps
}

// sessionOf returns the session running on L (a session's main state or one
// of its coroutines).
func sessionOf(L *lua.LState) *Session {
	if ps, ok := L.Limiter.(*pstate); ok && ps.sess != nil {
		return ps.sess
	}
	L.RaiseError("sandbox: library function called outside a session")
	return nil
}

func (sb *Sandbox) getState() (*pstate, error) {
	sb.mu.Lock()
	if sb.closed {
		sb.mu.Unlock()
		return nil, ErrClosed
	}
	var ps *pstate
	if n := len(sb.free); n > 0 {
		ps = sb.free[n-1]
		sb.free[n-1] = nil
		sb.free = sb.free[:n-1]
	}
	sb.mu.Unlock()
	if ps == nil {
		ps = newPState()
	}
	return ps, nil
}

func (sb *Sandbox) putState(ps *pstate) {
	sb.mu.Lock()
	if !sb.closed && len(sb.free) < maxPooled {
		sb.free = append(sb.free, ps)
		ps = nil
	}
	sb.mu.Unlock()
	if ps != nil {
		ps.L.Close()
	}
}

// Start begins a session: it takes a pooled Lua state (or a new one), gives
// it a fresh whitelisted environment, derives the session's context from
// ctx and starts the compute clock. The calling goroutine owns the session
// until Close: Run, Blocking and Close must be called from it.
func (sb *Sandbox) Start(ctx context.Context) (*Session, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	ps, err := sb.getState()
	if err != nil {
		return nil, err
	}
	s := &Session{sb: sb, ps: ps, lstate: ps.L}
	s.resumeFn = s.resume
	// The session context: Stop cancels the inner one with its cause; the
	// outer one ends at SessionMax with a session limit.
	s.ctx, s.cancel = context.WithCancelCause(ctx)
	s.strCap = int(sb.limits.Memory / 4)
	s.runMu.Lock()
	ps.sess = s
	s.reset()
	now := sb.nanotime()
	s.started = now
	s.phase.Store(now)
	sb.mu.Lock()
	if sb.closed {
		sb.mu.Unlock()
		s.cancel(ErrClosed)
		s.discard()
		return nil, ErrClosed
	}
	sb.sessions[s] = struct{}{}
	sb.mu.Unlock()
	return s, nil
}
