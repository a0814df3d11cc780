package sqlite_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chorus-dev/chorus/store"
	"github.com/chorus-dev/chorus/store/sqlite"
	"github.com/chorus-dev/chorus/store/storetest"
)

func newKey(t testing.TB) []byte {
	k := make([]byte, store.KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func ctxOf(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func testLogger(t testing.TB) (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// open opens a store and closes it when the test ends.
func open(t testing.TB, cfg sqlite.Config) *sqlite.Store {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger, _ = testLogger(t)
	}
	s, err := sqlite.Open(ctxOf(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func tempConfig(t testing.TB) sqlite.Config {
	return sqlite.Config{Path: filepath.Join(t.TempDir(), "chorus.db"), Key: newKey(t)}
}

func noErr(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, tempConfig(t))
	})
}

func TestReopen(t *testing.T) {
	ctx := ctxOf(t)
	cfg := tempConfig(t)
	s, err := sqlite.Open(ctx, cfg)
	noErr(t, err)
	acc, key, err := s.CreateAccount(ctx, "dev", store.RoleDeveloper)
	noErr(t, err)
	app, _, _, err := s.PutVersion(ctx, acc.ID, "hello", store.Version{Kind: "script", Files: map[string][]byte{"main.lua": []byte("-- hi")}})
	noErr(t, err)
	_, err = s.AddAddress(ctx, store.AddressRecord{Network: "xmpp", Address: "bot@example.com", AccountID: acc.ID, AppID: app.ID, Credentials: []byte(`{"password":"pw"}`)})
	noErr(t, err)
	noErr(t, s.MergeConfig(ctx, app.ID, map[string]string{"TOKEN": "t"}))
	noErr(t, s.KVSet(ctx, app.ID, "k", "v", time.Hour))
	s.SaveSession(store.Session{ID: "s1", AccountID: acc.ID, AppID: app.ID, AppName: "hello", State: "ended", StartedAt: time.Now(), EndedAt: time.Now(), EndReason: "completed"})
	s.AppendLog(store.LogLine{AccountID: acc.ID, App: "hello", Session: "s1", Text: "line"})
	noErr(t, s.Close()) // flushes the queue: no Sync

	s = open(t, cfg)
	if got, err := s.AccountByKey(ctx, key); err != nil || got.ID != acc.ID {
		t.Fatalf("AccountByKey after reopen = %+v, %v", got, err)
	}
	if v, err := s.Version(ctx, app.ID, 1); err != nil || string(v.Files["main.lua"]) != "-- hi" {
		t.Fatalf("Version after reopen = %+v, %v", v, err)
	}
	if a, err := s.Address(ctx, "xmpp", "bot@example.com"); err != nil || string(a.Credentials) != `{"password":"pw"}` {
		t.Fatalf("Address after reopen = %+v, %v", a, err)
	}
	if c, err := s.Config(ctx, app.ID); err != nil || c["TOKEN"] != "t" {
		t.Fatalf("Config after reopen = %v, %v", c, err)
	}
	if v, ok, err := s.KVGet(ctx, app.ID, "k"); err != nil || !ok || v != "v" {
		t.Fatalf("KVGet after reopen = %q %v %v", v, ok, err)
	}
	if x, err := s.Session(ctx, "s1"); err != nil || x.EndReason != "completed" {
		t.Fatalf("Session after reopen = %+v, %v", x, err)
	}
	if l, err := s.ListLogs(ctx, store.LogFilter{Session: "s1"}); err != nil || len(l) != 1 {
		t.Fatalf("ListLogs after reopen = %+v, %v", l, err)
	}
}

// TestCrash: a store that is never closed (the process died) has committed
// what Sync waited for, and the next start sees it and ends live sessions.
func TestCrash(t *testing.T) {
	ctx := ctxOf(t)
	cfg := tempConfig(t)
	crashed, err := sqlite.Open(ctx, cfg)
	noErr(t, err)
	crashed.SaveSession(store.Session{ID: "live", AccountID: 1, AppID: 1, AppName: "hello", State: "waiting", StartedAt: time.Now()})
	crashed.SaveSession(store.Session{ID: "over", AccountID: 1, AppID: 1, AppName: "hello", State: "ended", StartedAt: time.Now(), EndedAt: time.Now(), EndReason: "hangup"})
	crashed.AppendLog(store.LogLine{AccountID: 1, App: "hello", Session: "live", Text: "before the crash"})
	noErr(t, crashed.Sync(ctx))

	next := open(t, cfg) // while the first one still holds the file
	n, err := next.MarkInterrupted(ctx)
	noErr(t, err)
	if n != 1 {
		t.Fatalf("MarkInterrupted = %d, want 1", n)
	}
	if x, err := next.Session(ctx, "live"); err != nil || x.State != "ended" || x.EndReason != "server_restart" {
		t.Fatalf("live session after restart = %+v, %v", x, err)
	}
	if x, err := next.Session(ctx, "over"); err != nil || x.EndReason != "hangup" {
		t.Fatalf("ended session after restart = %+v, %v", x, err)
	}
	if l, err := next.ListLogs(ctx, store.LogFilter{Session: "live"}); err != nil || len(l) != 1 || l[0].Text != "before the crash" {
		t.Fatalf("logs after restart = %+v, %v", l, err)
	}
	noErr(t, crashed.Close()) // only to stop its goroutine
}

// TestDurableWithoutSync: a saved session reaches the file within the flush
// interval, without Sync or Close.
func TestDurableWithoutSync(t *testing.T) {
	cfg := tempConfig(t)
	s := open(t, cfg)
	start := time.Now()
	s.SaveSession(store.Session{ID: "s", AppName: "a", State: "ended", StartedAt: start, EndedAt: start, EndReason: "completed"})
	s.AppendLog(store.LogLine{App: "a", Text: "x"})
	raw := rawDB(t, cfg.Path)
	for {
		var n int
		noErr(t, raw.QueryRow(`SELECT (SELECT count(*) FROM sessions) + (SELECT count(*) FROM logs)`).Scan(&n))
		if n == 2 {
			break
		}
		if time.Since(start) > time.Second {
			t.Fatal("session not committed within 1s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("committed after %v", time.Since(start))
}

// TestReadsSeeQueuedWrites: reads of sessions and logs wait for what was
// queued before them, long before the flush tick.
func TestReadsSeeQueuedWrites(t *testing.T) {
	ctx := ctxOf(t)
	cfg := tempConfig(t)
	cfg.FlushInterval = time.Second
	s := open(t, cfg)
	start := time.Now()
	s.SaveSession(store.Session{ID: "s", AppName: "a", State: "running", StartedAt: start})
	if _, err := s.Session(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	s.AppendLog(store.LogLine{App: "a", Text: "x"})
	if l, err := s.ListLogs(ctx, store.LogFilter{App: "a"}); err != nil || len(l) != 1 {
		t.Fatalf("ListLogs = %v, %v", l, err)
	}
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Fatalf("reads waited %v for the flush tick", d)
	}
}

func rawDB(t testing.TB, path string) *sql.DB {
	db, err := sql.Open("sqlite", path+"?_busy_timeout=5000")
	noErr(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestSecretsNotInPlaintext(t *testing.T) {
	ctx := ctxOf(t)
	cfg := tempConfig(t)
	s, err := sqlite.Open(ctx, cfg)
	noErr(t, err)
	const credSecret, configSecret = "xmpp-pa55w0rd-7f3a9c", "api-token-91be4d22"
	acc, _, err := s.CreateAccount(ctx, "dev", store.RoleDeveloper)
	noErr(t, err)
	app, _, _, err := s.PutVersion(ctx, acc.ID, "bot", store.Version{Kind: "script", Files: map[string][]byte{"main.lua": []byte("--")}})
	noErr(t, err)
	_, err = s.AddAddress(ctx, store.AddressRecord{Network: "xmpp", Address: "bot@example.com", AccountID: acc.ID, AppID: app.ID,
		Credentials: []byte(`{"password":"` + credSecret + `"}`)})
	noErr(t, err)
	noErr(t, s.MergeConfig(ctx, app.ID, map[string]string{"TOKEN": configSecret}))

	// The columns hold sealed bytes.
	raw := rawDB(t, cfg.Path)
	var creds, value []byte
	noErr(t, raw.QueryRow(`SELECT credentials FROM addresses`).Scan(&creds))
	noErr(t, raw.QueryRow(`SELECT value FROM app_config`).Scan(&value))
	if bytes.Contains(creds, []byte(credSecret)) || bytes.Contains(creds, []byte("password")) || len(creds) < len(credSecret) {
		t.Fatalf("credentials column holds %q", creds)
	}
	if bytes.Contains(value, []byte(configSecret)) {
		t.Fatalf("config column holds %q", value)
	}
	raw.Close()

	// And so do the files, WAL included (read both before and after Close).
	check := func(when string) {
		files, _ := filepath.Glob(cfg.Path + "*")
		if len(files) == 0 {
			t.Fatal("no database files")
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			noErr(t, err)
			for _, secret := range []string{credSecret, configSecret} {
				if bytes.Contains(b, []byte(secret)) {
					t.Fatalf("%s: %s holds the secret %q in plaintext", when, filepath.Base(f), secret)
				}
			}
		}
	}
	check("open")
	noErr(t, s.Close())
	check("closed")
}

func TestWrongKey(t *testing.T) {
	ctx := ctxOf(t)
	cfg := tempConfig(t)
	s, err := sqlite.Open(ctx, cfg)
	noErr(t, err)
	acc, _, err := s.CreateAccount(ctx, "dev", store.RoleDeveloper)
	noErr(t, err)
	app, _, _, err := s.PutVersion(ctx, acc.ID, "bot", store.Version{Kind: "script", Files: map[string][]byte{"main.lua": []byte("--")}})
	noErr(t, err)
	_, err = s.AddAddress(ctx, store.AddressRecord{Network: "xmpp", Address: "bot@example.com", AccountID: acc.ID, AppID: app.ID, Credentials: []byte(`{"password":"pw"}`)})
	noErr(t, err)
	_, err = s.AddAddress(ctx, store.AddressRecord{Network: "web", Address: "bot", AccountID: acc.ID, AppID: app.ID})
	noErr(t, err)
	noErr(t, s.MergeConfig(ctx, app.ID, map[string]string{"TOKEN": "t"}))
	noErr(t, s.Close())

	cfg.Key = newKey(t)
	var logs *syncBuffer
	cfg.Logger, logs = testLogger(t)
	s = open(t, cfg)
	if !strings.Contains(logs.String(), "secret.key") {
		t.Errorf("Open with another key did not warn; log:\n%s", logs)
	}
	_, err = s.Address(ctx, "xmpp", "bot@example.com")
	if !errors.Is(err, store.ErrDecrypt) || !strings.Contains(err.Error(), "restore the original secret.key") {
		t.Fatalf("Address with the wrong key: %v", err)
	}
	t.Logf("the error: %v", err)
	if _, err := s.ListAddresses(ctx, 0); !errors.Is(err, store.ErrDecrypt) {
		t.Fatalf("ListAddresses with the wrong key: %v", err)
	}
	_, err = s.Config(ctx, app.ID)
	if !errors.Is(err, store.ErrDecrypt) || !strings.Contains(err.Error(), "secret.key") {
		t.Fatalf("Config with the wrong key: %v", err)
	}
	// What needs no secret still works.
	if a, err := s.Address(ctx, "web", "bot"); err != nil || a.AppName != "bot" {
		t.Fatalf("Address without credentials = %+v, %v", a, err)
	}
	// Setting the value again repairs it.
	noErr(t, s.MergeConfig(ctx, app.ID, map[string]string{"TOKEN": "t2"}))
	if c, err := s.Config(ctx, app.ID); err != nil || c["TOKEN"] != "t2" {
		t.Fatalf("Config after setting again = %v, %v", c, err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := ctxOf(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		cfg  sqlite.Config
		want string
	}{
		{"no path", sqlite.Config{Key: newKey(t)}, "no database path"},
		{"short key", sqlite.Config{Path: filepath.Join(dir, "a.db"), Key: []byte("short")}, "credentials key is 5 bytes"},
		{"missing dir", sqlite.Config{Path: filepath.Join(dir, "missing", "a.db"), Key: newKey(t)}, filepath.Join(dir, "missing", "a.db")},
		{"memory", sqlite.Config{Path: ":memory:", Key: newKey(t)}, "plain file path"},
		{"query", sqlite.Config{Path: filepath.Join(dir, "a.db?mode=ro"), Key: newKey(t)}, "plain file path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := sqlite.Open(ctx, tc.cfg)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open: %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestKVCleanup(t *testing.T) {
	ctx := ctxOf(t)
	cfg := tempConfig(t)
	cfg.CleanupInterval = 20 * time.Millisecond
	s := open(t, cfg)
	acc, _, err := s.CreateAccount(ctx, "dev", store.RoleDeveloper)
	noErr(t, err)
	app, _, _, err := s.PutVersion(ctx, acc.ID, "a", store.Version{Kind: "script", Files: map[string][]byte{"main.lua": nil}})
	noErr(t, err)
	for i := 0; i < 50; i++ {
		noErr(t, s.KVSet(ctx, app.ID, fmt.Sprint("tmp", i), "x", time.Millisecond))
	}
	noErr(t, s.KVSet(ctx, app.ID, "keep", "x", 0))
	raw := rawDB(t, cfg.Path)
	deadline := time.Now().Add(3 * time.Second)
	for {
		var n int
		noErr(t, raw.QueryRow(`SELECT count(*) FROM kv`).Scan(&n))
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d kv rows left, want 1", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLogBackpressure: with the writer stuck (another process holds the
// write lock), AppendLog waits a little once the queue is full, then drops
// and counts; nothing blocks for long, and what was kept is written once the
// lock is released.
func TestLogBackpressure(t *testing.T) {
	ctx := ctxOf(t)
	cfg := tempConfig(t)
	cfg.MaxPending = 10
	cfg.FlushInterval = 10 * time.Millisecond
	var logs *syncBuffer
	cfg.Logger, logs = testLogger(t)
	s := open(t, cfg)

	raw := rawDB(t, cfg.Path)
	conn, err := raw.Conn(ctx)
	noErr(t, err)
	_, err = conn.ExecContext(ctx, `BEGIN IMMEDIATE`)
	noErr(t, err)

	s.AppendLog(store.LogLine{App: "a", Text: "first"})
	time.Sleep(50 * time.Millisecond) // the writer takes it and waits for the lock
	start := time.Now()
	for i := 0; i < 12; i++ {
		s.AppendLog(store.LogLine{App: "a", Text: fmt.Sprint(i)})
	}
	took := time.Since(start)
	if took > 2*time.Second {
		t.Fatalf("AppendLog blocked %v", took)
	}
	if took < 200*time.Millisecond {
		t.Fatalf("AppendLog did not wait for room (%v)", took)
	}
	_, err = conn.ExecContext(ctx, `ROLLBACK`)
	noErr(t, err)
	conn.Close()

	noErr(t, s.Sync(ctx))
	got, err := s.ListLogs(ctx, store.LogFilter{App: "a"})
	noErr(t, err)
	if len(got) != 11 { // first, then 10 of 12
		t.Fatalf("%d lines kept, want 11: %+v", len(got), got)
	}
	time.Sleep(3 * cfg.FlushInterval)
	if !strings.Contains(logs.String(), "log lines dropped") || !strings.Contains(logs.String(), "count=2") {
		t.Fatalf("drops not reported; log:\n%s", logs)
	}
}

func TestCloseTwiceAndAfterClose(t *testing.T) {
	ctx := ctxOf(t)
	cfg := tempConfig(t)
	s, err := sqlite.Open(ctx, cfg)
	noErr(t, err)
	s.SaveSession(store.Session{ID: "a", State: "running"})
	noErr(t, s.Close())
	noErr(t, s.Close())
	s.SaveSession(store.Session{ID: "b", State: "running"}) // dropped, no panic
	s.AppendLog(store.LogLine{Text: "late"})
	noErr(t, s.Sync(ctx)) // nothing it could wait for
}

func TestSyncContext(t *testing.T) {
	cfg := tempConfig(t)
	s := open(t, cfg)
	raw := rawDB(t, cfg.Path)
	conn, err := raw.Conn(context.Background())
	noErr(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(context.Background(), `BEGIN IMMEDIATE`)
	noErr(t, err)
	s.SaveSession(store.Session{ID: "a", State: "running"})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Sync(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Sync while the writer is blocked = %v, want deadline exceeded", err)
	}
	_, err = conn.ExecContext(context.Background(), `ROLLBACK`)
	noErr(t, err)
	noErr(t, s.Sync(ctxOf(t)))
}

func Example() {
	dir, _ := os.MkdirTemp("", "chorus-example")
	defer os.RemoveAll(dir)
	key, err := store.LoadOrCreateKey(dir)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "chorus.db"), Key: key})
	if err != nil {
		panic(err)
	}
	defer st.Close()

	acc, _, _ := st.CreateAccount(ctx, "dev", store.RoleDeveloper)
	app, ver, created, _ := st.PutVersion(ctx, acc.ID, "hello",
		store.Version{Kind: "script", Files: map[string][]byte{"main.lua": []byte(`say("hi")`)}})
	fmt.Println(app.Name, ver.Version, created)

	st.SaveSession(store.Session{ID: "s1", AccountID: acc.ID, AppID: app.ID, AppName: "hello", State: "running", StartedAt: time.Now()})
	n, _ := st.MarkInterrupted(ctx) // as a restart would
	s, _ := st.Session(ctx, "s1")
	fmt.Println(n, s.State, s.EndReason)
	// Output:
	// hello 1 true
	// 1 ended server_restart
}

func TestFileModeAndNewerSchema(t *testing.T) {
	ctx := ctxOf(t)
	cfg := tempConfig(t)
	s, err := sqlite.Open(ctx, cfg)
	noErr(t, err)
	s.SaveSession(store.Session{ID: "a", State: "running"})
	noErr(t, s.Sync(ctx))
	files, _ := filepath.Glob(cfg.Path + "*")
	for _, f := range files {
		fi, err := os.Stat(f)
		noErr(t, err)
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v, want it private", filepath.Base(f), fi.Mode().Perm())
		}
	}
	noErr(t, s.Close())

	raw := rawDB(t, cfg.Path)
	_, err = raw.Exec(`INSERT INTO goose_db_version(version_id, is_applied) VALUES (99999, 1)`)
	noErr(t, err)
	raw.Close()
	if s, err := sqlite.Open(ctx, cfg); err == nil || !strings.Contains(err.Error(), "newer") {
		if err == nil {
			s.Close()
		}
		t.Fatalf("Open of a newer schema = %v", err)
	}
}

// TestNoGoroutineLeft: Close stops everything Open started.
func TestNoGoroutineLeft(t *testing.T) {
	before := runtime.NumGoroutine()
	s, err := sqlite.Open(ctxOf(t), tempConfig(t))
	noErr(t, err)
	s.AppendLog(store.LogLine{Text: "x"})
	noErr(t, s.Close())
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines before Open, %d after Close:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLogRetention(t *testing.T) {
	ctx := ctxOf(t)
	cfg := tempConfig(t)
	cfg.CleanupInterval = 20 * time.Millisecond
	cfg.LogRetention = time.Hour
	s := open(t, cfg)
	for i := 0; i < 1500; i++ {
		s.AppendLog(store.LogLine{At: time.Now().Add(-2 * time.Hour), App: "a", Text: "old"})
	}
	s.AppendLog(store.LogLine{App: "a", Text: "new"})
	noErr(t, s.Sync(ctx))
	deadline := time.Now().Add(3 * time.Second)
	for {
		l, err := s.ListLogs(ctx, store.LogFilter{App: "a", Limit: 5000})
		noErr(t, err)
		if len(l) == 1 && l[0].Text == "new" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d lines left, want only the new one", len(l))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
