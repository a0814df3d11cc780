package sandbox

import (
	"context"
	"errors"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// watchdogSandbox returns a sandbox defending a small heap (200 MiB, acting
// at 160 MiB) with a per-session budget too large to matter, so that only
// the heap watchdog can stop the sessions. The process's memory limit is
// restored afterwards.
func watchdogSandbox(t *testing.T, compute time.Duration) *Sandbox {
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	runtime.GC()
	return newTestSandbox(t, Config{
		HeapLimit: 200 << 20,
		Limits:    Limits{Memory: 1 << 30, Compute: compute},
	})
}

type runResult struct {
	err error
	at  time.Time
}

// startBlocking runs src in a session whose wait() signals blocked when it
// first blocks.
func startBlocking(t *testing.T, sb *Sandbox, src string, blocked chan<- struct{}) <-chan runResult {
	p := mustCompile(t, "main.lua", src)
	done := make(chan runResult, 1)
	go func() {
		s, err := sb.Start(context.Background())
		if err != nil {
			done <- runResult{err, time.Now()}
			return
		}
		defer s.Close()
		first := true
		s.Globals().RawSetString("wait", s.L().NewFunction(func(L *lua.LState) int {
			d := time.Duration(L.CheckNumber(1)) * time.Millisecond
			resume := s.Blocking()
			if first && blocked != nil {
				first = false
				blocked <- struct{}{}
			}
			select {
			case <-time.After(d):
			case <-s.Context().Done():
			}
			resume()
			return 0
		}))
		err = s.Run(p)
		done <- runResult{err, time.Now()}
	}()
	return done
}

// TestWatchdogIdleHoarder: a session builds ~120 MiB and then waits in a
// verb; when the process's heap goes over the line, nobody is computing, so
// the watchdog walks the idle sessions and stops the one holding the most,
// not the small one waiting beside it.
func TestWatchdogIdleHoarder(t *testing.T) {
	sb := watchdogSandbox(t, 10*time.Second)
	hoarding := make(chan struct{}, 1)
	hoarder := startBlocking(t, sb, `
		local t = {}
		for i = 1, 120 do t[i] = ("x"):rep(1e6) .. i end
		wait(10000)
		result = #t`, hoarding)
	smallBlocked := make(chan struct{}, 1)
	small := startBlocking(t, sb, `local t = {1, 2, 3} wait(1500) result = #t`, smallBlocked)
	<-smallBlocked
	select {
	case <-hoarding:
	case r := <-hoarder:
		t.Fatalf("the hoarder ended before it waited: %v", r.err)
	}
	// Push the process over 160 MiB from outside any session.
	pushed := time.Now()
	ballast := make([]byte, 60<<20)
	for i := range ballast {
		ballast[i] = 1
	}
	select {
	case r := <-hoarder:
		var le *LimitError
		if !errors.As(r.err, &le) || le.Kind != KindMemory {
			t.Fatalf("hoarder: got %v, want a memory limit", r.err)
		}
		if !strings.Contains(le.Detail, "held the most") {
			t.Errorf("hoarder stopped as %q, want the idle-walk reason", le.Detail)
		}
		t.Logf("hoarder stopped %v after the push: %v", r.at.Sub(pushed), r.err)
	case <-time.After(5 * time.Second):
		t.Fatal("the hoarder was not stopped")
	}
	if r := <-small; r.err != nil {
		t.Errorf("the small idle session was stopped too: %v", r.err)
	}
	if n := sb.kills.Load(); n != 1 {
		t.Errorf("%d sessions stopped for memory, want 1", n)
	}
	runtime.KeepAlive(ballast)
}

// TestWatchdogComputingGrower: a session grows tables (which no library
// function sees) without ever blocking; the watchdog stops it, as the
// longest compute phase, once the heap is over the line, while a benign
// session with short compute phases keeps answering.
func TestWatchdogComputingGrower(t *testing.T) {
	sb := watchdogSandbox(t, 30*time.Second)
	loop := startBenignLoop(t, sb)
	start := time.Now()
	grower := startBlocking(t, sb, `local t = {} while true do t[#t + 1] = {} end`, nil)
	select {
	case r := <-grower:
		var le *LimitError
		if !errors.As(r.err, &le) || le.Kind != KindMemory {
			t.Fatalf("grower: got %v, want a memory limit", r.err)
		}
		t.Logf("grower stopped after %v: %v", r.at.Sub(start), r.err)
	case <-time.After(20 * time.Second):
		t.Fatal("the grower was not stopped")
	}
	time.Sleep(100 * time.Millisecond)
	loop.finish(t, 2*time.Second)
}

// TestEstimate checks the walk's estimate of what a script holds.
func TestEstimate(t *testing.T) {
	// Building 100,000 tables takes longer than the default 2 s under -race.
	sb := newTestSandbox(t, Config{Limits: Limits{Compute: 30 * time.Second}})
	s, _ := sb.Start(context.Background())
	defer s.Close()
	base := s.estimate(1<<62, maxWalkNodes)
	err := s.Run(mustCompile(t, "main.lua", `
		big = ("x"):rep(10 * 1024 * 1024)
		refs = {}
		for i = 1, 100 do refs[i] = big end   -- one string, many references
		rows = {}
		for i = 1, 100000 do rows[i] = {id = i, name = "n" .. i} end
		co = coroutine.create(function(a) local keep = ("y"):rep(1024 * 1024) coroutine.yield() end)
		coroutine.resume(co)`))
	if err != nil {
		t.Fatal(err)
	}
	got := s.estimate(1<<62, maxWalkNodes) - base
	// 10 MiB + 1 MiB of strings; 100,000 small tables of ~200-300 bytes.
	if lo, hi := int64(20<<20), int64(80<<20); got < lo || got > hi {
		t.Errorf("estimate %s, want between %s and %s", size(got), size(lo), size(hi))
	}
	t.Logf("estimate: %s (base %s)", size(got), size(base))
}
