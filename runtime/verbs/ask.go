package verbs

import (
	"errors"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/chorus-dev/chorus/channels"
)

// ask(prompt, {choices=, attempts=, timeout=, mode=, terminator=, bargein=,
// onChoice=, onBadChoice=, onTimeout=, onHangup=, onEvent=}) -> event.
//
// Each attempt prompts and waits for input. onBadChoice/onTimeout fire on
// every failed attempt; a handler named for the event wins over onEvent,
// which catches events without their own handler.
func (r *Runtime) ask(L *lua.LState) int {
	prompt := L.OptString(1, "")
	o := r.opts(2)
	choices := o.str("choices", "")
	if choices == "" {
		L.ArgError(2, "ask needs choices, e.g. {choices = \"[5 DIGITS]\"}")
	}
	g, err := ParseGrammar(choices)
	if err != nil {
		L.ArgError(2, err.Error())
	}
	if r.Conv == nil {
		L.RaiseError("ask: no conversation yet (call() someone first)")
	}
	attempts := int(o.num("attempts", o.num("repeat", 1)))
	if attempts < 1 {
		attempts = 1
	}
	if attempts > 100 {
		attempts = 100
	}
	call := r.voice()
	def := r.TextTimeout
	if call != nil {
		def = r.VoiceTimeout
	}
	timeout := o.seconds("timeout", def)
	var ev *lua.LTable
	for attempt := 1; attempt <= attempts; attempt++ {
		var in string
		var kind string
		var conf float64 = 1
		var err error
		if call != nil {
			in, kind, conf, err = r.askVoice(call, prompt, g, o, timeout)
		} else {
			in, err = r.askText(prompt, timeout)
			kind = "text"
		}
		r.raiseIfStopped()
		switch {
		case errors.Is(err, channels.ErrTimeout):
			ev = r.event("timeout", attempt)
			r.transcript("in", "event", "timeout")
			r.dispatch(o, "onTimeout", ev)
			continue
		case err != nil:
			ev = r.event("hangup", attempt)
			r.transcript("in", "event", "hangup")
			r.dispatch(o, "onHangup", ev)
			L.Push(ev)
			return 1
		}
		r.transcript("in", kind, in)
		var m Match
		var ok bool
		if call != nil && kind == "dtmf" {
			m, ok = g.MatchDTMF(in)
		} else {
			m, ok = g.MatchText(in)
		}
		if !ok {
			ev = r.event("badChoice", attempt)
			ev.RawSetString("value", lua.LString(in))
			ev.RawSetString("choice", r.choice(in, "", 0))
			r.dispatch(o, "onBadChoice", ev)
			continue
		}
		ev = r.event("choice", attempt)
		ev.RawSetString("value", lua.LString(m.Value))
		ev.RawSetString("choice", r.choice(m.Interpretation, m.Value, conf))
		r.dispatch(o, "onChoice", ev)
		L.Push(ev)
		return 1
	}
	L.Push(ev)
	return 1
}

func (r *Runtime) choice(interp, concept string, conf float64) *lua.LTable {
	c := r.L.CreateTable(0, 3)
	c.RawSetString("interpretation", lua.LString(interp))
	if concept != "" {
		c.RawSetString("concept", lua.LString(concept))
	}
	c.RawSetString("confidence", lua.LNumber(conf))
	return c
}

// dispatch calls the handler for ev (or onEvent) inside the session.
func (r *Runtime) dispatch(o options, name string, ev *lua.LTable) {
	fn := o.fn(name)
	if fn == nil {
		fn = o.fn("onEvent")
	}
	if fn == nil {
		return
	}
	r.L.Push(fn)
	r.L.Push(ev)
	r.L.Call(1, 0)
}

func (r *Runtime) askText(prompt string, timeout time.Duration) (string, error) {
	var err error
	if prompt != "" {
		r.block(func() { err = r.Conv.Send(r.ctx(), prompt) })
		if err != nil {
			return "", err
		}
		r.transcript("out", "text", prompt)
	}
	var m channels.Message
	r.await(func() { m, err = r.Conv.Receive(r.ctx(), timeout) })
	return m.Text, err
}

func (r *Runtime) askVoice(c channels.Call, prompt string, g *Grammar, o options, timeout time.Duration) (string, string, float64, error) {
	var in channels.Input
	var err error
	r.block(func() {
		if !c.Answered() {
			if err = c.Answer(r.ctx()); err != nil {
				return
			}
		}
		if prompt != "" {
			err = c.Play(r.ctx(), prompt, channels.PlayOptions{Voice: o.str("voice", ""), BargeIn: o.boolean("bargein", true)})
		}
	})
	if err != nil {
		return "", "", 0, err
	}
	if prompt != "" {
		r.transcript("out", "speech", prompt)
	}
	r.await(func() {
		in, err = c.Collect(r.ctx(), channels.CollectOptions{
			Timeout:    timeout,
			InterDigit: o.seconds("interdigitTimeout", 5*time.Second),
			MaxDigits:  g.MaxDigits(),
			Terminator: o.str("terminator", "#"),
			Mode:       o.str("mode", "any"),
		})
	})
	return in.Text, in.Kind, in.Confidence, err
}
