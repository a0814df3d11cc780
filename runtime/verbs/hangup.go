package verbs

import (
	lua "github.com/yuin/gopher-lua"
)

// hangup() hangs up / ends the conversation. The script ends here; pcall
// cannot catch it.
func (r *Runtime) hangup(L *lua.LState) int {
	if c := r.voice(); c != nil && r.active() {
		r.block(func() { _ = c.Hangup(r.ctx()) })
	}
	r.transcript("out", "event", "hangup")
	r.Host.Stop(ErrHangupVerb)
	L.RaiseError("hangup")
	return 0
}

// reject() rejects an unanswered call (486/603 by opts.reason); on a text
// network the conversation ends silently.
func (r *Runtime) reject(L *lua.LState) int {
	code := 603
	if r.opts(1).str("reason", "") == "busy" {
		code = 486
	}
	if c := r.voice(); c != nil && !c.Answered() {
		r.block(func() { _ = c.Reject(r.ctx(), code) })
	}
	r.transcript("out", "event", "reject")
	r.Host.Stop(ErrRejectVerb)
	L.RaiseError("reject")
	return 0
}

// redirect(to) redirects an unanswered call (302); anything else gets an
// error event.
func (r *Runtime) redirect(L *lua.LState) int {
	to := L.CheckString(1)
	c := r.voice()
	if c == nil {
		L.Push(r.errorEvent("redirect needs an unanswered voice call"))
		return 1
	}
	if c.Answered() {
		L.Push(r.errorEvent("redirect: the call is already answered"))
		return 1
	}
	var err error
	r.block(func() { err = c.Redirect(r.ctx(), to) })
	if err != nil {
		L.Push(r.errorEvent(err.Error()))
		return 1
	}
	r.transcript("out", "event", "redirect "+to)
	r.Host.Stop(ErrRejectVerb)
	L.RaiseError("redirect")
	return 0
}

// answer() answers a call; a no-op on text networks.
func (r *Runtime) answer(L *lua.LState) int {
	if c := r.voice(); c != nil && !c.Answered() {
		var err error
		r.block(func() { err = c.Answer(r.ctx()) })
		r.raiseIfStopped()
		if err != nil {
			L.Push(r.errorEvent(err.Error()))
			return 1
		}
	}
	L.Push(r.event("answer", 0))
	return 1
}
