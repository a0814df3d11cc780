package sandbox

import (
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// A Lua 5.1 pattern matcher: a port of lstrlib.c's backtracking matcher
// (same syntax, same results) with two bounds stock matchers lack: a step
// budget per library call, checked together with the session's context
// every checkEvery steps, and a cap on the recursion depth (Lua 5.2's
// "pattern too complex"). Recursion grows with pattern items, not with the
// subject, so "^.*b" over a megabyte is shallow.

const (
	maxCaptures   = 32 // LUA_MAXCAPTURES
	maxMatchDepth = 200
	capUnfinished = -1
	capPosition   = -2
	// stepBase + stepPerByte*len(subject) steps are allowed per call:
	// linear work on any subject fits, exponential backtracking does not.
	stepBase    = 10_000_000
	stepPerByte = 32
	checkEvery  = 1 << 14
	specials    = "^$*+?.([%-"
)

// patternError is a malformed pattern or a misuse (an ordinary Lua error).
type patternError struct{ msg string }

func (e *patternError) Error() string { return e.msg }

// errSteps reports that a call used up its step budget.
var errSteps = &patternError{"pattern too complex"}

type capture struct{ init, len int }

type matcher struct {
	src, pat string
	level    int
	capture  [maxCaptures]capture
	depth    int
	steps    int64
	limit    int64
	next     int64
	// check is called every checkEvery steps; a non-nil error aborts the
	// match through raise.
	check func() error
	// raise must not return: it panics or raises a Lua error. Its argument
	// is a *patternError, errSteps, or check's error.
	raise func(error)
}

func newMatcher(src, pat string, check func() error, raise func(error)) *matcher {
	m := &matcher{src: src, pat: pat, check: check, raise: raise}
	m.limit = stepBase + stepPerByte*int64(len(src))
	m.next = checkEvery
	return m
}

func (m *matcher) fail(msg string) {
	m.raise(&patternError{msg})
	panic("sandbox: matcher raise returned")
}

func (m *matcher) tick() {
	m.steps++
	if m.steps >= m.next {
		m.slowTick()
	}
}

func (m *matcher) slowTick() {
	if m.steps > m.limit {
		m.raise(errSteps)
		panic("sandbox: matcher raise returned")
	}
	m.next = m.steps + checkEvery
	if m.check != nil {
		if err := m.check(); err != nil {
			m.raise(err)
			panic("sandbox: matcher raise returned")
		}
	}
}

func isalpha(c byte) bool  { return 'a' <= c|0x20 && c|0x20 <= 'z' }
func isdigit(c byte) bool  { return '0' <= c && c <= '9' }
func islower(c byte) bool  { return 'a' <= c && c <= 'z' }
func isupper(c byte) bool  { return 'A' <= c && c <= 'Z' }
func isspace(c byte) bool  { return c == ' ' || ('\t' <= c && c <= '\r') }
func iscntrl(c byte) bool  { return c < 32 || c == 127 }
func isalnum(c byte) bool  { return isalpha(c) || isdigit(c) }
func ispunct(c byte) bool  { return c > 32 && c < 127 && !isalnum(c) }
func isxdigit(c byte) bool { return isdigit(c) || ('a' <= c|0x20 && c|0x20 <= 'f') }

func matchClass(c, cl byte) bool {
	var res bool
	lower := cl
	if isupper(cl) {
		lower = cl + ('a' - 'A')
	}
	switch lower {
	case 'a':
		res = isalpha(c)
	case 'c':
		res = iscntrl(c)
	case 'd':
		res = isdigit(c)
	case 'l':
		res = islower(c)
	case 'p':
		res = ispunct(c)
	case 's':
		res = isspace(c)
	case 'u':
		res = isupper(c)
	case 'w':
		res = isalnum(c)
	case 'x':
		res = isxdigit(c)
	case 'z':
		res = c == 0
	default:
		return cl == c
	}
	if isupper(cl) {
		return !res
	}
	return res
}

// classEnd returns the index just past the single-character class at p.
func (m *matcher) classEnd(p int) int {
	pat := m.pat
	c := pat[p]
	p++
	switch c {
	case '%':
		if p >= len(pat) {
			m.fail("malformed pattern (ends with '%')")
		}
		return p + 1
	case '[':
		if p < len(pat) && pat[p] == '^' {
			p++
		}
		for { // look for a ']'
			if p >= len(pat) {
				m.fail("malformed pattern (missing ']')")
			}
			c := pat[p]
			p++
			if c == '%' && p < len(pat) {
				p++ // skip escapes (e.g. '%]')
			}
			if p >= len(pat) {
				m.fail("malformed pattern (missing ']')")
			}
			if pat[p] == ']' {
				return p + 1
			}
		}
	}
	return p
}

// matchBracketClass matches c against the set [ at p .. ] at ec.
func (m *matcher) matchBracketClass(c byte, p, ec int) bool {
	pat := m.pat
	sig := true
	if pat[p+1] == '^' {
		sig = false
		p++
	}
	for p++; p < ec; p++ {
		if pat[p] == '%' {
			p++
			if matchClass(c, pat[p]) {
				return sig
			}
		} else if pat[p+1] == '-' && p+2 < ec {
			p += 2
			if pat[p-2] <= c && c <= pat[p] {
				return sig
			}
		} else if pat[p] == c {
			return sig
		}
	}
	return !sig
}

func (m *matcher) singleMatch(c byte, p, ep int) bool {
	switch m.pat[p] {
	case '.':
		return true
	case '%':
		return matchClass(c, m.pat[p+1])
	case '[':
		return m.matchBracketClass(c, p, ep-1)
	}
	return m.pat[p] == c
}

func (m *matcher) matchBalance(s, p int) int {
	if p+1 >= len(m.pat) {
		m.fail("unbalanced pattern")
	}
	if s >= len(m.src) || m.src[s] != m.pat[p] {
		return -1
	}
	b, e := m.pat[p], m.pat[p+1]
	cont := 1
	for s++; s < len(m.src); s++ {
		m.tick()
		switch m.src[s] {
		case e:
			cont--
			if cont == 0 {
				return s + 1
			}
		case b:
			cont++
		}
	}
	return -1
}

func (m *matcher) maxExpand(s, p, ep int) int {
	i := 0
	for s+i < len(m.src) && m.singleMatch(m.src[s+i], p, ep) {
		m.tick()
		i++
	}
	for ; i >= 0; i-- {
		if r := m.match(s+i, ep+1); r != -1 {
			return r
		}
	}
	return -1
}

func (m *matcher) minExpand(s, p, ep int) int {
	for {
		if r := m.match(s, ep+1); r != -1 {
			return r
		}
		if s < len(m.src) && m.singleMatch(m.src[s], p, ep) {
			s++
		} else {
			return -1
		}
	}
}

func (m *matcher) startCapture(s, p, what int) int {
	if m.level >= maxCaptures {
		m.fail("too many captures")
	}
	m.capture[m.level] = capture{s, what}
	m.level++
	r := m.match(s, p)
	if r == -1 {
		m.level--
	}
	return r
}

func (m *matcher) endCapture(s, p int) int {
	l := m.captureToClose()
	m.capture[l].len = s - m.capture[l].init
	r := m.match(s, p)
	if r == -1 {
		m.capture[l].len = capUnfinished
	}
	return r
}

func (m *matcher) captureToClose() int {
	for l := m.level - 1; l >= 0; l-- {
		if m.capture[l].len == capUnfinished {
			return l
		}
	}
	m.fail("invalid pattern capture")
	return 0
}

func (m *matcher) checkCapture(c byte) int {
	l := int(c) - '1'
	if l < 0 || l >= m.level || m.capture[l].len == capUnfinished {
		m.fail("invalid capture index")
	}
	return l
}

func (m *matcher) matchCapture(s int, c byte) int {
	l := m.checkCapture(c)
	cp := m.capture[l]
	if cp.len < 0 || len(m.src)-s < cp.len {
		return -1
	}
	m.steps += int64(cp.len)
	m.tick()
	if m.src[cp.init:cp.init+cp.len] == m.src[s:s+cp.len] {
		return s + cp.len
	}
	return -1
}

// match returns the end of the match of pattern[p:] at src[s:], or -1.
func (m *matcher) match(s, p int) int {
	m.depth++
	if m.depth > maxMatchDepth {
		m.fail("pattern too complex")
	}
	r := m.doMatch(s, p)
	m.depth--
	return r
}

func (m *matcher) doMatch(s, p int) int {
	pat := m.pat
	for {
		m.tick()
		if p >= len(pat) { // end of pattern
			return s
		}
		switch pat[p] {
		case '(':
			if p+1 < len(pat) && pat[p+1] == ')' { // position capture
				return m.startCapture(s, p+2, capPosition)
			}
			return m.startCapture(s, p+1, capUnfinished)
		case ')':
			return m.endCapture(s, p+1)
		case '$':
			if p+1 == len(pat) { // '$' as the last char anchors at the end
				if s == len(m.src) {
					return s
				}
				return -1
			}
		case '%':
			if p+1 < len(pat) {
				switch pat[p+1] {
				case 'b':
					if s = m.matchBalance(s, p+2); s == -1 {
						return -1
					}
					p += 4
					continue
				case 'f':
					p += 2
					if p >= len(pat) || pat[p] != '[' {
						m.fail("missing '[' after '%f' in pattern")
					}
					ep := m.classEnd(p)
					var prev, cur byte
					if s > 0 {
						prev = m.src[s-1]
					}
					if s < len(m.src) {
						cur = m.src[s]
					}
					if m.matchBracketClass(prev, p, ep-1) || !m.matchBracketClass(cur, p, ep-1) {
						return -1
					}
					p = ep
					continue
				default:
					if isdigit(pat[p+1]) { // back-reference %1-%9
						if s = m.matchCapture(s, pat[p+1]); s == -1 {
							return -1
						}
						p += 2
						continue
					}
				}
			}
		}
		// A single-character class, possibly followed by a quantifier.
		ep := m.classEnd(p)
		matched := s < len(m.src) && m.singleMatch(m.src[s], p, ep)
		if ep < len(pat) {
			switch pat[ep] {
			case '?':
				if matched {
					if r := m.match(s+1, ep+1); r != -1 {
						return r
					}
				}
				p = ep + 1
				continue
			case '*':
				return m.maxExpand(s, p, ep)
			case '+':
				if matched {
					return m.maxExpand(s+1, p, ep)
				}
				return -1
			case '-':
				return m.minExpand(s, p, ep)
			}
		}
		if !matched {
			return -1
		}
		s++
		p = ep
	}
}

// attempt runs one match of pattern[p:] at src[s:] from a clean state.
func (m *matcher) attempt(s, p int) int {
	m.level = 0
	m.depth = 0
	return m.match(s, p)
}

// captureValue returns capture i of the match src[s:e] as a Lua value: a
// string, or a number for a position capture. With no captures, capture 0
// is the whole match.
func (m *matcher) captureValue(i, s, e int) lua.LValue {
	if i >= m.level {
		if i == 0 {
			return lua.LString(m.src[s:e])
		}
		m.fail("invalid capture index")
	}
	c := m.capture[i]
	switch c.len {
	case capUnfinished:
		m.fail("unfinished capture")
	case capPosition:
		return lua.LNumber(c.init + 1)
	}
	return lua.LString(m.src[c.init : c.init+c.len])
}

// numCaptures is how many values a match pushes: its captures, or the whole
// match when it has none and wholeMatch is set.
func (m *matcher) numCaptures(wholeMatch bool) int {
	if m.level == 0 && wholeMatch {
		return 1
	}
	return m.level
}

// Lua bindings.

// luaMatcher returns a matcher whose errors are Lua errors of L: a
// malformed pattern raises an ordinary error, a spent step budget stops the
// session with a pattern limit, and a stopped session raises its cause.
func luaMatcher(L *lua.LState, sess *Session, src, pat string) *matcher {
	raise := func(err error) {
		if err == errSteps {
			lerr := &LimitError{Kind: KindPattern, Detail: "a pattern match took too many steps (pattern too complex for its subject)"}
			sess.Stop(lerr)
			sess.raise(L, lerr)
		}
		if _, ok := err.(*patternError); ok {
			L.RaiseError("%s", err.Error())
		}
		sess.raise(L, err)
	}
	check := func() error {
		if sess.ctx.Err() != nil {
			return sess.ctx.Err()
		}
		return nil
	}
	return newMatcher(src, pat, check, raise)
}

func pushCaptures(L *lua.LState, m *matcher, s, e int, wholeMatch bool) int {
	n := m.numCaptures(wholeMatch)
	for i := 0; i < n; i++ {
		L.Push(m.captureValue(i, s, e))
	}
	return n
}

func strFindAux(L *lua.LState, find bool) int {
	src := argString(L, 1)
	pat := argString(L, 2)
	init := posrelat(optInt(L, 3, 1), len(src)) - 1
	if init < 0 {
		init = 0
	} else if init > len(src) {
		init = len(src)
	}
	if find && (lua.LVAsBool(L.Get(4)) || !strings.ContainsAny(pat, specials)) {
		if i := strings.Index(src[init:], pat); i >= 0 {
			L.Push(lua.LNumber(init + i + 1))
			L.Push(lua.LNumber(init + i + len(pat)))
			return 2
		}
		L.Push(lua.LNil)
		return 1
	}
	sess := sessionOf(L)
	m := luaMatcher(L, sess, src, pat)
	p := 0
	anchor := len(pat) > 0 && pat[0] == '^'
	if anchor {
		p = 1
	}
	for s := init; ; s++ {
		if e := m.attempt(s, p); e != -1 {
			if find {
				L.Push(lua.LNumber(s + 1))
				L.Push(lua.LNumber(e))
				return pushCaptures(L, m, s, e, false) + 2
			}
			return pushCaptures(L, m, s, e, true)
		}
		if s >= len(src) || anchor {
			break
		}
	}
	L.Push(lua.LNil)
	return 1
}

func strFind(L *lua.LState) int  { return strFindAux(L, true) }
func strMatch(L *lua.LState) int { return strFindAux(L, false) }

// string.gmatch: a lazy iterator, each call finding the next match (with a
// fresh step budget), as Lua 5.1's gmatch_aux.
func strGmatch(L *lua.LState) int {
	src := argString(L, 1)
	pat := argString(L, 2)
	pos := 0
	iter := func(L *lua.LState) int {
		sess := sessionOf(L)
		m := luaMatcher(L, sess, src, pat)
		for s := pos; s <= len(src); s++ {
			if e := m.attempt(s, 0); e != -1 {
				next := e
				if e == s {
					next++ // empty match: go at least one position
				}
				pos = next
				return pushCaptures(L, m, s, e, true)
			}
		}
		pos = len(src) + 1
		return 0
	}
	L.Push(L.NewFunction(iter))
	return 1
}

// string.gsub of Lua 5.1, in one pass (linear in the subject), with the
// result's size checked as it grows.
func strGsub(L *lua.LState) int {
	src := argString(L, 1)
	pat := argString(L, 2)
	repl := L.Get(3)
	switch repl.(type) {
	case lua.LNumber, lua.LString, *lua.LFunction, *lua.LTable:
	default:
		L.ArgError(3, "string/function/table expected")
	}
	maxN := optInt(L, 4, len(src)+1)
	var replStr string
	if lua.LVCanConvToString(repl) {
		replStr = lua.LVAsString(repl)
	}
	sess := sessionOf(L)
	m := luaMatcher(L, sess, src, pat)
	b := newBuffer(L, sess, len(src))
	p := 0
	anchor := len(pat) > 0 && pat[0] == '^'
	if anchor {
		p = 1
	}
	n := 0
	s := 0
	for n < maxN {
		e := m.attempt(s, p)
		if e != -1 {
			n++
			gsubValue(L, m, b, repl, replStr, s, e)
		}
		if e != -1 && e > s { // non-empty match: skip it
			s = e
		} else if s < len(src) {
			b.putByte(src[s])
			s++
		} else {
			break
		}
		if anchor {
			break
		}
	}
	b.putString(src[s:])
	L.Push(b.result())
	L.Push(lua.LNumber(n))
	return 2
}

func gsubValue(L *lua.LState, m *matcher, b *buffer, repl lua.LValue, replStr string, s, e int) {
	var v lua.LValue
	switch r := repl.(type) {
	case lua.LString, lua.LNumber:
		for i := 0; i < len(replStr); i++ {
			c := replStr[i]
			if c != '%' {
				b.putByte(c)
				continue
			}
			i++
			if i == len(replStr) { // Lua 5.1 reads the terminating NUL
				b.putByte(0)
				continue
			}
			c = replStr[i]
			switch {
			case !isdigit(c):
				b.putByte(c)
			case c == '0':
				b.putString(m.src[s:e])
			default:
				b.putString(lua.LVAsString(m.captureValue(int(c-'1'), s, e)))
			}
		}
		return
	case *lua.LFunction:
		L.Push(r)
		n := pushCaptures(L, m, s, e, true)
		L.Call(n, 1)
		v = L.Get(-1)
		L.Pop(1)
	case *lua.LTable:
		v = L.GetTable(r, m.captureValue(0, s, e))
	}
	switch x := v.(type) {
	case *lua.LNilType:
		b.putString(m.src[s:e])
	case lua.LBool:
		if x {
			L.RaiseError("invalid replacement value (a boolean)")
		}
		b.putString(m.src[s:e])
	case lua.LString, lua.LNumber:
		b.putString(lua.LVAsString(x))
	default:
		L.RaiseError("invalid replacement value (a %s)", v.Type().String())
	}
}
