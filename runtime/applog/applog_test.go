package applog

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
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

// TestNotify: a follower is woken after each matching line, which the store
// then returns; signals coalesce and never block writers.
func TestNotify(t *testing.T) {
	dir := t.TempDir()
	key, _ := store.LoadOrCreateKey(dir)
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(dir, "l.db"), Key: key, Logger: slog.New(slog.DiscardHandler), FlushInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h := New(st)
	wake, stop := h.Notify(store.LogFilter{AccountID: 7, App: "a"})
	h.Write(store.LogLine{AccountID: 8, App: "a", Text: "other account"})
	h.Write(store.LogLine{AccountID: 7, App: "b", Text: "other app"})
	select {
	case <-wake:
		t.Fatal("woken by a line that does not match")
	default:
	}
	for i := 0; i < 1000; i++ { // coalesced, never blocking
		h.Write(store.LogLine{AccountID: 7, App: "a", Text: fmt.Sprint(i)})
	}
	select {
	case <-wake:
	default:
		t.Fatal("not woken")
	}
	// The lines are in the store at once (long before the flush tick).
	lines, err := st.ListLogs(context.Background(), store.LogFilter{AccountID: 7, App: "a", Since: time.Unix(0, 0), Limit: 2000})
	if err != nil || len(lines) != 1000 || lines[999].Text != "999" {
		t.Fatalf("stored %d lines, %v", len(lines), err)
	}
	stop()
	h.Write(store.LogLine{AccountID: 7, App: "a", Text: "after stop"})
	select {
	case <-wake:
		t.Fatal("woken after cancel")
	default:
	}
}

// TestSubscribeDroppedNotice: a subscriber that fell behind is told how
// many lines it lost once it has room again, then gets new lines.
func TestSubscribeDroppedNotice(t *testing.T) {
	dir := t.TempDir()
	key, _ := store.LoadOrCreateKey(dir)
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(dir, "l.db"), Key: key, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h := New(st)
	sub, stop := h.Subscribe(store.LogFilter{})
	defer stop()
	n := cap(sub.C)
	for i := 0; i < n+10; i++ {
		h.Write(store.LogLine{App: "a", Text: fmt.Sprint(i)})
	}
	for i := 0; i < n; i++ {
		if l := <-sub.C; l.Text != fmt.Sprint(i) {
			t.Fatalf("line %d = %q", i, l.Text)
		}
	}
	h.Write(store.LogLine{App: "a", Text: "next"})
	if l := <-sub.C; l.Level != "warn" || !strings.Contains(l.Text, "10 log lines dropped") {
		t.Fatalf("notice = %+v", l)
	}
	if l := <-sub.C; l.Text != "next" {
		t.Fatalf("after the notice: %+v", l)
	}
	select {
	case l := <-sub.C:
		t.Fatalf("a second notice or line: %+v", l)
	default:
	}
}
