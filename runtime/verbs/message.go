package verbs

import (
	lua "github.com/yuin/gopher-lua"

	"github.com/chorus-dev/chorus/channels"
)

// message(text, {to=, network=, from=|callerID=}) sends one message without
// leaving the current conversation. Returns true, or nil and an error.
func (r *Runtime) message(L *lua.LState) int {
	text := L.CheckString(1)
	o := r.opts(2)
	to := o.str("to", "")
	if to == "" {
		L.ArgError(2, "message needs opts.to")
	}
	netName := o.str("network", "")
	if netName == "" {
		L.ArgError(2, "message needs opts.network (\"SMS\", \"JABBER\", \"WEB\", ...)")
	}
	n, err := channels.ParseNetwork(netName)
	if err != nil {
		L.ArgError(2, err.Error())
	}
	if r.Outbound == nil {
		L.Push(lua.LNil)
		L.Push(lua.LString("message: no outbound channels configured"))
		return 2
	}
	from := o.str("from", o.str("callerID", ""))
	r.block(func() {
		err = r.Outbound.Message(r.ctx(), channels.Message{
			From: channels.Address{Network: n, ID: from},
			To:   channels.Address{Network: n, ID: to},
			Text: text,
		})
	})
	r.raiseIfStopped()
	if err != nil {
		r.Log("warn", "message to "+to+": "+err.Error())
		L.Push(lua.LNil)
		L.Push(lua.LString(err.Error()))
		return 2
	}
	r.transcript("out", "text", "["+string(n)+" "+to+"] "+text)
	L.Push(lua.LTrue)
	return 1
}
