package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzScript runs arbitrary source in a session with tight limits: whatever
// the script does, the process must survive it and Run must return.
func FuzzScript(f *testing.F) {
	files, _ := filepath.Glob("testdata/hostile/*.lua")
	for _, file := range files {
		if src, err := os.ReadFile(file); err == nil {
			f.Add(src)
		}
	}
	f.Add([]byte(benchSrc))
	f.Add([]byte(benignSrc))
	sb, err := New(Config{
		Limits:    Limits{Compute: 50 * time.Millisecond, Memory: 4 << 20, Coroutines: 16},
		HeapLimit: 512 << 20,
		Logger:    quietLogger(),
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { sb.Close() })
	f.Fuzz(func(t *testing.T, src []byte) {
		p, err := Compile("fuzz.lua", src)
		if err != nil {
			return
		}
		s, err := sb.Start(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		done := make(chan struct{})
		go func() {
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				panic("fuzz: Run did not return within 10s")
			}
		}()
		_ = s.Run(p)
		close(done)
	})
}
