package sandbox

import (
	"fmt"
	"sort"
	"sync"

	lua "github.com/yuin/gopher-lua"
)

// entry is one name of a library table.
type entry struct {
	name string
	v    lua.LValue
}

// libSet holds the whitelisted library functions, built once per process
// and shared, read-only, by every state and session: Go functions cannot be
// changed from Lua (there is no setfenv, debug or string.dump), so sharing
// the function values is safe; the tables holding them are copied for
// every session.
type libSet struct {
	base, str, tab, math, co, os []entry
	// Templates copied for every session (LTable.Copy); never given to a
	// script, so never changed after buildLibs.
	globalsT, strT, tabT, mathT, coT, osT *lua.LTable
}

// Stock Go functions the sandbox wraps; set once by buildLibs.
var stockCoCreate, stockCoWrap, stockOsDate lua.LGFunction

var libsOnce = sync.OnceValues(buildLibs)

func libs() (*libSet, error) { return libsOnce() }

func buildLibs() (*libSet, error) {
	// A stock state provides the Go functions kept as they are.
	T := lua.NewState()
	defer T.Close()
	stock := func(lib, name string) (lua.LValue, error) {
		var tb lua.LValue = T.G.Global
		if lib != "" {
			tb = T.GetGlobal(lib)
		}
		t, ok := tb.(*lua.LTable)
		if !ok {
			return nil, fmt.Errorf("sandbox: stock library %q missing", lib)
		}
		v := t.RawGetString(name)
		if _, ok := v.(*lua.LFunction); !ok {
			return nil, fmt.Errorf("sandbox: stock function %s.%s missing", lib, name)
		}
		return v, nil
	}
	fn := func(f lua.LGFunction) lua.LValue { return T.NewFunction(f) }
	ls := &libSet{}
	var err error
	pick := func(dst *[]entry, lib string, names ...string) {
		for _, n := range names {
			if err != nil {
				return
			}
			var v lua.LValue
			v, err = stock(lib, n)
			*dst = append(*dst, entry{n, v})
		}
	}
	pick(&ls.base, "", "assert", "error", "ipairs", "next", "pairs", "pcall", "xpcall",
		"select", "tonumber", "tostring", "type", "rawequal", "rawget", "rawset")
	ls.base = append(ls.base,
		entry{"unpack", fn(baseUnpack)},
		entry{"setmetatable", fn(baseSetmetatable)},
		entry{"getmetatable", fn(baseGetmetatable)},
	)

	ls.str = []entry{
		{"byte", fn(strByte)}, {"char", fn(strChar)}, {"find", fn(strFind)},
		{"format", fn(strFormat)}, {"gmatch", fn(strGmatch)}, {"gsub", fn(strGsub)},
		{"len", fn(strLen)}, {"lower", fn(strLower)}, {"match", fn(strMatch)},
		{"rep", fn(strRep)}, {"reverse", fn(strReverse)}, {"sub", fn(strSub)},
		{"upper", fn(strUpper)},
	}
	ls.tab = []entry{
		{"concat", fn(tabConcat)}, {"insert", fn(tabInsert)}, {"remove", fn(tabRemove)},
		{"sort", fn(tabSort)}, {"getn", fn(tabGetn)}, {"maxn", fn(tabMaxn)},
	}

	// math: everything stock gopher-lua has (all of Lua 5.1's math).
	mt, ok := T.GetGlobal("math").(*lua.LTable)
	if !ok {
		return nil, fmt.Errorf("sandbox: stock math library missing")
	}
	mt.ForEach(func(k, v lua.LValue) {
		if ks, ok := k.(lua.LString); ok {
			ls.math = append(ls.math, entry{string(ks), v})
		}
	})
	for i := range ls.math {
		switch ls.math[i].name {
		case "random":
			ls.math[i].v = fn(mathRandom)
		case "randomseed":
			ls.math[i].v = fn(mathRandomseed)
		}
	}
	sort.Slice(ls.math, func(i, j int) bool { return ls.math[i].name < ls.math[j].name })

	pick(&ls.co, "coroutine", "resume", "running", "status", "yield")
	var create, wrap, date lua.LValue
	if create, err = stock("coroutine", "create"); err != nil {
		return nil, err
	}
	if wrap, err = stock("coroutine", "wrap"); err != nil {
		return nil, err
	}
	stockCoCreate = create.(*lua.LFunction).GFunction
	stockCoWrap = wrap.(*lua.LFunction).GFunction
	ls.co = append(ls.co, entry{"create", fn(coCreate)}, entry{"wrap", fn(coWrap)})

	pick(&ls.os, "os", "time")
	if date, err = stock("os", "date"); err != nil {
		return nil, err
	}
	stockOsDate = date.(*lua.LFunction).GFunction
	ls.os = append(ls.os, entry{"date", fn(osDate)}, entry{"clock", fn(osClock)})
	if err != nil {
		return nil, err
	}
	ls.globalsT = newLib(T, ls.base)
	for _, name := range libNames { // placeholders: set per session without growing the key list
		ls.globalsT.RawSetString(name, lua.LFalse)
	}
	ls.strT = newLib(T, ls.str)
	ls.tabT = newLib(T, ls.tab)
	ls.mathT = newLib(T, ls.math)
	ls.coT = newLib(T, ls.co)
	ls.osT = newLib(T, ls.os)
	return ls, nil
}

var libNames = []string{"string", "table", "math", "coroutine", "os", "_G"}

func newLib(L *lua.LState, es []entry) *lua.LTable {
	t := L.CreateTable(0, len(es))
	for _, e := range es {
		t.RawSetString(e.name, e.v)
	}
	return t
}

// Values whose type metatables are cleared for every session.
var clearedTypes = []lua.LValue{lua.LNil, lua.LFalse, lua.LNumber(0), &lua.LFunction{}, lua.LChannel(nil)}

// reset gives the session's state a fresh environment: new globals with
// copies of the library tables, a protected string metatable whose __index
// is this session's string table, no metatables on other non-table types,
// and the session's context.
func (s *Session) reset() {
	L := s.lstate
	lib, _ := libs() // built by New
	// Library tables are copy-on-write views of the shared templates
	// (third_party/gopher-lua CHORUS.md): a session that changes
	// string.upper writes its own copy; one that changes nothing copies
	// nothing. The globals are copied outright: every session adds to them.
	g := lib.globalsT.Copy()
	str := lib.strT.CopyOnWrite()
	g.RawSetString("string", str)
	g.RawSetString("table", lib.tabT.CopyOnWrite())
	g.RawSetString("math", lib.mathT.CopyOnWrite())
	g.RawSetString("coroutine", lib.coT.CopyOnWrite())
	g.RawSetString("os", lib.osT.CopyOnWrite())
	g.RawSetString("_G", g)
	s.globals = g

	mt := s.ps.strMT
	if mt == nil {
		mt = L.CreateTable(0, 2)
		mt.RawSetString("__metatable", lua.LFalse)
		s.ps.strMT = mt
	}
	mt.RawSetString("__index", str)
	s.strMT = mt
	L.SetMetatable(lua.LString(""), mt)
	for _, v := range clearedTypes {
		L.SetMetatable(v, lua.LNil)
	}
	L.SetMetatable(L, lua.LNil)

	L.SetTop(0)
	L.Env = g
	L.G.Global = g
	L.G.MainThread = L
	L.G.CurrentThread = L
	L.SetContext(s.ctx)
}

// clear drops what a finished session left in its state, so that a pooled
// state does not keep the session's values alive.
func (s *Session) clear() {
	L := s.lstate
	L.SetTop(0)
	L.SetMetatable(lua.LString(""), lua.LNil)
	if s.ps.strMT != nil {
		s.ps.strMT.RawSetString("__index", lua.LNil) // do not keep the session's string table alive
	}
	L.Env = idleEnv
	L.G.Global = idleEnv
	L.RemoveContext()
	s.globals = nil
	s.strMT = nil
}

// idleEnv is the environment of pooled states between sessions. Nothing
// runs there; it is never written to.
var idleEnv = &lua.LTable{Metatable: lua.LNil}
