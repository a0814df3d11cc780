package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chorus-dev/chorus/runtime/applog"
	"github.com/chorus-dev/chorus/runtime/engine"
	"github.com/chorus-dev/chorus/runtime/sandbox"
	"github.com/chorus-dev/chorus/store"
	"github.com/chorus-dev/chorus/store/sqlite"
)

// logsWeb is a WebChannel that serves nothing.
type logsWeb struct{}

func (logsWeb) HandleMessage(w http.ResponseWriter, _ *http.Request) {
	w.WriteHeader(http.StatusTeapot)
}
func (logsWeb) HandleWS(w http.ResponseWriter, _ *http.Request)   { w.WriteHeader(http.StatusTeapot) }
func (logsWeb) HandlePage(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }

// logsEnv is the API on a real store, hub, engine and sandbox, with two
// developer accounts and an admin.
type logsEnv struct {
	st                  *sqlite.Store
	hub                 *applog.Hub
	h                   http.Handler
	a, b                store.Account
	keyA, keyB, keyRoot string
}

func newLogsEnv(t *testing.T) *logsEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	key, err := store.LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "t.db"), Key: key, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := sandbox.New(sandbox.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	hub := applog.New(st)
	eng, err := engine.New(engine.Config{Store: st, Sandbox: sb, Logs: hub})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Store: st, Engine: eng, Logs: hub, Web: logsWeb{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = eng.Shutdown(ctx)
		_ = sb.Close()
		_ = st.Close()
	})
	e := &logsEnv{st: st, hub: hub, h: srv.Handler()}
	if e.a, e.keyA, err = st.CreateAccount(ctx, "a", store.RoleDeveloper); err != nil {
		t.Fatal(err)
	}
	if e.b, e.keyB, err = st.CreateAccount(ctx, "b", store.RoleDeveloper); err != nil {
		t.Fatal(err)
	}
	if _, e.keyRoot, err = st.CreateAccount(ctx, "root", store.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	return e
}

// write logs n lines of acct's app "app" named prefix-0...; at (when not
// zero) stamps them at+i ms.
func (e *logsEnv) write(acct store.Account, prefix string, n int, at time.Time) {
	for i := 0; i < n; i++ {
		l := store.LogLine{AccountID: acct.ID, App: "app", Session: "s-" + prefix, Level: "info", Text: fmt.Sprintf("%s-%d", prefix, i)}
		if !at.IsZero() {
			l.At = at.Add(time.Duration(i) * time.Millisecond)
		}
		e.hub.Write(l)
	}
}

type sseEvent struct {
	id, event, data string
	line            logJSON
}

// readEvents parses Server-Sent Events from r onto the returned channel
// (unbuffered: the stream is read only as fast as the test takes events)
// and keep-alive comments onto beats; both close when r ends.
func readEvents(t *testing.T, r io.Reader) (events <-chan sseEvent, beats <-chan struct{}) {
	ch := make(chan sseEvent)
	bc := make(chan struct{}, 100)
	go func() {
		defer close(ch)
		defer close(bc)
		sc := bufio.NewScanner(r)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.event != "" || ev.data != "" {
					if err := json.Unmarshal([]byte(ev.data), &ev.line); err != nil {
						t.Errorf("event data %q: %v", ev.data, err)
					}
					ch <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
				select {
				case bc <- struct{}{}:
				default:
				}
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[6:]
			default:
				t.Errorf("unexpected stream line %q", line)
			}
		}
	}()
	return ch, bc
}

// pipeWriter is a streaming ResponseWriter whose writes wait for the test
// to read them: it makes a follower as slow as the test wants.
type pipeWriter struct {
	header http.Header
	status chan int
	w      *io.PipeWriter
}

func (p *pipeWriter) Header() http.Header { return p.header }
func (p *pipeWriter) WriteHeader(code int) {
	select {
	case p.status <- code:
	default:
	}
}
func (p *pipeWriter) Write(b []byte) (int, error) { p.WriteHeader(http.StatusOK); return p.w.Write(b) }
func (p *pipeWriter) Flush()                      {}

// follow runs GET /v1/logs?query in the handler with a slow, pipe-backed
// response; it returns the events as the test reads them.
func (e *logsEnv) follow(t *testing.T, key, query string, hdr http.Header) <-chan sseEvent {
	t.Helper()
	pr, pw := io.Pipe()
	rw := &pipeWriter{header: http.Header{}, status: make(chan int, 1), w: pw}
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/v1/logs?"+query, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	for k, v := range hdr {
		req.Header[k] = v
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.h.ServeHTTP(rw, req)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		pr.CloseWithError(io.ErrClosedPipe) // a handler blocked writing returns
		<-done
	})
	select {
	case code := <-rw.status:
		if code != http.StatusOK {
			t.Fatalf("GET /v1/logs?%s: status %d", query, code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no answer")
	}
	if ct := rw.header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	events, _ := readEvents(t, pr)
	return events
}

// expect takes n events and checks they are want's next n lines: texts in
// order, each with its store ID.
func expect(t *testing.T, events <-chan sseEvent, want []string, ids map[string]int64) {
	t.Helper()
	for i, w := range want {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("stream ended after %d of %d events", i, len(want))
			}
			if ev.event != "log" || ev.line.Text != w {
				t.Fatalf("event %d = %q %q, want %q", i, ev.event, ev.line.Text, w)
			}
			if ids != nil && ev.id != strconv.FormatInt(ids[w], 10) {
				t.Fatalf("event %d (%s) has id %q, want %d", i, w, ev.id, ids[w])
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("got %d of %d events; waiting for %q", i, len(want), w)
		}
	}
}

// expectNone checks that no event comes for a while.
func expectNone(t *testing.T, events <-chan sseEvent) {
	t.Helper()
	select {
	case ev, ok := <-events:
		if ok {
			t.Fatalf("unexpected event %q %s", ev.id, ev.data)
		}
	case <-time.After(300 * time.Millisecond):
	}
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// storedIDs maps each of acct's line texts to its ID.
func (e *logsEnv) storedIDs(t *testing.T, acct store.Account) map[string]int64 {
	t.Helper()
	ids := map[string]int64{}
	var after int64
	for {
		page, err := e.st.ListLogs(context.Background(), store.LogFilter{AccountID: acct.ID, AfterID: after, Since: time.Unix(0, 0)})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range page {
			ids[l.Text] = l.ID
			after = l.ID
		}
		if len(page) == 0 {
			return ids
		}
	}
}

// TestFollowSinceLongBacklog: with since= and more than a page of backlog,
// lines written before, during (stamped earlier than lines already sent)
// and after the backlog each come once, in order, with their IDs; another
// account's lines never do.
func TestFollowSinceLongBacklog(t *testing.T) {
	e := newLogsEnv(t)
	base := time.Now().Add(-time.Hour).UTC()
	e.write(e.a, "too-old", 3, base.Add(-time.Minute))
	for i := 0; i < 5; i++ {
		e.write(e.a, fmt.Sprintf("before%d", i), 500, base.Add(time.Duration(i)*500*time.Millisecond))
		e.write(e.b, fmt.Sprintf("other-before%d", i), 50, base)
	}
	var before []string
	for i := 0; i < 5; i++ {
		before = append(before, names(fmt.Sprintf("before%d", i), 500)...)
	}
	events := e.follow(t, e.keyA, "follow=1&since="+url.QueryEscape(base.Format(time.RFC3339Nano)), nil)
	expect(t, events, before[:1], nil)
	// The handler has read the first page and is sending it.
	e.write(e.a, "during", 50, base.Add(time.Millisecond))
	e.write(e.b, "other-during", 50, time.Time{})
	expect(t, events, append(before[1:], names("during", 50)...), nil)
	e.write(e.b, "other-after", 20, time.Time{})
	e.write(e.a, "after", 20, time.Time{})
	expect(t, events, names("after", 20), nil)
	expectNone(t, events)

	// Every line once, with its ID: check again against the store.
	ids := e.storedIDs(t, e.a)
	events = e.follow(t, e.keyA, "follow=1&since="+url.QueryEscape(base.Format(time.RFC3339Nano)), nil)
	all := append(append(before, names("during", 50)...), names("after", 20)...)
	expect(t, events, all, ids)
	expectNone(t, events)
}

// TestFollowSlowFollower: lines written while the follower is not reading
// are all sent, in order, when it reads again.
func TestFollowSlowFollower(t *testing.T) {
	e := newLogsEnv(t)
	events := e.follow(t, e.keyA, "follow=1&app=app", nil)
	e.write(e.a, "first", 1, time.Time{})
	expect(t, events, []string{"first-0"}, nil)
	// Not reading now: the handler blocks on its first write.
	e.write(e.a, "burst", 3000, time.Time{})
	e.write(e.b, "other", 100, time.Time{})
	expect(t, events, names("burst", 3000), e.storedIDs(t, e.a))
	expectNone(t, events)
}

// TestFollowTail: without since, the newest limit lines, then new ones; the
// account filter holds, the admin sees every account.
func TestFollowTail(t *testing.T) {
	e := newLogsEnv(t)
	e.write(e.a, "old", 10, time.Time{})
	e.write(e.b, "other", 3, time.Time{})
	events := e.follow(t, e.keyA, "follow=1&limit=4", nil)
	expect(t, events, names("old", 10)[6:], nil)
	e.write(e.b, "other-new", 3, time.Time{})
	e.write(e.a, "new", 3, time.Time{})
	expect(t, events, names("new", 3), nil)
	expectNone(t, events)

	root := e.follow(t, e.keyRoot, "follow=1&limit=2", nil)
	expect(t, root, []string{"new-1", "new-2"}, nil)
	e.write(e.b, "late-b", 1, time.Time{})
	e.write(e.a, "late-a", 1, time.Time{})
	expect(t, root, []string{"late-b-0", "late-a-0"}, nil)

	// No matching line yet: everything from the first one on.
	empty := e.follow(t, e.keyA, "follow=1&app=later", nil)
	for i := 0; i < 3; i++ {
		e.hub.Write(store.LogLine{AccountID: e.a.ID, App: "later", Text: fmt.Sprint("later-", i)})
	}
	expect(t, empty, names("later", 3), nil)
}

// TestFollowResume: a client that reconnects with Last-Event-ID gets the
// lines after that one, nothing twice.
func TestFollowResume(t *testing.T) {
	e := newLogsEnv(t)
	e.write(e.a, "x", 5, time.Time{})
	ids := e.storedIDs(t, e.a)
	e.write(e.a, "y", 5, time.Time{})
	e.write(e.b, "other", 5, time.Time{})
	hdr := http.Header{"Last-Event-Id": {strconv.FormatInt(ids["x-2"], 10)}}
	events := e.follow(t, e.keyA, "follow=1&limit=1", hdr)
	expect(t, events, append(names("x", 5)[3:], names("y", 5)...), e.storedIDs(t, e.a))
	expectNone(t, events)
}

// TestFollowHTTP: over a real connection the stream is SSE with id, event
// and data lines, data being the LogLine JSON, and a keep-alive comment
// comes when nothing happens.
func TestFollowHTTP(t *testing.T) {
	e := newLogsEnv(t)
	defer func(d time.Duration) { heartbeat = d }(heartbeat)
	heartbeat = 100 * time.Millisecond
	ts := httptest.NewServer(e.h)
	defer ts.Close()
	e.write(e.a, "x", 2, time.Time{})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/v1/logs?follow=1", nil)
	req.Header.Set("Authorization", "Bearer "+e.keyA)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events, beats := readEvents(t, resp.Body)
	e.write(e.a, "y", 1, time.Time{})
	ids := e.storedIDs(t, e.a)
	expect(t, events, []string{"x-0", "x-1", "y-0"}, ids)
	select {
	case <-beats:
	case <-time.After(5 * time.Second):
		t.Fatal("no keep-alive comment")
	}

	// The JSON of a line: exactly the documented fields.
	e.hub.Write(store.LogLine{AccountID: e.a.ID, App: "app", Session: "s1", Level: "warn", Text: "z"})
	ev := <-events
	var fields map[string]any
	if err := json.Unmarshal([]byte(ev.data), &fields); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"app", "at", "level", "session", "text"}) || fields["level"] != "warn" || fields["session"] != "s1" {
		t.Fatalf("data %s", ev.data)
	}
	if _, err := time.Parse(time.RFC3339Nano, ev.line.At); err != nil {
		t.Fatalf("at %q: %v", ev.line.At, err)
	}

	// Without follow: a JSON array, still one account's lines.
	req2, _ := http.NewRequest(http.MethodGet, ts.URL+"/v1/logs", nil)
	req2.Header.Set("Authorization", "Bearer "+e.keyB)
	e.write(e.b, "b", 1, time.Time{})
	resp2, err := http.DefaultClient.Do(req2)
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	var list []logJSON
	if err := json.NewDecoder(resp2.Body).Decode(&list); err != nil || len(list) != 1 || list[0].Text != "b-0" {
		t.Fatalf("list = %+v, %v", list, err)
	}
}
