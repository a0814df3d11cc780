package sandbox

import (
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// The string library of Lua 5.1 with every result size checked before the
// string is built. Positions follow lstrlib.c.

// posrelat converts a relative string position (negative counts from the
// end) to an absolute one, as Lua 5.1's posrelat.
func posrelat(pos, n int) int {
	if pos < 0 {
		pos += n + 1
	}
	if pos < 0 {
		return 0
	}
	return pos
}

func strLen(L *lua.LState) int {
	L.Push(lua.LNumber(len(argString(L, 1))))
	return 1
}

func strSub(L *lua.LState) int {
	s := argString(L, 1)
	l := len(s)
	start := posrelat(argInt(L, 2), l)
	end := posrelat(optInt(L, 3, -1), l)
	if start < 1 {
		start = 1
	}
	if end > l {
		end = l
	}
	if start <= end {
		L.Push(lua.LString(s[start-1 : end]))
	} else {
		L.Push(lua.LString(""))
	}
	return 1
}

func strByte(L *lua.LState) int {
	s := argString(L, 1)
	l := len(s)
	posi := posrelat(optInt(L, 2, 1), l)
	pose := posrelat(optInt(L, 3, posi), l)
	if posi <= 0 {
		posi = 1
	}
	if pose > l {
		pose = l
	}
	if posi > pose {
		return 0
	}
	n := pose - posi + 1
	if n > maxResults {
		L.RaiseError("string slice too long")
	}
	for i := posi - 1; i < pose; i++ {
		L.Push(lua.LNumber(s[i]))
	}
	return n
}

func strChar(L *lua.LState) int {
	n := L.GetTop()
	sessionOf(L).allocString(L, n)
	b := make([]byte, n)
	for i := 1; i <= n; i++ {
		c := argInt(L, i)
		if c < 0 || c > 255 {
			L.ArgError(i, "invalid value")
		}
		b[i-1] = byte(c)
	}
	L.Push(lua.LString(b))
	return 1
}

func strLower(L *lua.LState) int {
	s := argString(L, 1)
	sessionOf(L).allocString(L, len(s))
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	L.Push(lua.LString(b))
	return 1
}

func strUpper(L *lua.LState) int {
	s := argString(L, 1)
	sessionOf(L).allocString(L, len(s))
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - ('a' - 'A')
		}
	}
	L.Push(lua.LString(b))
	return 1
}

func strReverse(L *lua.LState) int {
	s := argString(L, 1)
	sessionOf(L).allocString(L, len(s))
	b := make([]byte, len(s))
	for i := 0; i < len(s); i++ {
		b[len(s)-1-i] = s[i]
	}
	L.Push(lua.LString(b))
	return 1
}

// string.rep(s, n) of Lua 5.1 (a third argument is ignored, as in 5.1).
func strRep(L *lua.LState) int {
	s := argString(L, 1)
	n := argInt(L, 2)
	if n <= 0 || len(s) == 0 {
		L.Push(lua.LString(""))
		return 1
	}
	sess := sessionOf(L)
	if n > sess.strCap/len(s) {
		sess.allocString(L, sess.strCap+1) // raises
	}
	sess.allocString(L, n*len(s))
	L.Push(lua.LString(strings.Repeat(s, n)))
	return 1
}

// buffer builds a library result, raising a memory limit before it grows
// past the session's string cap.
type buffer struct {
	b    []byte
	max  int
	L    *lua.LState
	sess *Session
}

func newBuffer(L *lua.LState, sess *Session, hint int) *buffer {
	if hint > sess.strCap {
		hint = sess.strCap
	}
	return &buffer{b: make([]byte, 0, hint), max: sess.strCap, L: L, sess: sess}
}

func (b *buffer) grow(n int) {
	if len(b.b)+n > b.max {
		b.sess.allocString(b.L, len(b.b)+n) // raises
	}
}

func (b *buffer) putString(s string) {
	b.grow(len(s))
	b.b = append(b.b, s...)
}

func (b *buffer) putByte(c byte) {
	if len(b.b) >= b.max {
		b.grow(1)
	}
	b.b = append(b.b, c)
}

// result accounts for the finished string and returns it.
func (b *buffer) result() lua.LString {
	b.sess.allocString(b.L, len(b.b))
	return lua.LString(b.b)
}
