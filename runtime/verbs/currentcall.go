package verbs

import (
	lua "github.com/yuin/gopher-lua"

	"github.com/chorus-dev/chorus/channels"
)

// conversationTable builds the currentCall table of spec/lua-api.md.
func (r *Runtime) conversationTable(c channels.Conversation) *lua.LTable {
	L := r.L
	info := c.Info()
	t := L.CreateTable(0, 16)
	set := func(k, v string) {
		if v != "" {
			t.RawSetString(k, lua.LString(v))
		}
	}
	caller, called := info.Remote.ID, info.Local.ID
	if info.Remote.Network == channels.SIP {
		caller, called = channels.SIPUser(caller), channels.SIPUser(called)
	}
	set("callerID", caller)
	set("callerName", info.RemoteName)
	set("calledID", called)
	set("callerURI", info.RemoteURI)
	set("calledURI", info.LocalURI)
	set("network", info.Local.Network.LuaName())
	if info.Voice {
		set("channel", "VOICE")
	} else {
		set("channel", "TEXT")
		set("initialText", info.InitialText)
	}
	if channels.IsNumber(caller) {
		set("e164CallerID", caller)
	}
	if channels.IsNumber(called) {
		set("e164CalledID", called)
	}
	set("sessionId", info.ID)
	hdr := L.CreateTable(0, len(info.Headers))
	for k, v := range info.Headers {
		hdr.RawSetString(k, lua.LString(v))
	}
	t.RawSetString("headers", hdr)
	t.RawSetString("getHeader", L.NewFunction(func(L *lua.LState) int {
		name := L.CheckString(L.GetTop())
		if v, ok := headerLookup(info.Headers, name); ok {
			L.Push(lua.LString(v))
			return 1
		}
		L.Push(lua.LNil)
		return 1
	}))
	t.RawSetString("isActive", L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LBool(c.Context().Err() == nil))
		return 1
	}))
	return t
}
