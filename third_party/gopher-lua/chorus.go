package lua

import (
	"maps"
	"slices"
)

// CHORUS: this file holds the hooks Chorus's sandbox
// (github.com/chorus-dev/chorus/runtime/sandbox) needs from the VM. See
// CHORUS.md.

// Limiter is told about allocations the VM makes on behalf of a script
// that a Go library function cannot see. It is set on LState.Limiter by the
// embedding sandbox and copied to coroutines by NewThread.
type Limiter interface {
	// StringAlloc is called with the length in bytes of a string the VM is
	// about to build by concatenation (OP_CONCAT, LState.Concat, and the
	// stock table.concat), before it is built. It may raise (L.RaiseError)
	// to refuse it.
	StringAlloc(L *LState, n int)
}

// VisitRoots calls fn with every value the state holds directly: its live
// registers (below the top), the function of every active call frame and its
// environment. It does not follow them (tables, closures and coroutines are
// for the caller to walk) and changes nothing. The state must not be running
// on another goroutine while it is visited.
func (ls *LState) VisitRoots(fn func(LValue)) {
	if ls.reg != nil {
		top := ls.reg.top
		if top > len(ls.reg.array) {
			top = len(ls.reg.array)
		}
		for _, v := range ls.reg.array[:top] {
			if v != nil {
				fn(v)
			}
		}
	}
	if ls.stack != nil {
		for i := 0; i < ls.stack.Sp(); i++ {
			if f := ls.stack.At(i); f != nil && f.Fn != nil {
				fn(f.Fn)
			}
		}
	}
	if ls.Env != nil {
		fn(ls.Env)
	}
}

// Copy returns a shallow copy of tb: the same keys, values and metatable,
// traversed in the same order. It is much cheaper than setting the keys one
// by one (the sandbox copies its library tables for every session).
func (tb *LTable) Copy() *LTable {
	c := &LTable{Metatable: tb.Metatable}
	if tb.array != nil {
		c.array = slices.Clone(tb.array)
	}
	if tb.dict != nil {
		c.dict = maps.Clone(tb.dict)
	}
	if tb.strdict != nil {
		c.strdict = maps.Clone(tb.strdict)
	}
	if tb.keys != nil {
		// Room for a few more keys: a copy is usually added to at once.
		c.keys = append(make([]LValue, 0, len(tb.keys)+8), tb.keys...)
	}
	if tb.k2i != nil {
		c.k2i = maps.Clone(tb.k2i)
	}
	return c
}

// framePos is the line a Lua call frame is at. A frame pushed but not yet
// started (a registry overflow on entering a function) has Pc 0: stock code
// indexed DbgSourcePositions[-1] there, and as PCall builds a traceback in
// its deferred recovery, the panic escaped every PCall and killed the
// process. Such a frame reports the line its function was defined on.
func framePos(cf *callFrame) int {
	p := cf.Fn.Proto
	if cf.Pc > 0 && cf.Pc-1 < len(p.DbgSourcePositions) {
		return p.DbgSourcePositions[cf.Pc-1]
	}
	return p.LineDefined
}

// CopyOnWrite returns a table that reads tb's keys and values without
// copying them, and copies them the first time it is written to (any
// RawSet*, Append, Insert, Remove or table.sort). tb itself must not be
// written to afterwards. The sandbox gives every session such views of its
// library tables: a session that changes string.upper changes only its own
// copy, and a session that changes nothing copies nothing.
func (tb *LTable) CopyOnWrite() *LTable {
	return &LTable{Metatable: tb.Metatable, array: tb.array, dict: tb.dict, strdict: tb.strdict, keys: tb.keys, k2i: tb.k2i, cow: true}
}

// own makes a copy-on-write table's parts its own before a write.
func (tb *LTable) own() {
	if !tb.cow {
		return
	}
	tb.cow = false
	if tb.array != nil {
		tb.array = slices.Clone(tb.array)
	}
	if tb.dict != nil {
		tb.dict = maps.Clone(tb.dict)
	}
	if tb.strdict != nil {
		tb.strdict = maps.Clone(tb.strdict)
	}
	if tb.keys != nil {
		tb.keys = slices.Clone(tb.keys)
	}
	if tb.k2i != nil {
		tb.k2i = maps.Clone(tb.k2i)
	}
}
