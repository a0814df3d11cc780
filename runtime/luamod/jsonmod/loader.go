package jsonmod

import (
	lua "github.com/yuin/gopher-lua"

	"github.com/chorus-dev/chorus/runtime/luamod"
)

// Defaults of Limits.
const (
	DefaultMaxSize  = 8 << 20
	DefaultMaxDepth = 200
)

// Limits bound what json.encode and json.decode accept. Zero fields take
// the defaults.
type Limits struct {
	// MaxSize is the largest input of decode and output of encode, in bytes.
	// Default DefaultMaxSize (8 MiB).
	MaxSize int64
	// MaxDepth is the deepest nesting of arrays and objects (tables) either
	// direction accepts. Default DefaultMaxDepth (200).
	MaxDepth int
}

func (lim Limits) withDefaults() Limits {
	if lim.MaxSize <= 0 {
		lim.MaxSize = DefaultMaxSize
	}
	if lim.MaxDepth <= 0 {
		lim.MaxDepth = DefaultMaxDepth
	}
	return lim
}

// Open sets env.json to a new table holding encode, decode and null, bound
// to h: sizes handed back to the script are charged to h.
func Open(L *lua.LState, env *lua.LTable, h luamod.Host, lim Limits) {
	lim = lim.withDefaults()
	mod := L.CreateTable(0, 3)
	mod.RawSetString("encode", L.NewFunction(func(L *lua.LState) int {
		return apiEncode(L, h, lim)
	}))
	mod.RawSetString("decode", L.NewFunction(func(L *lua.LState) int {
		return apiDecode(L, h, lim)
	}))
	mod.RawSetString("null", newNull(L))
	env.RawSetString("json", mod)
}

// nullValue marks the userdata that is json.null. Each Open makes its own
// json.null (sessions share nothing); the encoder recognises any of them by
// this type, which a script cannot create.
type nullValue struct{}

func newNull(L *lua.LState) *lua.LUserData {
	ud := L.NewUserData()
	ud.Value = nullValue{}
	mt := L.CreateTable(0, 2)
	mt.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LString("json.null"))
		return 1
	}))
	mt.RawSetString("__metatable", lua.LFalse)
	ud.Metatable = mt
	return ud
}

func isNull(v lua.LValue) bool {
	ud, ok := v.(*lua.LUserData)
	if !ok {
		return false
	}
	_, ok = ud.Value.(nullValue)
	return ok
}

func apiEncode(L *lua.LState, h luamod.Host, lim Limits) int {
	v := L.CheckAny(1)
	data, err := Encode(v, lim)
	if err != nil {
		L.Push(lua.LNil)
		L.Push(lua.LString(err.Error()))
		return 2
	}
	if err := h.Charge(int64(len(data))); err != nil {
		L.RaiseError("%s", err.Error())
	}
	L.Push(lua.LString(data))
	return 1
}

func apiDecode(L *lua.LState, h luamod.Host, lim Limits) int {
	s := L.CheckString(1)
	v, err := decodeString(L, s, lim, h.Charge)
	if err != nil {
		if ce, ok := err.(*chargeError); ok {
			L.RaiseError("%s", ce.err.Error())
		}
		L.Push(lua.LNil)
		L.Push(lua.LString(err.Error()))
		return 2
	}
	L.Push(v)
	return 1
}
