package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// benignSrc checks that nothing a hostile script did is visible: library
// functions, the string metatable, globals, metatables of other types.
const benignSrc = `
local parts = {}
local function add(v) parts[#parts + 1] = tostring(v) end
add(string.upper("abc"))
add(("abc"):upper())
add(string.len("abcd"))
add(tostring(math.pi):sub(1, 6))
add(math.floor(2.5))
add(getmetatable(""))
add(pcall(function() return (5).x end))
add(type(x_trap))
add(type(getmetatable))
add(#table.concat({"a", "b"}, ","))
local t = {}
table.insert(t, "z")
add(t[1])
add(tostring == _G.tostring)
local n = 0
for w in ("one two three"):gmatch("%a+") do n = n + 1 end
add(n)
result = table.concat(parts, " ")
`

const benignWant = "ABC ABC 4 3.1415 2 false false nil function 3 z true 3"

// hostileScript is a script of testdata/hostile: its first line says how it
// must end, "-- expect: limit" or "-- expect: error".
type hostileScript struct {
	name, expect string
	src          []byte
}

func loadHostile(t testing.TB) []hostileScript {
	t.Helper()
	files, err := filepath.Glob("testdata/hostile/*.lua")
	if err != nil || len(files) == 0 {
		t.Fatalf("no hostile scripts: %v", err)
	}
	var out []hostileScript
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		first, _, _ := bytes.Cut(src, []byte("\n"))
		expect, ok := strings.CutPrefix(strings.TrimSpace(string(first)), "-- expect: ")
		if !ok || (expect != "limit" && expect != "error") {
			t.Fatalf("%s: first line must be '-- expect: limit' or '-- expect: error', got %q", f, first)
		}
		out = append(out, hostileScript{filepath.Base(f), expect, src})
	}
	return out
}

// runSource compiles and runs src in a new session of sb; a compile error is
// returned as Run's error would be.
func runSource(sb *Sandbox, name string, src []byte) error {
	p, err := Compile(name, src)
	if err != nil {
		return err
	}
	s, err := sb.Start(context.Background())
	if err != nil {
		return err
	}
	defer s.Close()
	return s.Run(p)
}

// checkEnd reports whether err is the way a script with this expectation
// must end.
func checkEnd(expect string, err error) bool {
	var le *LimitError
	isLimit := errors.As(err, &le)
	switch expect {
	case "limit":
		return isLimit
	case "error":
		var se *ScriptError
		var ce *CompileError
		return !isLimit && (errors.As(err, &se) || errors.As(err, &ce))
	}
	return false
}

func runBenign(t testing.TB, sb *Sandbox) {
	t.Helper()
	if got := evalLua(t, sb, benignSrc); got != benignWant {
		t.Errorf("benign script after: got %q, want %q", got, benignWant)
	}
}

// registerWait adds wait(ms) to a session: a verb that blocks.
func registerWait(s *Session) {
	s.Globals().RawSetString("wait", s.L().NewFunction(func(L *lua.LState) int {
		d := time.Duration(L.CheckNumber(1)) * time.Millisecond
		resume := s.Blocking()
		select {
		case <-time.After(d):
		case <-s.Context().Done():
		}
		resume()
		return 0
	}))
}

// benignLoop runs a benign session (which also waits) over and over until
// stop is closed, and reports how many answered right, how many did not, and
// the longest time between two right answers.
type benignLoop struct {
	answered, failed atomic.Int64
	maxGap           atomic.Int64
	lastErr          atomic.Value
	stop             chan struct{}
	wg               sync.WaitGroup
}

func startBenignLoop(t testing.TB, sb *Sandbox) *benignLoop {
	b := &benignLoop{stop: make(chan struct{})}
	p := mustCompile(t, "benign.lua", "wait(1)\n"+benignSrc)
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		last := time.Now()
		for {
			select {
			case <-b.stop:
				return
			default:
			}
			s, err := sb.Start(context.Background())
			if err != nil {
				b.failed.Add(1)
				b.lastErr.Store(err.Error())
				return
			}
			registerWait(s)
			err = s.Run(p)
			got := s.Globals().RawGetString("result").String()
			s.Close()
			if err != nil || got != benignWant {
				b.failed.Add(1)
				b.lastErr.Store(got + " / " + errString(err))
				continue
			}
			b.answered.Add(1)
			now := time.Now()
			if gap := int64(now.Sub(last)); gap > b.maxGap.Load() {
				b.maxGap.Store(gap)
			}
			last = now
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return b
}

func (b *benignLoop) finish(t testing.TB, maxGap time.Duration) {
	t.Helper()
	close(b.stop)
	b.wg.Wait()
	t.Logf("concurrent benign session: %d answers, %d failures, longest gap %v", b.answered.Load(), b.failed.Load(), time.Duration(b.maxGap.Load()))
	if b.failed.Load() > 0 {
		t.Errorf("concurrent benign session failed %d times; last: %v", b.failed.Load(), b.lastErr.Load())
	}
	if b.answered.Load() == 0 {
		t.Error("concurrent benign session never answered")
	}
	if gap := time.Duration(b.maxGap.Load()); gap > maxGap {
		t.Errorf("concurrent benign session went %v without answering (max %v)", gap, maxGap)
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// TestHostile runs every script of testdata/hostile with the default
// limits: each must end the way its first line says within 6 s (the issue
// asks for "a few seconds"; the compute limit is 2 s, and on a loaded 2-core
// CI machine unwinding a large table has added 1.3 s); after each, a benign
// script on the same Sandbox gives the right answer; a benign session
// running all along keeps answering.
func TestHostile(t *testing.T) {
	scripts := loadHostile(t)
	sb := newTestSandbox(t, Config{})
	loop := startBenignLoop(t, sb)
	sem := make(chan struct{}, 3)
	t.Run("scripts", func(t *testing.T) {
		for _, hs := range scripts {
			t.Run(strings.TrimSuffix(hs.name, ".lua"), func(t *testing.T) {
				t.Parallel()
				sem <- struct{}{}
				defer func() { <-sem }()
				start := time.Now()
				err := runSource(sb, hs.name, hs.src)
				elapsed := time.Since(start)
				if !checkEnd(hs.expect, err) {
					t.Errorf("want %s, got %T: %v", hs.expect, err, err)
				} else {
					t.Logf("%v: %v", elapsed.Round(time.Millisecond), err)
				}
				if elapsed > 6*time.Second {
					t.Errorf("took %v, more than 6s", elapsed)
				}
				runBenign(t, sb)
			})
		}
	})
	loop.finish(t, 4*time.Second)
}

// vmHWM returns the process's peak resident set size (VmHWM) in bytes.
func vmHWM() (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			var kb int64
			for _, c := range strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")) {
				kb = kb*10 + int64(c-'0')
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no VmHWM in /proc/self/status")
}
