package sandbox

import (
	"context"
	"runtime"
	"sync"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

// benchSrc is a small app-like script (~30 lines): string building,
// formatting, patterns, tables, a pcall.
const benchSrc = `
local greeting = "Hello, " .. "caller"
local digits = {}
for i = 1, 20 do digits[#digits + 1] = tostring(i % 10) end
local code = table.concat(digits)
local menu = {
  {key = "1", label = "Sales"},
  {key = "2", label = "Support"},
  {key = "3", label = "Billing"},
}
local lines = {}
for _, item in ipairs(menu) do
  lines[#lines + 1] = string.format("Press %s for %s.", item.key, item.label)
end
local prompt = table.concat(lines, " ")
local function normalize(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""):lower())
end
local answer = normalize("  SUPPORT  ")
local choice
for _, item in ipairs(menu) do
  if item.label:lower() == answer then choice = item.key end
end
local n = 0
for w in prompt:gmatch("%a+") do n = n + 1 end
local ok, err = pcall(function() error("not fatal") end)
local count = select("#", 1, 2, 3)
local up = greeting:upper()
result = choice .. ":" .. n .. ":" .. #code .. ":" .. count .. ":" .. #up
`

const benchWant = "2:9:20:3:13"

// BenchmarkStartBare is the baseline: a pooled stock LState (default
// options and libraries) running the same precompiled script, with no
// context, no fresh environment and no limits.
func BenchmarkStartBare(b *testing.B) {
	p := mustCompile(b, "main.lua", benchSrc)
	pool := sync.Pool{New: func() any { return lua.NewState() }}
	b.ReportAllocs()
	for b.Loop() {
		L := pool.Get().(*lua.LState)
		L.Push(L.NewFunctionFromProto(p))
		if err := L.PCall(0, 0, nil); err != nil {
			b.Fatal(err)
		}
		if got := L.GetGlobal("result").String(); got != benchWant {
			b.Fatal(got)
		}
		pool.Put(L)
	}
}

// BenchmarkStartSession: Start (pooled state, fresh environment, context,
// compute clock) + Run of the same script + Close.
func BenchmarkStartSession(b *testing.B) {
	sb := newTestSandbox(b, Config{})
	p := mustCompile(b, "main.lua", benchSrc)
	b.ReportAllocs()
	for b.Loop() {
		s, err := sb.Start(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Run(p); err != nil {
			b.Fatal(err)
		}
		if got := s.Globals().RawGetString("result").String(); got != benchWant {
			b.Fatal(got)
		}
		s.Close()
	}
}

// BenchmarkStartEmpty: Start + Close alone, the fixed cost of a session.
func BenchmarkStartEmpty(b *testing.B) {
	sb := newTestSandbox(b, Config{})
	b.ReportAllocs()
	for b.Loop() {
		s, err := sb.Start(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}

// idleSessions starts n sessions that each ran a small script and now wait
// in a verb, and returns the heap and stack bytes per session (after GC,
// above what was in use before), then releases them.
func idleSessions(tb testing.TB, sb *Sandbox, n int) (heapPer, stackPer float64) {
	p := mustCompile(tb, "idle.lua", `
		local name = "caller"
		greeting = "Hello, " .. name
		menu = {"sales", "support"}
		wait()`)
	release := make(chan struct{})
	var blocked, done sync.WaitGroup
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	blocked.Add(n)
	done.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			defer done.Done()
			s, err := sb.Start(context.Background())
			if err != nil {
				tb.Error(err)
				blocked.Done()
				return
			}
			defer s.Close()
			s.Globals().RawSetString("wait", s.L().NewFunction(func(L *lua.LState) int {
				resume := s.Blocking()
				blocked.Done()
				<-release
				resume()
				return 0
			}))
			if err := s.Run(p); err != nil {
				tb.Error(err)
			}
		}()
	}
	blocked.Wait()
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	close(release)
	done.Wait()
	heapPer = float64(int64(ms1.HeapAlloc)-int64(ms0.HeapAlloc)) / float64(n)
	stackPer = float64(int64(ms1.StackInuse)-int64(ms0.StackInuse)) / float64(n)
	return heapPer, stackPer
}

// BenchmarkIdleSessions measures the heap an idle session costs: 1,000
// sessions waiting in a verb at once (run with -benchtime=1x).
func BenchmarkIdleSessions(b *testing.B) {
	sb := newTestSandbox(b, Config{})
	for b.Loop() {
		heap, stack := idleSessions(b, sb, 1000)
		b.ReportMetric(heap, "heap-B/session")
		b.ReportMetric(stack, "stack-B/session")
	}
}

// TestIdleSessionHeap: an idle session (its script waiting in a verb) costs
// at most ~40 KiB of heap.
func TestIdleSessionHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("measures 1,000 sessions")
	}
	sb := newTestSandbox(t, Config{})
	heap, stack := idleSessions(t, sb, 1000)
	t.Logf("idle session: %.1f KiB heap, %.1f KiB goroutine stack", heap/1024, stack/1024)
	if heap > 40<<10 {
		t.Errorf("an idle session costs %.1f KiB of heap, more than 40 KiB", heap/1024)
	}
}
