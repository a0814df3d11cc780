package verbs

import (
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/chorus-dev/chorus/channels"
)

// transfer(to, {callerID=, timeout=, answerOnMedia=, headers=}) bridges or
// REFERs a call; on a text network it returns an error event.
func (r *Runtime) transfer(L *lua.LState) int {
	to := L.CheckString(1)
	o := r.opts(2)
	c := r.voice()
	if c == nil {
		L.Push(r.errorEvent("transfer needs a voice call"))
		return 1
	}
	var err error
	r.block(func() {
		err = c.Transfer(r.ctx(), to, channels.TransferOptions{
			CallerID:      o.str("callerID", ""),
			Timeout:       o.seconds("timeout", 30*time.Second),
			AnswerOnMedia: o.boolean("answerOnMedia", false),
			Headers:       o.headers("headers"),
		})
	})
	r.raiseIfStopped()
	r.transcript("out", "event", "transfer "+to)
	if err != nil {
		L.Push(r.errorEvent(err.Error()))
		return 1
	}
	L.Push(r.event("transfer", 0))
	return 1
}
