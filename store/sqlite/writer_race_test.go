package sqlite_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chorus-dev/chorus/store"
)

// TestConcurrentSaveAndSync hammers SaveSession, AppendLog and Sync from
// several goroutines while the writer flushes every millisecond, so that
// many flushes find the queue empty while saves come in. Run with -race: the
// writer must never read the queue's live session map outside the lock.
func TestConcurrentSaveAndSync(t *testing.T) {
	ctx := ctxOf(t)
	cfg := tempConfig(t)
	cfg.FlushInterval = time.Millisecond
	s := open(t, cfg)
	const workers, each = 4, 300
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				id := fmt.Sprintf("w%d-%d", w, i%20)
				s.SaveSession(store.Session{ID: id, AppName: "a", State: "running", StartedAt: time.Now()})
				if i%3 == 0 {
					s.AppendLog(store.LogLine{App: "a", Session: id, Text: "x"})
				}
				if i%5 == 0 {
					if err := s.Sync(ctx); err != nil {
						t.Error(err)
						return
					}
				}
				if i%7 == 0 {
					time.Sleep(50 * time.Microsecond) // let the writer find an empty queue
				}
			}
		}()
	}
	wg.Wait()
	noErr(t, s.Sync(ctx))
	got, err := s.ListSessions(ctx, store.SessionFilter{App: "a", Limit: 1000})
	noErr(t, err)
	if len(got) != workers*20 {
		t.Fatalf("%d sessions saved, want %d", len(got), workers*20)
	}
	logs, err := s.ListLogs(ctx, store.LogFilter{App: "a", Limit: 10000})
	noErr(t, err)
	if want := workers * ((each + 2) / 3); len(logs) != want {
		t.Fatalf("%d log lines saved, want %d", len(logs), want)
	}
}
