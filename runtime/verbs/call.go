package verbs

import (
	"errors"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/chorus-dev/chorus/channels"
)

// call(to, {network=, callerID=, timeout=, answerOnMedia=, headers=}) places
// a call (or starts a text conversation) and makes it currentCall.
func (r *Runtime) call(L *lua.LState) int {
	to := L.CheckString(1)
	o := r.opts(2)
	n, err := channels.ParseNetwork(o.str("network", "SIP"))
	if err != nil {
		L.ArgError(2, err.Error())
	}
	if r.Outbound == nil {
		L.Push(r.errorEvent("call: no outbound channels configured"))
		return 1
	}
	var conv channels.Conversation
	r.block(func() {
		conv, err = r.Outbound.Dial(r.ctx(), n, o.str("callerID", ""), to, DialOptions{
			Timeout:       o.seconds("timeout", 30*time.Second),
			AnswerOnMedia: o.boolean("answerOnMedia", false),
			Headers:       o.headers("headers"),
		})
	})
	r.raiseIfStopped()
	switch {
	case errors.Is(err, channels.ErrTimeout):
		L.Push(r.event("timeout", 0))
		return 1
	case errors.Is(err, channels.ErrNoRoute), errors.Is(err, channels.ErrUnavailable):
		ev := r.event("callFailure", 0)
		ev.RawSetString("value", lua.LString(err.Error()))
		L.Push(ev)
		return 1
	case err != nil:
		L.Push(r.errorEvent(err.Error()))
		return 1
	}
	r.dialed = append(r.dialed, conv)
	r.Conv = conv
	call := r.conversationTable(conv)
	r.env.RawSetString("currentCall", call)
	r.transcript("out", "event", "call "+to)
	ev := r.event("answer", 0)
	ev.RawSetString("value", call)
	L.Push(ev)
	return 1
}
