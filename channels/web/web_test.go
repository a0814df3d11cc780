package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/chorus-dev/chorus/channels"
)

var ids atomic.Int64

func newID() string { return fmt.Sprint("s", ids.Add(1)) }

// zipApp asks for a ZIP until it gets five digits, then answers and ends.
func zipApp(c channels.Conversation) {
	ctx := context.Background()
	text := c.Info().InitialText
	for len(text) != 5 {
		_ = c.Send(ctx, "Which ZIP code?")
		m, err := c.Receive(ctx, 5*time.Second)
		if err != nil {
			return
		}
		text = m.Text
	}
	_ = c.Send(ctx, "Forecast for "+text)
	_ = c.Send(ctx, "Bye")
}

func newServer(t *testing.T, h channels.HandlerFunc, cfg Config) (*Channel, *httptest.Server) {
	t.Helper()
	cfg.Handler = h
	cfg.NewID = newID
	cfg.Resolve = func(_ context.Context, a string) (bool, error) { return a == "weather", nil }
	ch, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/web/{address}/messages", ch.HandleMessage)
	mux.HandleFunc("GET /v1/web/{address}/ws", ch.HandleWS)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := ch.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return ch, srv
}

func post(t *testing.T, srv *httptest.Server, address, from, text string) (int, TurnResponse, http.Header) {
	t.Helper()
	b, _ := json.Marshal(TurnRequest{From: from, Text: text})
	resp, err := http.Post(srv.URL+"/v1/web/"+address+"/messages", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr TurnResponse
	_ = json.NewDecoder(resp.Body).Decode(&tr)
	return resp.StatusCode, tr, resp.Header
}

func texts(tr TurnResponse) string {
	var s []string
	for _, r := range tr.Replies {
		s = append(s, r.Text)
	}
	return strings.Join(s, "|")
}

func TestTurns(t *testing.T) {
	_, srv := newServer(t, zipApp, Config{})
	code, tr, _ := post(t, srv, "weather", "alice", "hi")
	if code != 200 || tr.State != "waiting" || texts(tr) != "Which ZIP code?" || tr.Session == "" {
		t.Fatalf("first turn: %d %+v", code, tr)
	}
	first := tr.Session
	code, tr, _ = post(t, srv, "weather", "alice", "32801")
	if code != 200 || tr.State != "ended" || texts(tr) != "Forecast for 32801|Bye" || tr.Session != first {
		t.Fatalf("second turn: %d %+v", code, tr)
	}
	code, tr, _ = post(t, srv, "weather", "alice", "32801")
	if code != 200 || tr.State != "ended" || tr.Session == first || texts(tr) != "Forecast for 32801|Bye" {
		t.Fatalf("after the end a new session should start: %d %+v", code, tr)
	}
}

func TestEndedWithoutReplies(t *testing.T) {
	_, srv := newServer(t, func(channels.Conversation) {}, Config{})
	code, tr, _ := post(t, srv, "weather", "bob", "x")
	if code != 200 || tr.State != "ended" || tr.Replies == nil || len(tr.Replies) != 0 {
		t.Fatalf("%d %+v", code, tr)
	}
}

func TestTurnTimeoutThenLateReplies(t *testing.T) {
	release, sent := make(chan struct{}), make(chan struct{})
	slow := func(c channels.Conversation) {
		<-release
		_ = c.Send(context.Background(), "late")
		close(sent)
		_, _ = c.Receive(context.Background(), 5*time.Second)
	}
	_, srv := newServer(t, slow, Config{TurnTimeout: 50 * time.Millisecond})
	_, tr, _ := post(t, srv, "weather", "carol", "go")
	if tr.State != "running" || len(tr.Replies) != 0 {
		t.Fatalf("turn bound: %+v", tr)
	}
	close(release) // the app answers after the response went out
	<-sent
	_, tr, _ = post(t, srv, "weather", "carol", "more")
	if !strings.HasPrefix(texts(tr), "late") {
		t.Fatalf("late output not delivered with the next response: %+v", tr)
	}
}

func TestBadInput(t *testing.T) {
	_, srv := newServer(t, zipApp, Config{})
	if code, _, _ := post(t, srv, "nobody", "alice", "hi"); code != 404 {
		t.Fatalf("unknown address: %d", code)
	}
	if code, _, _ := post(t, srv, "weather", "", "hi"); code != 400 {
		t.Fatalf("missing from: %d", code)
	}
	resp, _ := http.Post(srv.URL+"/v1/web/weather/messages", "application/json", strings.NewReader("{not json"))
	if resp.StatusCode != 400 {
		t.Fatalf("bad json: %d", resp.StatusCode)
	}
	resp.Body.Close()
	if code, _, _ := post(t, srv, "weather", "alice", strings.Repeat("x", 20<<10)); code != 413 {
		t.Fatalf("huge text: %d", code)
	}
}

func TestRateLimitPerSender(t *testing.T) {
	_, srv := newServer(t, zipApp, Config{PerSender: 3})
	var limited int
	var hdr http.Header
	for i := 0; i < 8; i++ {
		code, _, h := post(t, srv, "weather", "flood", "hi")
		if code == 429 {
			limited++
			hdr = h
		}
	}
	if limited == 0 {
		t.Fatal("a sender over its rate was never told 429")
	}
	if hdr.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	if code, tr, _ := post(t, srv, "weather", "calm", "hi"); code != 200 || tr.State != "waiting" {
		t.Fatalf("another sender was not served: %d %+v", code, tr)
	}
}

func TestWebSocket(t *testing.T) {
	_, srv := newServer(t, zipApp, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	u := "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/web/weather/ws?from=dave"
	ws, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	send := func(text string) {
		b, _ := json.Marshal(map[string]string{"text": text})
		if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	read := func(until string) {
		for {
			_, data, err := ws.Read(ctx)
			if err != nil {
				t.Fatalf("read: %v (got %q)", err, got)
			}
			var f map[string]string
			_ = json.Unmarshal(data, &f)
			if f["type"] == "reply" {
				got = append(got, "reply:"+f["text"])
			} else {
				got = append(got, f["type"]+":"+f["state"])
			}
			if got[len(got)-1] == until {
				return
			}
		}
	}
	send("hi")
	read("state:waiting")
	send("32801")
	read("state:ended")
	want := "reply:Which ZIP code?|state:waiting|state:running|reply:Forecast for 32801|reply:Bye|state:ended"
	if strings.Join(got, "|") != want {
		t.Fatalf("frames %q\nwant   %q", strings.Join(got, "|"), want)
	}
	if _, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/v1/web/nobody/ws?from=x", nil); err == nil {
		t.Fatal("WebSocket to an unknown address opened")
	}
}

func TestPerIPLimitWhateverTheSender(t *testing.T) {
	_, srv := newServer(t, zipApp, Config{PerIP: 5})
	var limited bool
	for i := 0; i < 30 && !limited; i++ {
		code, _, h := post(t, srv, "weather", fmt.Sprint("sender", i), "hi")
		limited = code == 429 && h.Get("Retry-After") != ""
	}
	if !limited {
		t.Fatal("one client changing its sender name on every request was never limited")
	}
}

func TestConversationCapacity(t *testing.T) {
	ch, srv := newServer(t, zipApp, Config{MaxConversations: 3, PerIP: 1000})
	for i := 0; i < 3; i++ {
		if code, _, _ := post(t, srv, "weather", fmt.Sprint("s", i), "hi"); code != 200 {
			t.Fatalf("conversation %d: %d", i, code)
		}
	}
	code, _, h := post(t, srv, "weather", "one-too-many", "hi")
	if code != 503 || h.Get("Retry-After") == "" {
		t.Fatalf("over capacity: %d %q", code, h.Get("Retry-After"))
	}
	// A sender already in a conversation is still served.
	if code, tr, _ := post(t, srv, "weather", "s0", "32801"); code != 200 || tr.State != "ended" {
		t.Fatalf("existing conversation: %d %+v", code, tr)
	}
	if n := ch.Threads().Live(); n != 2 {
		t.Fatalf("live %d", n)
	}
}

func TestRepliesAreBounded(t *testing.T) {
	big := strings.Repeat("é", 100<<10) // 200 KiB
	flood := func(c channels.Conversation) {
		for i := 0; i < 40; i++ {
			_ = c.Send(context.Background(), big)
		}
	}
	_, srv := newServer(t, flood, Config{})
	_, tr, _ := post(t, srv, "weather", "x", "go")
	total := 0
	for _, r := range tr.Replies {
		if len(r.Text) > maxReplyBytes || !strings.HasSuffix(r.Text, "…") || !utf8.ValidString(r.Text) {
			t.Fatalf("reply of %d bytes not cut on a character boundary", len(r.Text))
		}
		total += len(r.Text)
	}
	if total > maxBufferBytes || len(tr.Replies) == 0 {
		t.Fatalf("%d replies, %d bytes kept for one sender", len(tr.Replies), total)
	}
}

func TestShutdownClosesWebSockets(t *testing.T) {
	ch, srv := newServer(t, zipApp, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/v1/web/weather/ws?from=w", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if err := ch.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with an open WebSocket: %v", err)
	}
	if _, _, err := ws.Read(ctx); err == nil {
		t.Fatal("the WebSocket stayed open after Shutdown")
	}
}
