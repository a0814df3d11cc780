package verbs

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/chorus-dev/chorus/channels"
)

// Host is the sandboxed session the verbs run in.
type Host interface {
	Context() context.Context
	Blocking() (resume func())
	Stop(cause error)
}

// Causes the ending verbs stop a session with.
var (
	ErrHangupVerb = errors.New("the script hung up")
	ErrRejectVerb = errors.New("the script rejected the conversation")
)

// Outbound sends and dials outside the current conversation (message(),
// call()).
type Outbound interface {
	// Message sends one message; From may be empty (the app's address on
	// that network is used).
	Message(ctx context.Context, m channels.Message) error
	// Dial starts a conversation with to on network from our address from
	// (empty: the app's address on that network).
	Dial(ctx context.Context, network channels.Network, from, to string, opts DialOptions) (channels.Conversation, error)
}

// DialOptions are call()'s options.
type DialOptions = channels.DialOptions

// Runtime is the verbs' view of one session.
type Runtime struct {
	Host Host
	// Conv is the current conversation; nil for a launched session before
	// it calls anyone.
	Conv channels.Conversation
	// Log writes a line to the app's log.
	Log func(level, text string)
	// Transcript records a line of the conversation.
	Transcript func(dir, kind, text string)
	Outbound   Outbound
	// Params are the launch parameters (POST /v1/sessions).
	Params map[string]any
	// TextTimeout and VoiceTimeout are ask's default timeouts.
	TextTimeout, VoiceTimeout time.Duration
	// MaxLogLines bounds log lines per session (default 1000).
	MaxLogLines int
	// Waiting, when set, is told when the script starts (true) and stops
	// (false) waiting for the person: in ask, record and wait.
	Waiting func(on bool)

	dialed   []channels.Conversation
	logLines atomic.Int64
	L        *lua.LState
	env      *lua.LTable
}

// Open puts the verbs, currentCall and params into env.
func (r *Runtime) Open(L *lua.LState, env *lua.LTable) {
	r.L = L
	r.env = env
	if r.TextTimeout <= 0 {
		r.TextTimeout = 300 * time.Second
	}
	if r.VoiceTimeout <= 0 {
		r.VoiceTimeout = 10 * time.Second
	}
	if r.MaxLogLines <= 0 {
		r.MaxLogLines = 1000
	}
	fns := map[string]lua.LGFunction{
		"answer":   r.answer,
		"say":      r.say,
		"ask":      r.ask,
		"record":   r.record,
		"transfer": r.transfer,
		"call":     r.call,
		"message":  r.message,
		"hangup":   r.hangup,
		"reject":   r.reject,
		"redirect": r.redirect,
		"wait":     r.wait,
		"log":      r.log,
		"print":    r.log,
	}
	for name, fn := range fns {
		env.RawSetString(name, L.NewFunction(fn))
	}
	env.RawSetString("params", toLua(L, r.Params, 0))
	r.setCurrentCall(env)
}

func (r *Runtime) setCurrentCall(env *lua.LTable) {
	if r.Conv == nil {
		env.RawSetString("currentCall", lua.LNil)
		return
	}
	env.RawSetString("currentCall", r.conversationTable(r.Conv))
}

// Close ends the conversations the session opened with call(). The engine
// calls it when the session ends.
func (r *Runtime) Close() {
	for _, c := range r.dialed {
		if cl, ok := c.(channels.Closer); ok {
			cl.Close()
		}
	}
	r.dialed = nil
}

// call returns the current Call, or nil on a text network.
func (r *Runtime) voice() channels.Call {
	if r.Conv == nil {
		return nil
	}
	c, _ := r.Conv.(channels.Call)
	return c
}

// ctx is the context blocking verbs wait on.
func (r *Runtime) ctx() context.Context { return r.Host.Context() }

// active reports whether the conversation still has its other party.
func (r *Runtime) active() bool {
	return r.Conv != nil && r.Conv.Context().Err() == nil
}

// event builds a result event table.
func (r *Runtime) event(name string, attempt int) *lua.LTable {
	t := r.L.CreateTable(0, 4)
	t.RawSetString("name", lua.LString(name))
	if attempt > 0 {
		t.RawSetString("attempt", lua.LNumber(attempt))
	}
	return t
}

func (r *Runtime) errorEvent(msg string) *lua.LTable {
	ev := r.event("error", 0)
	ev.RawSetString("value", lua.LString(msg))
	return ev
}

// block runs f outside the compute clock.
func (r *Runtime) block(f func()) {
	resume := r.Host.Blocking()
	defer resume()
	f()
}

// await is block for waiting on the person (ask, record, wait): the
// session reads "waiting" meanwhile.
func (r *Runtime) await(f func()) {
	if r.Waiting != nil {
		r.Waiting(true)
		defer r.Waiting(false)
	}
	r.block(f)
}

// raiseIfStopped re-raises when the session was stopped while a verb was
// blocked, so that the script ends at once.
func (r *Runtime) raiseIfStopped() {
	if err := r.ctx().Err(); err != nil {
		r.L.RaiseError("%s", context.Cause(r.ctx()).Error())
	}
}

func (r *Runtime) transcript(dir, kind, text string) {
	if r.Transcript != nil {
		r.Transcript(dir, kind, text)
	}
}

// options reads an optional options table.
type options struct{ t *lua.LTable }

func (r *Runtime) opts(n int) options {
	if r.L.GetTop() < n {
		return options{}
	}
	switch v := r.L.Get(n).(type) {
	case *lua.LTable:
		return options{v}
	case *lua.LNilType:
		return options{}
	default:
		r.L.ArgError(n, "options must be a table")
	}
	return options{}
}

func (o options) get(k string) lua.LValue {
	if o.t == nil {
		return lua.LNil
	}
	return o.t.RawGetString(k)
}

func (o options) str(k, def string) string {
	switch v := o.get(k).(type) {
	case lua.LString:
		return string(v)
	case lua.LNumber:
		return v.String()
	}
	return def
}

func (o options) num(k string, def float64) float64 {
	switch v := o.get(k).(type) {
	case lua.LNumber:
		return float64(v)
	case lua.LString:
		if n, err := strconv.ParseFloat(strings.TrimSpace(string(v)), 64); err == nil {
			return n
		}
	}
	return def
}

func (o options) boolean(k string, def bool) bool {
	switch v := o.get(k).(type) {
	case lua.LBool:
		return bool(v)
	}
	return def
}

func (o options) fn(k string) *lua.LFunction {
	f, _ := o.get(k).(*lua.LFunction)
	return f
}

func (o options) seconds(k string, def time.Duration) time.Duration {
	s := o.num(k, -1)
	if s < 0 {
		return def
	}
	return time.Duration(s * float64(time.Second))
}

func (o options) headers(k string) map[string]string {
	t, ok := o.get(k).(*lua.LTable)
	if !ok {
		return nil
	}
	h := map[string]string{}
	t.ForEach(func(k, v lua.LValue) {
		if ks, ok := k.(lua.LString); ok {
			h[string(ks)] = lua.LVAsString(v)
		}
	})
	return h
}

// toLua converts launch parameters to Lua values (bounded depth).
func toLua(L *lua.LState, v any, depth int) lua.LValue {
	if depth > 20 {
		return lua.LNil
	}
	switch x := v.(type) {
	case nil:
		return lua.LNil
	case string:
		return lua.LString(x)
	case bool:
		return lua.LBool(x)
	case float64:
		return lua.LNumber(x)
	case int:
		return lua.LNumber(x)
	case int64:
		return lua.LNumber(x)
	case map[string]any:
		t := L.CreateTable(0, len(x))
		for k, e := range x {
			t.RawSetString(k, toLua(L, e, depth+1))
		}
		return t
	case []any:
		t := L.CreateTable(len(x), 0)
		for _, e := range x {
			t.Append(toLua(L, e, depth+1))
		}
		return t
	}
	return lua.LNil
}

func headerLookup(h map[string]string, name string) (string, bool) {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}
