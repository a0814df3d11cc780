package scripttest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	luajson "github.com/layeh/gopher-json"
	lua "github.com/yuin/gopher-lua"
)

// Options configure a run.
type Options struct {
	// Bundle is the app: file name -> content; "main.lua" is the entry.
	Bundle map[string][]byte
	// Config are the app's config values (placeholders already replaced).
	Config map[string]string
	// Timeout bounds the whole run; default 30 s.
	Timeout time.Duration
}

// Result is what a run produced.
type Result struct {
	Lines []Line   // the conversation as it happened, inputs included
	End   string   // completed, hangup or error
	Err   error    // the script's error when End is "error"
	Logs  []string // log() and print() lines
}

// errOutOfInput marks a script waiting for input the transcript lacks.
var errOutOfInput = errors.New("the app waits for input but the transcript has none left")

type run struct {
	t      *Transcript
	opts   Options
	L      *lua.LState
	inputs []Line // '>' and '!' lines still to give
	res    Result

	personLeft  bool // a "! hangup" was given
	appHungUp   bool // the script called hangup()
	outOfInput  bool
	modules     map[string]lua.LValue
	initialText string
}

// Run plays t's inputs to the app and records what happens. Compare
// Result.Lines with t.Lines (Diff) and Result.End with t.End.
func Run(ctx context.Context, t *Transcript, opts Options) Result {
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	r := &run{t: t, opts: opts, modules: map[string]lua.LValue{}}
	for _, l := range t.Lines {
		if l.Kind != '<' {
			r.inputs = append(r.inputs, l)
		}
	}
	if !t.Voice {
		first := r.inputs[0]
		r.inputs = r.inputs[1:]
		r.initialText = first.Text
		r.emit(first)
	}
	r.L = lua.NewState(lua.Options{SkipOpenLibs: true})
	defer r.L.Close()
	r.L.SetContext(ctx)
	r.open()

	main, ok := opts.Bundle["main.lua"]
	if !ok {
		r.res.End, r.res.Err = "error", errors.New("the bundle has no main.lua")
		return r.res
	}
	fn, err := r.L.Load(bytes.NewReader(main), "main.lua")
	if err == nil {
		r.L.Push(fn)
		err = r.L.PCall(0, 0, nil)
	}
	switch {
	case r.outOfInput:
		r.res.End, r.res.Err = "error", errOutOfInput
	case r.appHungUp:
		r.res.End = "completed"
	case err != nil:
		r.res.End, r.res.Err = "error", err
	case r.personLeft:
		r.res.End = "hangup"
	default:
		r.res.End = "completed"
	}
	if r.res.Err == nil && len(r.inputs) > 0 {
		r.res.Err = fmt.Errorf("the app ended with input left: %v", r.inputs[0])
	}
	return r.res
}

func (r *run) emit(l Line) {
	l.No = 0
	r.res.Lines = append(r.res.Lines, l)
}

// open builds the script's globals: the spec's base library, string,
// table, math, a trimmed os, json, and the verbs.
func (r *run) open() {
	L := r.L
	for _, lib := range []struct {
		name string
		fn   lua.LGFunction
	}{
		{lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}, {lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath}, {lua.CoroutineLibName, lua.OpenCoroutine}, {lua.OsLibName, lua.OpenOs},
	} {
		L.Push(L.NewFunction(lib.fn))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	for _, name := range []string{"dofile", "loadfile", "load", "loadstring", "module", "collectgarbage",
		"setfenv", "getfenv", "newproxy", "_printregs", "require"} {
		L.SetGlobal(name, lua.LNil)
	}
	os := L.NewTable()
	for _, name := range []string{"time", "date", "clock"} {
		os.RawSetString(name, L.GetField(L.GetGlobal("os"), name))
	}
	L.SetGlobal("os", os)

	L.Push(L.NewFunction(luajson.Loader))
	L.Call(0, 1)
	L.SetGlobal("json", L.Get(-1))
	L.Pop(1)

	funcs := map[string]lua.LGFunction{
		"say": r.say, "ask": r.ask, "answer": r.noop, "hangup": r.hangup, "reject": r.hangup,
		"wait": r.noop, "log": r.log, "print": r.log, "lookup": r.lookup, "require": r.require,
		"asset": r.asset,
	}
	for name, fn := range funcs {
		L.SetGlobal(name, L.NewFunction(fn))
	}
	L.SetGlobal("currentCall", r.currentCall())
	L.SetGlobal("params", L.NewTable())
	cfg := L.NewTable()
	for k, v := range r.opts.Config {
		cfg.RawSetString(k, lua.LString(v))
	}
	L.SetGlobal("config", cfg)
	httpT := L.NewTable()
	httpT.RawSetString("get", L.NewFunction(r.httpGet))
	L.SetGlobal("http", httpT)
	store := map[string]lua.LValue{}
	st := L.NewTable()
	L.SetFuncs(st, map[string]lua.LGFunction{
		"get": func(L *lua.LState) int {
			v, ok := store[L.CheckString(1)]
			if !ok {
				v = lua.LNil
			}
			L.Push(v)
			return 1
		},
		"set":    func(L *lua.LState) int { store[L.CheckString(1)] = L.Get(2); return 0 },
		"delete": func(L *lua.LState) int { delete(store, L.CheckString(1)); return 0 },
	})
	L.SetGlobal("store", st)
}

func (r *run) currentCall() *lua.LTable {
	L := r.L
	c := L.NewTable()
	from, to := r.t.From, r.t.To
	if from == "" {
		switch r.t.Network {
		case "sms", "sip":
			from = "+14075551111"
		case "xmpp":
			from = "alice@example.org"
		default:
			from = "alice"
		}
	}
	if to == "" {
		to = "app"
	}
	network := strings.ToUpper(r.t.Network)
	if network == "XMPP" {
		network = "JABBER"
	}
	c.RawSetString("callerID", lua.LString(from))
	c.RawSetString("calledID", lua.LString(to))
	c.RawSetString("network", lua.LString(network))
	c.RawSetString("sessionId", lua.LString("test-session"))
	c.RawSetString("headers", L.NewTable())
	if r.t.Voice {
		c.RawSetString("channel", lua.LString("VOICE"))
	} else {
		c.RawSetString("channel", lua.LString("TEXT"))
		c.RawSetString("initialText", lua.LString(r.initialText))
	}
	c.RawSetString("isActive", L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LBool(!r.personLeft && !r.appHungUp))
		return 1
	}))
	c.RawSetString("getHeader", L.NewFunction(func(L *lua.LState) int { L.Push(lua.LNil); return 1 }))
	return c
}

func (r *run) noop(L *lua.LState) int { return 0 }

func (r *run) log(L *lua.LState) int {
	parts := make([]string, L.GetTop())
	for i := range parts {
		parts[i] = L.ToStringMeta(L.Get(i + 1)).String()
	}
	r.res.Logs = append(r.res.Logs, strings.Join(parts, " "))
	return 0
}

func (r *run) say(L *lua.LState) int {
	text := L.CheckString(1)
	if r.personLeft {
		r.res.Logs = append(r.res.Logs, "(say after the person left: "+text+")")
		return 0
	}
	r.emit(Line{Kind: '<', Text: text})
	return 0
}

func (r *run) hangup(L *lua.LState) int {
	r.appHungUp = true
	L.RaiseError("hangup")
	return 0
}

// next gives the next input, or raises when the transcript has none left.
func (r *run) next() Line {
	if len(r.inputs) == 0 {
		r.outOfInput = true
		r.L.RaiseError("%s", errOutOfInput.Error())
	}
	l := r.inputs[0]
	r.inputs = r.inputs[1:]
	r.emit(l)
	return l
}

func (r *run) ask(L *lua.LState) int {
	prompt := L.OptString(1, "")
	opts := L.OptTable(2, L.NewTable())
	items, err := parseChoices(lua.LVAsString(opts.RawGetString("choices")))
	if err != nil {
		L.ArgError(2, err.Error())
	}
	attempts := 1
	if n, ok := opts.RawGetString("attempts").(lua.LNumber); ok && n >= 1 {
		attempts = int(n)
	} else if n, ok := opts.RawGetString("repeat").(lua.LNumber); ok && n >= 1 {
		attempts = int(n)
	}
	var ev *lua.LTable
	for attempt := 1; attempt <= attempts; attempt++ {
		if prompt != "" {
			r.emit(Line{Kind: '<', Text: prompt})
		}
		in := r.next()
		if in.Kind == '!' && in.Text == "hangup" {
			r.personLeft = true
			ev = r.event("hangup", attempt, "", "")
			r.dispatch(opts, "onHangup", ev)
			L.Push(ev)
			return 1
		}
		if in.Kind == '!' {
			ev = r.event("timeout", attempt, "", "")
			r.dispatch(opts, "onTimeout", ev)
			continue
		}
		value, ok := match(items, in.Text, r.t.Voice)
		if !ok {
			ev = r.event("badChoice", attempt, in.Text, in.Text)
			r.dispatch(opts, "onBadChoice", ev)
			continue
		}
		ev = r.event("choice", attempt, value, in.Text)
		r.dispatch(opts, "onChoice", ev)
		L.Push(ev)
		return 1
	}
	L.Push(ev)
	return 1
}

func (r *run) event(name string, attempt int, value, raw string) *lua.LTable {
	L := r.L
	ev := L.NewTable()
	ev.RawSetString("name", lua.LString(name))
	ev.RawSetString("attempt", lua.LNumber(attempt))
	if value != "" || raw != "" {
		ev.RawSetString("value", lua.LString(value))
		c := L.NewTable()
		c.RawSetString("interpretation", lua.LString(raw))
		if name == "choice" {
			c.RawSetString("concept", lua.LString(value))
			c.RawSetString("confidence", lua.LNumber(1))
		} else {
			c.RawSetString("confidence", lua.LNumber(0))
		}
		ev.RawSetString("choice", c)
	}
	return ev
}

func (r *run) dispatch(opts *lua.LTable, name string, ev *lua.LTable) {
	fn, ok := opts.RawGetString(name).(*lua.LFunction)
	if !ok {
		fn, ok = opts.RawGetString("onEvent").(*lua.LFunction)
	}
	if !ok {
		return
	}
	r.L.Push(fn)
	r.L.Push(ev)
	r.L.Call(1, 0)
}

func (r *run) require(L *lua.LState) int {
	name := L.CheckString(1)
	if v, ok := r.modules[name]; ok {
		L.Push(v)
		return 1
	}
	src, ok := r.opts.Bundle[name+".lua"]
	if !ok {
		L.RaiseError("require: no module %q in the bundle", name)
	}
	fn, err := L.Load(bytes.NewReader(src), name+".lua")
	if err != nil {
		L.RaiseError("require %q: %v", name, err)
	}
	L.Push(fn)
	L.Call(0, 1)
	v := L.Get(-1)
	L.Pop(1)
	if v == lua.LNil {
		v = lua.LTrue
	}
	r.modules[name] = v
	L.Push(v)
	return 1
}

func (r *run) assetBytes(name string) ([]byte, bool) {
	b, ok := r.opts.Bundle[name]
	if !ok {
		return nil, false
	}
	if strings.HasSuffix(name, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, false
		}
		if b, err = io.ReadAll(zr); err != nil {
			return nil, false
		}
	}
	return b, true
}

func (r *run) asset(L *lua.LState) int {
	b, ok := r.assetBytes(L.CheckString(1))
	if !ok {
		L.Push(lua.LNil)
		L.Push(lua.LString("no such asset"))
		return 2
	}
	L.Push(lua.LString(b))
	return 1
}

// indexes caches parsed CSV assets across runs, by content.
var indexes sync.Map // sha256 of the asset -> map[string][]string

func (r *run) lookup(L *lua.LState) int {
	name, key := L.CheckString(1), L.CheckString(2)
	raw, ok := r.opts.Bundle[name]
	if !ok {
		L.Push(lua.LNil)
		return 1
	}
	cacheKey := sha256.Sum256(raw)
	idx, ok := indexes.Load(cacheKey)
	if !ok {
		b, _ := r.assetBytes(name)
		sep := ","
		if strings.HasSuffix(strings.TrimSuffix(name, ".gz"), ".tsv") {
			sep = "\t"
		}
		m := map[string][]string{}
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Split(strings.TrimRight(line, "\r"), sep)
			if _, dup := m[f[0]]; !dup && line != "" {
				m[f[0]] = f // the whole row, key first (runtime/engine)
			}
		}
		idx, _ = indexes.LoadOrStore(cacheKey, m)
	}
	row, ok := idx.(map[string][]string)[key]
	if !ok {
		L.Push(lua.LNil)
		return 1
	}
	t := L.NewTable()
	for _, f := range row {
		t.Append(lua.LString(f))
	}
	L.Push(t)
	return 1
}

// httpGet is http.get(url [, {headers=, timeout=}]) -> {status, body,
// headers} | nil, err. timeout is in seconds.
func (r *run) httpGet(L *lua.LState) int {
	url := L.CheckString(1)
	opts := L.OptTable(2, L.NewTable())
	timeout := 10 * time.Second
	if n, ok := opts.RawGetString("timeout").(lua.LNumber); ok && n > 0 {
		timeout = time.Duration(float64(n) * float64(time.Second))
	}
	ctx, cancel := context.WithTimeout(L.Context(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		L.Push(lua.LNil)
		L.Push(lua.LString(err.Error()))
		return 2
	}
	req.Header.Set("User-Agent", "") // none unless the script sets one
	if h, ok := opts.RawGetString("headers").(*lua.LTable); ok {
		h.ForEach(func(k, v lua.LValue) { req.Header.Set(k.String(), v.String()) })
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		L.Push(lua.LNil)
		L.Push(lua.LString(err.Error()))
		return 2
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		L.Push(lua.LNil)
		L.Push(lua.LString(err.Error()))
		return 2
	}
	t := L.NewTable()
	t.RawSetString("status", lua.LNumber(resp.StatusCode))
	t.RawSetString("body", lua.LString(body))
	hs := L.NewTable()
	for k := range resp.Header {
		hs.RawSetString(strings.ToLower(k), lua.LString(resp.Header.Get(k)))
	}
	t.RawSetString("headers", hs)
	L.Push(t)
	return 1
}
