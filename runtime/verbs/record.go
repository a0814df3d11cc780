package verbs

import (
	"errors"
	"net/url"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/chorus-dev/chorus/channels"
)

// record(prompt, {beep=, timeout=, silenceTimeout=, maxTime=, terminator=})
// -> {name="record", recordURI=, duration=}. On a text network it waits for
// the next message and keeps it as the recording (event.value).
func (r *Runtime) record(L *lua.LState) int {
	prompt := L.OptString(1, "")
	o := r.opts(2)
	if r.Conv == nil {
		L.RaiseError("record: no conversation yet (call() someone first)")
	}
	var err error
	if c := r.voice(); c != nil {
		var rec channels.Recording
		r.block(func() {
			if !c.Answered() {
				if err = c.Answer(r.ctx()); err != nil {
					return
				}
			}
			if prompt != "" {
				err = c.Play(r.ctx(), prompt, channels.PlayOptions{})
			}
		})
		r.raiseIfStopped()
		if err != nil {
			return r.recordFailed(L, err)
		}
		r.await(func() {
			rec, err = c.Record(r.ctx(), channels.RecordOptions{
				Beep:           o.boolean("beep", true),
				Timeout:        o.seconds("timeout", 10*time.Second),
				SilenceTimeout: o.seconds("silenceTimeout", 5*time.Second),
				MaxTime:        o.seconds("maxTime", 60*time.Second),
				Terminator:     o.str("terminator", "#"),
			})
		})
		r.raiseIfStopped()
		if err != nil {
			return r.recordFailed(L, err)
		}
		r.transcript("in", "recording", rec.URI)
		ev := r.event("record", 0)
		ev.RawSetString("recordURI", lua.LString(rec.URI))
		ev.RawSetString("duration", lua.LNumber(rec.Duration.Seconds()))
		L.Push(ev)
		return 1
	}
	in, err := r.askText(prompt, o.seconds("timeout", r.TextTimeout))
	r.raiseIfStopped()
	if err != nil {
		return r.recordFailed(L, err)
	}
	r.transcript("in", "recording", in)
	ev := r.event("record", 0)
	ev.RawSetString("value", lua.LString(in))
	// The text is the recording: a data: URI holds it where a call's
	// recording would be a URL.
	ev.RawSetString("recordURI", lua.LString("data:text/plain;charset=utf-8,"+url.PathEscape(in)))
	L.Push(ev)
	return 1
}

func (r *Runtime) recordFailed(L *lua.LState, err error) int {
	switch {
	case errors.Is(err, channels.ErrTimeout):
		L.Push(r.event("timeout", 0))
	case !r.active():
		L.Push(r.event("hangup", 0))
	default:
		L.Push(r.errorEvent(err.Error()))
	}
	return 1
}
