package sandbox

import (
	"sort"

	lua "github.com/yuin/gopher-lua"
)

// The table library of Lua 5.1, with concat's result size checked before it
// is built and sort checking the session's context as it goes.

func tabGetn(L *lua.LState) int {
	L.Push(lua.LNumber(L.CheckTable(1).Len()))
	return 1
}

// table.maxn: the largest positive numeric key (0 if none).
func tabMaxn(L *lua.LState) int {
	t := L.CheckTable(1)
	max := 0.0
	t.ForEach(func(k, _ lua.LValue) {
		if n, ok := k.(lua.LNumber); ok && float64(n) > max {
			max = float64(n)
		}
	})
	L.Push(lua.LNumber(max))
	return 1
}

func tabConcat(L *lua.LState) int {
	t := L.CheckTable(1)
	sep := optString(L, 2, "")
	i := optInt(L, 3, 1)
	var last int
	if L.Get(4) == lua.LNil {
		last = t.Len()
	} else {
		last = argInt(L, 4)
	}
	if i > last {
		L.Push(lua.LString(""))
		return 1
	}
	sess := sessionOf(L)
	// First pass: check the values and the result's size.
	total := 0
	for k := i; ; k++ {
		v := t.RawGetInt(k)
		if !lua.LVCanConvToString(v) {
			L.RaiseError("invalid value (%s) at index %d in table for 'concat'", v.Type().String(), k)
		}
		total += len(lua.LVAsString(v))
		if k == last {
			break
		}
		total += len(sep)
		if total > sess.strCap {
			break
		}
	}
	sess.allocString(L, total)
	b := make([]byte, 0, total)
	for k := i; ; k++ {
		b = append(b, lua.LVAsString(t.RawGetInt(k))...)
		if k == last {
			break
		}
		b = append(b, sep...)
	}
	L.Push(lua.LString(b))
	return 1
}

// table.insert(t, [pos,] v). Lua 5.1 shifts elements down to any pos; a
// pos below 1 is refused here (as Lua 5.2 does), since it would shift
// through every key down to pos.
func tabInsert(L *lua.LState) int {
	t := L.CheckTable(1)
	e := t.Len() + 1 // first empty element
	switch L.GetTop() {
	case 2:
		t.RawSetInt(e, L.Get(2))
	case 3:
		pos := argInt(L, 2)
		v := L.Get(3)
		switch {
		case pos < 1:
			L.ArgError(2, "position out of bounds")
		case pos >= e:
			t.RawSetInt(pos, v)
		default:
			t.Insert(pos, v)
		}
	default:
		L.RaiseError("wrong number of arguments to 'insert'")
	}
	return 0
}

func tabRemove(L *lua.LState) int {
	t := L.CheckTable(1)
	e := t.Len()
	pos := optInt(L, 2, e)
	if !(1 <= pos && pos <= e) { // position is outside bounds
		return 0
	}
	v := t.RawGetInt(pos)
	for ; pos < e; pos++ {
		t.RawSetInt(pos, t.RawGetInt(pos+1))
	}
	t.RawSetInt(e, lua.LNil)
	L.Push(v)
	return 1
}

// lsorter sorts t[1..n] with Lua's < or a comparison function, checking the
// session's context every few thousand comparisons.
type lsorter struct {
	L    *lua.LState
	sess *Session
	fn   lua.LValue
	v    []lua.LValue
	n    int
}

func (s *lsorter) Len() int      { return len(s.v) }
func (s *lsorter) Swap(i, j int) { s.v[i], s.v[j] = s.v[j], s.v[i] }
func (s *lsorter) Less(i, j int) bool {
	s.n++
	if s.n&4095 == 0 {
		s.sess.checkCtx(s.L)
	}
	if s.fn == nil {
		return s.L.LessThan(s.v[i], s.v[j])
	}
	s.L.Push(s.fn)
	s.L.Push(s.v[i])
	s.L.Push(s.v[j])
	s.L.Call(2, 1)
	r := lua.LVAsBool(s.L.Get(-1))
	s.L.Pop(1)
	return r
}

func tabSort(L *lua.LState) int {
	t := L.CheckTable(1)
	n := t.Len()
	s := &lsorter{L: L, sess: sessionOf(L), v: make([]lua.LValue, n)}
	if f := L.Get(2); f != lua.LNil {
		s.fn = L.CheckFunction(2)
	}
	for i := range s.v {
		s.v[i] = t.RawGetInt(i + 1)
	}
	sort.Sort(s)
	for i, v := range s.v {
		t.RawSetInt(i+1, v)
	}
	return 0
}
