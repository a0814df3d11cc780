package sandbox

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// maxResults bounds how many values one library call may return (unpack,
// string.byte): Lua 5.1's LUAI_MAXCSTACK.
const maxResults = 8000

// Argument helpers with Lua 5.1's coercions (numeric strings are numbers,
// numbers are strings).

func argNumber(L *lua.LState, n int) float64 { return float64(L.CheckNumber(n)) }

// toInt converts a Lua number to an int the way C's cast does for sane
// values, clamping the rest.
func toInt(f float64) int {
	switch {
	case math.IsNaN(f):
		return 0
	case f >= 1<<53:
		return 1 << 53
	case f <= -(1 << 53):
		return -(1 << 53)
	}
	return int(f)
}

func argInt(L *lua.LState, n int) int { return toInt(argNumber(L, n)) }

func optInt(L *lua.LState, n int, d int) int {
	if v := L.Get(n); v == lua.LNil {
		return d
	}
	return argInt(L, n)
}

func argString(L *lua.LState, n int) string {
	switch v := L.Get(n).(type) {
	case lua.LString:
		return string(v)
	case lua.LNumber:
		return v.String()
	}
	L.TypeError(n, lua.LTString)
	return ""
}

func optString(L *lua.LState, n int, d string) string {
	if v := L.Get(n); v == lua.LNil {
		return d
	}
	return argString(L, n)
}

// unpack(t [, i [, j]]) of Lua 5.1, refusing more than maxResults values.
func baseUnpack(L *lua.LState) int {
	t := L.CheckTable(1)
	i := optInt(L, 2, 1)
	var e int
	if L.Get(3) == lua.LNil {
		e = t.Len()
	} else {
		e = argInt(L, 3)
	}
	if i > e {
		return 0
	}
	n := e - i + 1
	if n <= 0 || n > maxResults {
		L.RaiseError("too many results to unpack")
	}
	for k := i; k <= e; k++ {
		L.Push(t.RawGetInt(k))
	}
	return n
}

// setmetatable(t, mt): tables only; a protected metatable (__metatable)
// cannot be changed.
func baseSetmetatable(L *lua.LState) int {
	t := L.CheckTable(1)
	mt := L.Get(2)
	switch mt.(type) {
	case *lua.LNilType, *lua.LTable:
	default:
		L.ArgError(2, "nil or table expected")
	}
	if cur, ok := t.Metatable.(*lua.LTable); ok && cur.RawGetString("__metatable") != lua.LNil {
		L.RaiseError("cannot change a protected metatable")
	}
	t.Metatable = mt
	L.SetTop(1)
	return 1
}

// getmetatable(v): the __metatable field when the metatable has one (so a
// string's metatable reads as false).
func baseGetmetatable(L *lua.LState) int {
	mt := L.GetMetatable(L.CheckAny(1))
	if t, ok := mt.(*lua.LTable); ok {
		if p := t.RawGetString("__metatable"); p != lua.LNil {
			L.Push(p)
			return 1
		}
	}
	L.Push(mt)
	return 1
}

// coroutine.create and coroutine.wrap, counted against Limits.Coroutines.
func coCreate(L *lua.LState) int {
	countCoroutine(L)
	return stockCoCreate(L)
}

func coWrap(L *lua.LState) int {
	countCoroutine(L)
	return stockCoWrap(L)
}

func countCoroutine(L *lua.LState) {
	L.CheckFunction(1)
	s := sessionOf(L)
	max := s.sb.limits.Coroutines
	if int(s.coroutines.Add(1)) > max {
		err := &LimitError{Kind: KindCoroutines, Detail: fmt.Sprintf("created more than %d coroutines", max)}
		s.Stop(err)
		s.raise(L, err)
	}
}

// maxDateFormat bounds os.date's format: each conversion may expand ~12x.
const maxDateFormat = 1024

func osDate(L *lua.LState) int {
	if f, ok := L.Get(1).(lua.LString); ok && len(f) > maxDateFormat {
		L.ArgError(1, fmt.Sprintf("format longer than %d bytes", maxDateFormat))
	}
	return stockOsDate(L)
}

// os.clock: the session's Lua compute time in seconds (the only CPU time a
// script can see of its own).
func osClock(L *lua.LState) int {
	st := sessionOf(L).Stats()
	L.Push(lua.LNumber(float64(st.Compute) / float64(time.Second)))
	return 1
}

// math.random of Lua 5.1 over the process's generator (stock gopher-lua
// panics in Go on an empty interval).
func mathRandom(L *lua.LState) int {
	switch L.GetTop() {
	case 0:
		L.Push(lua.LNumber(rand.Float64()))
	case 1:
		m := argInt(L, 1)
		if m < 1 {
			L.ArgError(1, "interval is empty")
		}
		L.Push(lua.LNumber(1 + rand.Int64N(int64(m))))
	case 2:
		lo, hi := argInt(L, 1), argInt(L, 2)
		if lo > hi {
			L.ArgError(2, "interval is empty")
		}
		L.Push(lua.LNumber(int64(lo) + rand.Int64N(int64(hi)-int64(lo)+1)))
	default:
		L.RaiseError("wrong number of arguments")
	}
	return 1
}

// math.randomseed is accepted and ignored: the generator is the process's,
// shared by all sessions, and a session must not be able to make it
// predictable for the others.
func mathRandomseed(L *lua.LState) int {
	argNumber(L, 1)
	return 0
}
