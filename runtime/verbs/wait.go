package verbs

import (
	"time"

	lua "github.com/yuin/gopher-lua"
)

// wait(ms) waits; the session's state reads "waiting" meanwhile.
func (r *Runtime) wait(L *lua.LState) int {
	ms := L.CheckNumber(1)
	if ms < 0 {
		L.ArgError(1, "wait needs milliseconds >= 0")
	}
	d := time.Duration(float64(ms) * float64(time.Millisecond))
	r.await(func() {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.ctx().Done():
		}
	})
	r.raiseIfStopped()
	return 0
}
