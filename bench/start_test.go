package main

import (
	"testing"

	"github.com/chorus-dev/chorus/runtime/sandbox"
)

// BenchmarkSessionStart is figure (c) as a Go benchmark, for profiling:
// go test ./bench -bench SessionStart -cpuprofile cpu.prof
func BenchmarkSessionStart(b *testing.B) {
	sb, err := sandbox.New(sandbox.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer sb.Close()
	for name, src := range map[string]string{"3-line": threeLines, "30-line": menuScript} {
		bare, ours := startRunners(b, sb, src)
		b.Run(name+"/bare", bare)
		b.Run(name+"/session", ours)
	}
}
