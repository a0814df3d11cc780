package xmpp_test

import (
	"fmt"
	"os"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the run when a goroutine of the channel (a runner, a
// relay, a login) outlives the tests: every one has an owner that stops it.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaks := leaked(5 * time.Second); leaks != "" {
			fmt.Fprintf(os.Stderr, "goroutines of channels/xmpp still running after the tests:\n%s\n", leaks)
			code = 1
		}
	}
	os.Exit(code)
}

var ours = regexp.MustCompile(`chorus/channels/(xmpp|thread)\.`)

func leaked(wait time.Duration) string {
	deadline := time.Now().Add(wait)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var found []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if ours.MatchString(g) && !strings.Contains(g, "TestMain") {
				found = append(found, g)
			}
		}
		if len(found) == 0 || time.Now().After(deadline) {
			return strings.Join(found, "\n\n")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
