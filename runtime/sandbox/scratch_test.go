package sandbox

import (
	"os"
	"testing"
	"time"
	"runtime/pprof"
)

func TestScratch(t *testing.T) {
	sb := newTestSandbox(t, Config{Limits: Limits{Compute: 300 * time.Millisecond}})
	for _, f := range []string{"loop_tailcall", "loop_pcall_recursion"} {
		src, _ := os.ReadFile("testdata/hostile/" + f + ".lua")
		pf, _ := os.Create("/tmp/" + f + ".prof")
		pprof.StartCPUProfile(pf)
		start := time.Now()
		err := runSource(sb, f, src)
		pprof.StopCPUProfile()
		t.Log(f, time.Since(start), err)
	}
}

func TestScratchTrace(t *testing.T) {
	sb := newTestSandbox(t, Config{})
	_, err := runScript(t, sb, "local function g() error('x') end\nlocal function f(n) if n == 0 then return g() end return f(n-1) end\nlocal function h(n) if n == 0 then f(3) end h(n-1) end\nh(30)")
	t.Log(err.(*ScriptError).Msg, "\n", err.(*ScriptError).Traceback)
}
