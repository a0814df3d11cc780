package engine

import (
	"context"
	"fmt"
	"path"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/chorus-dev/chorus/runtime/luamod"
	"github.com/chorus-dev/chorus/runtime/luamod/jsonmod"
	"github.com/chorus-dev/chorus/runtime/sandbox"
)

// openLibs adds json, http, store, config, asset, lookup and require.
func (e *Engine) openLibs(s *sandbox.Session, env *lua.LTable, code *compiled, cfgValues map[string]string, rt route) {
	L := s.L()
	jsonmod.Open(L, env, s, jsonmod.Limits{})
	if e.cfg.HTTP != nil {
		e.cfg.HTTP.Open(L, env, s)
	}

	cfg := L.CreateTable(0, len(cfgValues))
	for k, v := range cfgValues {
		cfg.RawSetString(k, lua.LString(v))
	}
	env.RawSetString("config", cfg)

	kv := L.CreateTable(0, 3)
	kv.RawSetString("get", L.NewFunction(func(L *lua.LState) int {
		k := checkKey(L)
		var v string
		var ok bool
		var err error
		resume := s.Blocking()
		v, ok, err = e.cfg.Store.KVGet(s.Context(), rt.AppID, k)
		resume()
		if err != nil {
			L.Push(lua.LNil)
			L.Push(lua.LString("store.get: " + err.Error()))
			return 2
		}
		if !ok {
			L.Push(lua.LNil)
			return 1
		}
		L.Push(lua.LString(v))
		return 1
	}))
	kv.RawSetString("set", L.NewFunction(func(L *lua.LState) int {
		k := checkKey(L)
		v := L.CheckAny(2)
		var val string
		switch v.(type) {
		case lua.LString, lua.LNumber, lua.LBool:
			val = lua.LVAsString(v)
			if _, isBool := v.(lua.LBool); isBool {
				val = v.String()
			}
		default:
			L.ArgError(2, "store.set keeps strings, numbers and booleans (encode tables with json.encode)")
		}
		if len(val) > 64<<10 {
			L.ArgError(2, "store.set: values are limited to 64 KiB")
		}
		ttl := time.Duration(float64(L.OptNumber(3, 0)) * float64(time.Second))
		resume := s.Blocking()
		err := e.kvQuota(s.Context(), rt.AppID, k, val)
		if err == nil {
			err = e.cfg.Store.KVSet(s.Context(), rt.AppID, k, val, ttl)
		}
		resume()
		if err != nil {
			L.Push(lua.LNil)
			L.Push(lua.LString("store.set: " + err.Error()))
			return 2
		}
		L.Push(lua.LTrue)
		return 1
	}))
	kv.RawSetString("delete", L.NewFunction(func(L *lua.LState) int {
		k := checkKey(L)
		resume := s.Blocking()
		err := e.cfg.Store.KVDelete(s.Context(), rt.AppID, k)
		resume()
		if err != nil {
			L.Push(lua.LNil)
			L.Push(lua.LString("store.delete: " + err.Error()))
			return 2
		}
		L.Push(lua.LTrue)
		return 1
	}))
	env.RawSetString("store", kv)

	env.RawSetString("asset", L.NewFunction(func(L *lua.LState) int {
		name := path.Clean(L.CheckString(1))
		data, ok := code.files[name]
		if !ok {
			L.Push(lua.LNil)
			L.Push(lua.LString("asset: no file " + name + " in the app's bundle"))
			return 2
		}
		if err := s.Charge(int64(len(data))); err != nil {
			L.RaiseError("%s", err.Error())
		}
		L.Push(lua.LString(data))
		return 1
	}))

	env.RawSetString("lookup", L.NewFunction(func(L *lua.LState) int {
		name := L.CheckString(1)
		key := L.CheckString(2)
		resume := s.Blocking() // the first call builds the index
		row, err := code.lookup(name, key)
		resume()
		if err != nil {
			L.RaiseError("%s", err.Error())
		}
		if row == nil {
			L.Push(lua.LNil)
			return 1
		}
		t := L.CreateTable(len(row), 0)
		for _, f := range row {
			t.Append(lua.LString(f))
		}
		L.Push(t)
		return 1
	}))

	loaded := L.CreateTable(0, 0)
	env.RawSetString("require", L.NewFunction(func(L *lua.LState) int {
		name := L.CheckString(1)
		if v := loaded.RawGetString(name); v != lua.LNil {
			L.Push(v)
			return 1
		}
		file := strings.ReplaceAll(name, ".", "/") + ".lua"
		proto := code.protos[file]
		if proto == nil {
			proto = code.protos[strings.TrimSuffix(name, ".lua")+".lua"]
		}
		if proto == nil || strings.Contains(name, "..") {
			L.RaiseError("require: module %q not found in the app's bundle (only the app's own .lua files can be required)", name)
		}
		loaded.RawSetString(name, lua.LTrue) // cycles see true, as in Lua
		fn := L.NewFunctionFromProto(proto)
		fn.Env = env
		L.Push(fn)
		L.Push(lua.LString(name))
		L.Call(1, 1)
		v := L.Get(-1)
		L.Pop(1)
		if v == lua.LNil {
			v = lua.LTrue
		}
		loaded.RawSetString(name, v)
		L.Push(v)
		return 1
	}))
}

// kvQuota refuses a store.set that would take the app past its quota
// (Config.KVMaxKeys keys, Config.KVMaxBytes bytes of keys and values).
func (e *Engine) kvQuota(ctx context.Context, appID int64, key, val string) error {
	n, bytes, err := e.cfg.Store.KVUsage(ctx, appID)
	if err != nil {
		return err
	}
	if bytes+int64(len(key)+len(val)) > e.cfg.KVMaxBytes {
		return fmt.Errorf("the app's store is full (%s); delete keys or give values a ttl", luamod.FormatSize(e.cfg.KVMaxBytes))
	}
	if n >= e.cfg.KVMaxKeys {
		if _, exists, err := e.cfg.Store.KVGet(ctx, appID, key); err != nil || !exists {
			return fmt.Errorf("the app's store is full (%d keys); delete keys or give values a ttl", e.cfg.KVMaxKeys)
		}
	}
	return nil
}

func checkKey(L *lua.LState) string {
	k := L.CheckString(1)
	if k == "" || len(k) > 256 {
		L.ArgError(1, "store keys are 1 to 256 bytes")
	}
	return k
}
