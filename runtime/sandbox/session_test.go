package sandbox

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// TestIsolationPooledState: what one session changes is not seen by the next
// session on the same pooled state. Each trap returns normally, so its
// state goes back to the pool and is reused (checked).
func TestIsolationPooledState(t *testing.T) {
	traps := map[string]string{
		"library functions": `string.upper = function() return "pwned" end
			string.len = function() return 0 end
			math.pi = 3
			math.floor = function() return 42 end
			table.insert = nil`,
		"string methods": `function string.upper(s) return "pwned" end
			function string.trap(s) return "pwned" end`,
		"globals": `_G.tostring = function() return "pwned" end
			x_trap = true
			getmetatable = nil
			rawset(_G, "type", nil)`,
		"string metatable": `local ok = pcall(function() getmetatable("").__index = {} end)
			local ok2 = pcall(setmetatable, "", {})
			local ok3 = pcall(rawset, getmetatable(""), "__index", {})
			assert(not ok and not ok2 and not ok3)`,
		"number metatable": `assert(not pcall(setmetatable, 0, {__index = function() return "pwned" end}))
			assert(not pcall(setmetatable, true, {}))
			assert(not pcall(setmetatable, print or pcall, {}))`,
		"suspended coroutine": `trapco = coroutine.create(function() coroutine.yield() string.upper = nil end)
			coroutine.resume(trapco)`,
		"_G replaced": `_G = {string = {upper = function() return "pwned" end}}
			string = _G.string`,
		"table metatable": `setmetatable(_G, {__index = function(t, k) return "pwned" end})
			setmetatable(string, {__index = function() return "pwned" end})`,
	}
	sb := newTestSandbox(t, Config{})
	for name, trap := range traps {
		t.Run(name, func(t *testing.T) {
			p := mustCompile(t, "trap.lua", trap)
			s, err := sb.Start(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			L := s.L()
			if err := s.Run(p); err != nil {
				t.Fatalf("trap script: %v", err)
			}
			s.Close()

			s2, err := sb.Start(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			if s2.L() != L {
				t.Fatal("the pooled state was not reused; the test proves nothing")
			}
			probe := benignSrc + `
				assert(string.trap == nil, "string.trap leaked")
				assert(("x").trap == nil, "string method leaked")
				assert(trapco == nil, "coroutine leaked")
				assert(getmetatable(_G) == nil and getmetatable(string) == nil, "metatable leaked")
				assert(math.pi > 3.14, "math.pi leaked")`
			if err := s2.Run(mustCompile(t, "probe.lua", probe)); err != nil {
				t.Fatalf("probe: %v", err)
			}
			if got := s2.Globals().RawGetString("result").String(); got != benignWant {
				t.Errorf("after the trap: got %q, want %q", got, benignWant)
			}
		})
	}
}

// TestDirtyStateDiscarded: a state whose script did not return normally is
// not reused.
func TestDirtyStateDiscarded(t *testing.T) {
	sb := newTestSandbox(t, Config{})
	for _, src := range []string{`error("x")`, `string.rep("x", 2^40)`} {
		s, _ := sb.Start(context.Background())
		L := s.L()
		if err := s.Run(mustCompile(t, "x.lua", src)); err == nil {
			t.Fatal("want an error")
		}
		s.Close()
		s2, _ := sb.Start(context.Background())
		if s2.L() == L {
			t.Errorf("%s: the state of a failed script was reused", src)
		}
		s2.Close()
	}
}

func TestNoForbiddenGlobals(t *testing.T) {
	sb := newTestSandbox(t, Config{})
	got := evalLua(t, sb, `
		local names = {}
		for k in pairs(_G) do names[#names + 1] = k end
		table.sort(names)
		local libs = {}
		for _, lib in ipairs({"string", "table", "math", "coroutine", "os"}) do
			local fs = {}
			for k in pairs(_G[lib]) do fs[#fs + 1] = k end
			table.sort(fs)
			libs[#libs + 1] = lib .. ":" .. table.concat(fs, ",")
		end
		result = table.concat(names, ",") .. "\n" .. table.concat(libs, "\n")`)
	want := "_G,assert,coroutine,error,getmetatable,ipairs,math,next,os,pairs,pcall,rawequal,rawget,rawset,select,setmetatable,string,table,tonumber,tostring,type,unpack,xpcall\n" +
		"string:byte,char,find,format,gmatch,gsub,len,lower,match,rep,reverse,sub,upper\n" +
		"table:concat,getn,insert,maxn,remove,sort\n" +
		"math:abs,acos,asin,atan,atan2,ceil,cos,cosh,deg,exp,floor,fmod,frexp,huge,ldexp,log,log10,max,min,mod,modf,pi,pow,rad,random,randomseed,sin,sinh,sqrt,tan,tanh\n" +
		"coroutine:create,resume,running,status,wrap,yield\n" +
		"os:clock,date,time"
	if got != want {
		t.Errorf("globals:\n got: %s\nwant: %s", got, want)
	}
}

// TestStopFromAnotherGoroutine: Stop ends a script that keeps catching
// errors with pcall, and Run returns the cause.
func TestStopFromAnotherGoroutine(t *testing.T) {
	sb := newTestSandbox(t, Config{})
	p := mustCompile(t, "main.lua", `
		started = true
		while true do
			pcall(function() while true do end end)
			escaped = true
		end`)
	errHangup := errors.New("hangup")
	started := make(chan *Session)
	done := make(chan error)
	go func() {
		s, err := sb.Start(context.Background())
		if err != nil {
			done <- err
			return
		}
		defer s.Close()
		started <- s
		done <- s.Run(p)
	}()
	s := <-started
	time.Sleep(50 * time.Millisecond)
	stopAt := time.Now()
	s.Stop(errHangup)
	select {
	case err := <-done:
		if !errors.Is(err, errHangup) {
			t.Errorf("Run returned %v, want the Stop cause", err)
		}
		if d := time.Since(stopAt); d > time.Second {
			t.Errorf("Run returned %v after Stop", d)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Stop did not end the script")
	}
}

// TestHangupUncatchable: a verb that stops the session and raises cannot be
// caught: the script does not run another instruction.
func TestHangupUncatchable(t *testing.T) {
	sb := newTestSandbox(t, Config{})
	errHangup := errors.New("hangup")
	s, _ := sb.Start(context.Background())
	defer s.Close()
	s.Globals().RawSetString("hangup", s.L().NewFunction(func(L *lua.LState) int {
		s.Stop(errHangup)
		L.RaiseError("hangup")
		return 0
	}))
	err := s.Run(mustCompile(t, "main.lua", `
		local ok = pcall(hangup)
		continued = true
		while true do end`))
	if !errors.Is(err, errHangup) {
		t.Errorf("got %v, want hangup", err)
	}
	if s.Globals().RawGetString("continued") != lua.LNil {
		t.Error("the script ran on after hangup")
	}
}

// TestHandlersFromGo: Go code that calls Lua handlers with L.PCall checks
// the context afterwards; limits still stop a handler that loops.
func TestHandlersFromGo(t *testing.T) {
	sb := newTestSandbox(t, Config{Limits: Limits{Compute: 200 * time.Millisecond}})
	s, _ := sb.Start(context.Background())
	defer s.Close()
	s.Globals().RawSetString("each", s.L().NewFunction(func(L *lua.LState) int {
		h := L.CheckFunction(1)
		for i := 0; ; i++ {
			L.Push(h)
			L.Push(lua.LNumber(i))
			err := L.PCall(1, 0, nil)
			if s.Context().Err() != nil {
				L.RaiseError("%s", context.Cause(s.Context()))
			}
			_ = err // a handler's own error is the verb's business
		}
	}))
	start := time.Now()
	err := s.Run(mustCompile(t, "main.lua", `each(function(i) if i > 10 then while true do end end error("x") end)`))
	var le *LimitError
	if !errors.As(err, &le) || le.Kind != KindCompute {
		t.Errorf("got %v, want a compute limit", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestComputeClockExcludesBlocking(t *testing.T) {
	sb := newTestSandbox(t, Config{Limits: Limits{Compute: 100 * time.Millisecond}})
	s, _ := sb.Start(context.Background())
	defer s.Close()
	registerWait(s)
	start := time.Now()
	err := s.Run(mustCompile(t, "main.lua", `for i = 1, 4 do wait(60) end result = os.clock()`))
	if err != nil {
		t.Fatalf("a script that waits 240 ms with a 100 ms compute limit: %v", err)
	}
	st := s.Stats()
	if time.Since(start) < 240*time.Millisecond || st.Compute > 50*time.Millisecond {
		t.Errorf("elapsed %v, compute %v", time.Since(start), st.Compute)
	}
	if c := float64(s.Globals().RawGetString("result").(lua.LNumber)); c > 0.05 {
		t.Errorf("os.clock() = %v, want the session's compute only", c)
	}
	// The same loop without waiting is stopped.
	s2, _ := sb.Start(context.Background())
	defer s2.Close()
	err = s2.Run(mustCompile(t, "main.lua", `local t = os.clock() while os.clock() - t < 1 do end`))
	var le *LimitError
	if !errors.As(err, &le) || le.Kind != KindCompute {
		t.Errorf("got %v, want a compute limit", err)
	}
	if !strings.Contains(err.Error(), "ran Lua for more than 100ms without waiting for input") {
		t.Errorf("message: %q", err.Error())
	}
}

func TestSessionMax(t *testing.T) {
	sb := newTestSandbox(t, Config{Limits: Limits{SessionMax: 150 * time.Millisecond}})
	s, _ := sb.Start(context.Background())
	defer s.Close()
	registerWait(s)
	start := time.Now()
	err := s.Run(mustCompile(t, "main.lua", `while true do wait(10) end`))
	var le *LimitError
	if !errors.As(err, &le) || le.Kind != KindSession {
		t.Fatalf("got %v, want a session limit", err)
	}
	if d := time.Since(start); d < 150*time.Millisecond || d > time.Second {
		t.Errorf("stopped after %v", d)
	}
}

func TestParentContext(t *testing.T) {
	sb := newTestSandbox(t, Config{})
	ctx, cancel := context.WithCancelCause(context.Background())
	s, _ := sb.Start(ctx)
	defer s.Close()
	registerWait(s)
	errGone := errors.New("caller gone")
	time.AfterFunc(30*time.Millisecond, func() { cancel(errGone) })
	err := s.Run(mustCompile(t, "main.lua", `while true do wait(1000) end`))
	if !errors.Is(err, errGone) {
		t.Errorf("got %v", err)
	}
}

func TestCharge(t *testing.T) {
	sb := newTestSandbox(t, Config{Limits: Limits{Memory: 32 << 20}})
	asset := strings.Repeat("a", 4<<20)
	run := func(src string) error {
		s, _ := sb.Start(context.Background())
		defer s.Close()
		s.Globals().RawSetString("asset", s.L().NewFunction(func(L *lua.LState) int {
			if err := s.Charge(int64(len(asset))); err != nil {
				L.RaiseError("%s", err)
			}
			L.Push(lua.LString(asset))
			return 1
		}))
		return s.Run(mustCompile(t, "main.lua", src))
	}
	// Dropped assets do not add up.
	if err := run(`for i = 1, 100 do local a = asset() end`); err != nil {
		t.Errorf("loading an asset 100 times: %v", err)
	}
	// Kept ones do (the same string counts once, distinct copies each).
	err := run(`local t = {} for i = 1, 100 do t[i] = asset() .. i end`)
	var le *LimitError
	if !errors.As(err, &le) || le.Kind != KindMemory {
		t.Errorf("keeping 100 assets: got %v, want a memory limit", err)
	}
}

// TestConcurrentSessions runs many sessions at once under -race.
func TestConcurrentSessions(t *testing.T) {
	sb := newTestSandbox(t, Config{})
	p := mustCompile(t, "main.lua", "wait(1)\n"+benignSrc)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				s, err := sb.Start(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				registerWait(s)
				if err := s.Run(p); err != nil {
					t.Error(err)
				}
				if got := s.Globals().RawGetString("result").String(); got != benignWant {
					t.Errorf("got %q", got)
				}
				s.Close()
			}
		}()
	}
	wg.Wait()
}

func TestLimitsDefaults(t *testing.T) {
	sb := newTestSandbox(t, Config{})
	want := Limits{Compute: 2 * time.Second, SessionMax: 4 * time.Hour, Memory: 64 << 20, Coroutines: 64}
	if got := sb.Limits(); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close: %v", err)
	}
}
