package sqlite_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorus-dev/chorus/store"
)

func benchSession(i int, at time.Time) store.Session {
	id := fmt.Sprintf("bench-%09d", i)
	return store.Session{
		ID: id, AccountID: 1 + int64(i%4), AppID: 10 + int64(i%8), AppName: fmt.Sprintf("app%d", i%8), Version: 1,
		Network: "web", Caller: "someone", Called: "hello", State: "ended",
		StartedAt: at, EndedAt: at.Add(time.Second), EndReason: "completed",
		Params: map[string]any{"to": "+15550100"},
		Transcript: []store.TranscriptEntry{
			{Dir: "out", Kind: "text", Text: "Hello! What is your name?", At: at},
			{Dir: "in", Kind: "text", Text: "Ann", At: at.Add(300 * time.Millisecond)},
			{Dir: "out", Kind: "text", Text: "Nice to meet you, Ann.", At: at.Add(400 * time.Millisecond)},
		},
	}
}

// BenchmarkSaveSession measures sustained SaveSession+AppendLog pairs per
// second, each pair a new session (an insert) and one log line, until all
// are committed (the Sync is timed).
func BenchmarkSaveSession(b *testing.B) {
	cfg := tempConfig(b)
	s := open(b, cfg)
	at := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		x := benchSession(i, at)
		s.SaveSession(x)
		s.AppendLog(store.LogLine{At: at, AccountID: x.AccountID, App: x.AppName, Session: x.ID, Level: "info", Text: "said hello to Ann"})
	}
	if err := s.Sync(ctxOf(b)); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pairs/s")
	checkAllLogs(b, cfg.Path, b.N)
}

// BenchmarkSaveSessionParallel is the same with producers on every core, the
// shape of many conversations running at once; each session is saved three
// times (start, waiting, ended), coalescing when the writer is behind.
func BenchmarkSaveSessionParallel(b *testing.B) {
	cfg := tempConfig(b)
	s := open(b, cfg)
	at := time.Now()
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := (next.Add(1) - 1) << 32
		for pb.Next() {
			x := benchSession(int(i), at)
			switch i % 3 {
			case 0:
				x.State, x.EndedAt, x.EndReason = "running", time.Time{}, ""
			case 1:
				x.ID = fmt.Sprintf("bench-%09d", i-1)
				x.State, x.EndedAt, x.EndReason = "waiting", time.Time{}, ""
			case 2:
				x.ID = fmt.Sprintf("bench-%09d", i-2)
			}
			s.SaveSession(x)
			s.AppendLog(store.LogLine{At: at, AccountID: x.AccountID, App: x.AppName, Session: x.ID, Level: "info", Text: "said hello to Ann"})
			i++
		}
	})
	if err := s.Sync(ctxOf(b)); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pairs/s")
	checkAllLogs(b, cfg.Path, b.N)
}

// checkAllLogs fails b if log lines were dropped (the rate would lie).
func checkAllLogs(b *testing.B, path string, want int) {
	var n int
	if err := rawDB(b, path).QueryRow(`SELECT count(*) FROM logs`).Scan(&n); err != nil {
		b.Fatal(err)
	}
	if n != want {
		b.Fatalf("%d log lines committed, want %d", n, want)
	}
}

// BenchmarkKVSet measures one synchronous write (a transaction with an
// fsync) as scripts' kv.set does.
func BenchmarkKVSet(b *testing.B) {
	ctx := ctxOf(b)
	s := open(b, tempConfig(b))
	acc, _, err := s.CreateAccount(ctx, "dev", store.RoleDeveloper)
	if err != nil {
		b.Fatal(err)
	}
	app, _, _, err := s.PutVersion(ctx, acc.ID, "a", store.Version{Kind: "script", Files: map[string][]byte{"main.lua": nil}})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.KVSet(ctx, app.ID, fmt.Sprint("k", i%100), "value", 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKVGet measures a read.
func BenchmarkKVGet(b *testing.B) {
	ctx := ctxOf(b)
	s := open(b, tempConfig(b))
	acc, _, err := s.CreateAccount(ctx, "dev", store.RoleDeveloper)
	if err != nil {
		b.Fatal(err)
	}
	app, _, _, err := s.PutVersion(ctx, acc.ID, "a", store.Version{Kind: "script", Files: map[string][]byte{"main.lua": nil}})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.KVSet(ctx, app.ID, "k", "value", 0); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok, err := s.KVGet(ctx, app.ID, "k"); err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	})
}
