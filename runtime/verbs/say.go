package verbs

import (
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/chorus-dev/chorus/channels"
)

// say(text [, {voice=, bargein=}]): speaks on a call (answering it first),
// sends one message on a text network. Needs a conversation.
func (r *Runtime) say(L *lua.LState) int {
	text := L.CheckString(1)
	o := r.opts(2)
	if r.Conv == nil {
		L.RaiseError("say: no conversation yet (call() someone first)")
	}
	if !r.active() {
		L.Push(r.event("hangup", 0))
		return 1
	}
	var err error
	if c := r.voice(); c != nil {
		r.block(func() {
			if !c.Answered() {
				if err = c.Answer(r.ctx()); err != nil {
					return
				}
			}
			err = c.Play(r.ctx(), text, channels.PlayOptions{Voice: o.str("voice", ""), BargeIn: o.boolean("bargein", false)})
		})
		kind := "speech"
		if strings.HasPrefix(text, "http://") || strings.HasPrefix(text, "https://") || strings.HasPrefix(text, "asset:") {
			kind = "recording"
		}
		if err == nil {
			r.transcript("out", kind, text)
		}
	} else {
		r.block(func() { err = r.Conv.Send(r.ctx(), text) })
		if err == nil {
			r.transcript("out", "text", text)
		}
	}
	r.raiseIfStopped()
	if err != nil {
		if !r.active() {
			L.Push(r.event("hangup", 0))
			return 1
		}
		r.Log("warn", "say: "+err.Error())
		L.Push(r.errorEvent(err.Error()))
		return 1
	}
	L.Push(r.event("say", 0))
	return 1
}
