package sandbox

import (
	"unsafe"

	lua "github.com/yuin/gopher-lua"
)

// maxWalkNodes bounds one walk of a session's values; a session with more
// containers than this is reported with what was counted so far (plenty).
const maxWalkNodes = 1 << 20

// Rough sizes of the Go objects behind Lua values, in bytes.
const (
	szString  = 16  // string header; the bytes are counted separately
	szTable   = 120 // LTable struct and its map headers
	szSlot    = 16  // one array slot (an interface)
	szEntry   = 48  // one hash entry, with its key in the keys list
	szFunc    = 64
	szUpvalue = 48
	szThread  = 2048 // LState, registry and call stack of a coroutine
	szUser    = 64
	bigString = 4096 // strings at least this long are counted once however often referenced
)

// walker estimates the memory reachable from a set of roots. It must run on
// the goroutine that owns the values, or while that goroutine is blocked
// (Session.Blocking): it reads tables without locks.
type walker struct {
	seen    map[unsafe.Pointer]struct{}
	stack   []lua.LValue
	total   int64
	nodes   int
	stop    int64 // stop once total exceeds this
	maxNode int
}

func (w *walker) mark(p unsafe.Pointer) bool {
	if _, ok := w.seen[p]; ok {
		return false
	}
	w.seen[p] = struct{}{}
	w.nodes++
	return true
}

func (w *walker) value(v lua.LValue) {
	switch x := v.(type) {
	case lua.LString:
		if len(x) >= bigString {
			if !w.mark(unsafe.Pointer(unsafe.StringData(string(x)))) {
				return
			}
		}
		w.total += szString + int64(len(x))
	case *lua.LTable, *lua.LFunction, *lua.LState, *lua.LUserData:
		w.stack = append(w.stack, v)
	}
}

func (w *walker) run() {
	for len(w.stack) > 0 && w.total <= w.stop && w.nodes < w.maxNode {
		v := w.stack[len(w.stack)-1]
		w.stack = w.stack[:len(w.stack)-1]
		switch x := v.(type) {
		case *lua.LTable:
			if !w.mark(unsafe.Pointer(x)) {
				continue
			}
			w.total += szTable
			n := x.Len()
			w.total += int64(n) * szSlot
			x.ForEach(func(k, val lua.LValue) {
				if kn, ok := k.(lua.LNumber); !ok || float64(kn) > float64(n) || float64(kn) < 1 {
					w.total += szEntry
				}
				w.value(k)
				w.value(val)
			})
			w.value(x.Metatable)
		case *lua.LFunction:
			if !w.mark(unsafe.Pointer(x)) {
				continue
			}
			w.total += szFunc + int64(len(x.Upvalues))*szUpvalue
			for _, uv := range x.Upvalues {
				if uv != nil {
					w.value(uv.Value())
				}
			}
			if x.Env != nil && !x.IsG { // a Go function's Env is never used
				w.value(x.Env)
			}
		case *lua.LState:
			if !w.mark(unsafe.Pointer(x)) {
				continue
			}
			w.total += szThread
			x.VisitRoots(w.value)
		case *lua.LUserData:
			if !w.mark(unsafe.Pointer(x)) {
				continue
			}
			w.total += szUser
			w.value(x.Metatable)
			if x.Env != nil {
				w.value(x.Env)
			}
		}
	}
}

// estimate walks what the session's script can reach (its state, globals,
// string metatable and the registry) and returns an estimate in bytes,
// stopping early once past stopAbove or after maxNodes containers. It must
// be called on the owner goroutine or with runMu held while the owner is
// blocked.
func (s *Session) estimate(stopAbove int64, maxNodes int) int64 {
	w := &walker{
		seen:    make(map[unsafe.Pointer]struct{}, 256),
		stop:    stopAbove,
		maxNode: maxNodes,
	}
	L := s.lstate
	w.value(L)
	if s.globals != nil {
		w.value(s.globals)
	}
	if s.strMT != nil {
		w.value(s.strMT)
	}
	if L.G != nil && L.G.Registry != nil {
		w.value(L.G.Registry)
	}
	w.run()
	return w.total
}
