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
	bare, ours := startRunners(b, sb)
	b.Run("bare", bare)
	b.Run("session", ours)
}
