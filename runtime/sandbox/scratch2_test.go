package sandbox

import (
	"os"
	"testing"
)

func TestScratchRec(t *testing.T) {
	sb := newTestSandbox(t, Config{})
	for _, f := range []string{"recursion_deep", "recursion_index", "recursion_tostring", "loop_pcall_recursion"} {
		src, _ := os.ReadFile("testdata/hostile/" + f + ".lua")
		t.Log(f, runSource(sb, f, src))
	}
}
