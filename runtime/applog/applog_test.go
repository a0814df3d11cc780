package applog

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/chorus-dev/chorus/store"
	"github.com/chorus-dev/chorus/store/sqlite"
)

func TestWriteStoresAndFollows(t *testing.T) {
	dir := t.TempDir()
	key, _ := store.LoadOrCreateKey(dir)
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(dir, "l.db"), Key: key, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h := New(st)
	mine, stop := h.Subscribe(store.LogFilter{App: "a"})
	defer stop()
	h.Write(store.LogLine{App: "b", Text: "not for me"})
	h.Write(store.LogLine{App: "a", Session: "s1", Text: "hello"})
	select {
	case l := <-mine.C:
		if l.Text != "hello" || l.At.IsZero() {
			t.Fatalf("followed %+v", l)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("follower got nothing")
	}
	select {
	case l := <-mine.C:
		t.Fatalf("follower got another app's line %+v", l)
	default:
	}
	lines, err := st.ListLogs(context.Background(), store.LogFilter{App: "a"})
	if err != nil || len(lines) != 1 || lines[0].Session != "s1" {
		t.Fatalf("stored %v %v", lines, err)
	}
	// A follower that does not read never blocks writers.
	slow, stopSlow := h.Subscribe(store.LogFilter{})
	defer stopSlow()
	done := make(chan struct{})
	go func() {
		for i := 0; i < 1000; i++ {
			h.Write(store.LogLine{App: "a", Text: "x"})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a slow follower blocked writers")
	}
	if len(slow.C) != cap(slow.C) {
		t.Fatalf("slow follower buffer %d/%d", len(slow.C), cap(slow.C))
	}
}
