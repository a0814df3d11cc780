package engine_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chorus-dev/chorus/channels"
	"github.com/chorus-dev/chorus/channels/channeltest"
	"github.com/chorus-dev/chorus/runtime/applog"
	"github.com/chorus-dev/chorus/runtime/engine"
	"github.com/chorus-dev/chorus/runtime/luamod/httpmod"
	"github.com/chorus-dev/chorus/runtime/sandbox"
	"github.com/chorus-dev/chorus/store"
	"github.com/chorus-dev/chorus/store/sqlite"
)

// harness is a real engine on a real SQLite store in a temp dir.
type harness struct {
	t    testing.TB
	st   *sqlite.Store
	sb   *sandbox.Sandbox
	hub  *applog.Hub
	eng  *engine.Engine
	acct store.Account
}

type harnessOptions struct {
	Limits    sandbox.Limits
	HTTPAllow []string
}

func newHarness(t testing.TB, o harnessOptions) *harness {
	t.Helper()
	dir := t.TempDir()
	key, err := store.LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(dir, "t.db"), Key: key, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := sandbox.New(sandbox.Config{Limits: o.Limits, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	hc, err := httpmod.New(httpmod.Config{Allow: o.HTTPAllow})
	if err != nil {
		t.Fatal(err)
	}
	hub := applog.New(st)
	eng, err := engine.New(engine.Config{Store: st, Sandbox: sb, Logs: hub, HTTP: hc, HangupGrace: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	acct, _, err := st.CreateAccount(context.Background(), "dev", store.RoleDeveloper)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, st: st, sb: sb, hub: hub, eng: eng, acct: acct}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = eng.Shutdown(ctx)
		_ = sb.Close()
		_ = st.Close()
	})
	return h
}

var appSeq sync.Map

// app uploads files as a new app bound to network:address; returns the
// local address.
func (h *harness) app(name string, files map[string][]byte, cfg map[string]string, n channels.Network, address string) channels.Address {
	h.t.Helper()
	ctx := context.Background()
	if err := engine.CompileFiles(files); err != nil {
		h.t.Fatalf("compile %s: %v", name, err)
	}
	app, _, _, err := h.st.PutVersion(ctx, h.acct.ID, name, store.Version{Kind: "bundle", Files: files})
	if err != nil {
		h.t.Fatal(err)
	}
	if len(cfg) > 0 {
		if err := h.st.MergeConfig(ctx, app.ID, cfg); err != nil {
			h.t.Fatal(err)
		}
	}
	if _, err := h.st.AddAddress(ctx, store.AddressRecord{Network: string(n), Address: address, AccountID: h.acct.ID, AppID: app.ID}); err != nil {
		h.t.Fatal(err)
	}
	h.eng.Invalidate()
	return channels.Address{Network: n, ID: address}
}

func (h *harness) script(name, src string) channels.Address {
	return h.app(name, map[string][]byte{"main.lua": []byte(src)}, nil, channels.Web, name)
}

var idSeq sync.Mutex
var idN int

func nextID() string {
	idSeq.Lock()
	defer idSeq.Unlock()
	idN++
	return fmt.Sprintf("t%06d", idN)
}

// session reads a finished session from the store.
func (h *harness) session(id string) store.Session {
	h.t.Helper()
	ctx := context.Background()
	if err := h.st.Sync(ctx); err != nil {
		h.t.Fatal(err)
	}
	s, err := h.st.Session(ctx, id)
	if err != nil {
		h.t.Fatalf("session %s: %v", id, err)
	}
	return s
}

// logs returns the app log lines of a session.
func (h *harness) logs(id string) []store.LogLine {
	h.t.Helper()
	ctx := context.Background()
	if err := h.st.Sync(ctx); err != nil {
		h.t.Fatal(err)
	}
	l, err := h.st.ListLogs(ctx, store.LogFilter{Session: id})
	if err != nil {
		h.t.Fatal(err)
	}
	return l
}

// chat runs a text conversation with the given inputs ('>' lines after
// the first, which is initialText) and returns the recorder and session.
func (h *harness) chat(local channels.Address, first string, inputs ...string) (*channeltest.Conversation, store.Session) {
	h.t.Helper()
	var lines []channeltest.Line
	for _, in := range inputs {
		if in == "!timeout" || in == "!hangup" {
			lines = append(lines, channeltest.Line{Dir: '!', Text: in[1:]})
			continue
		}
		lines = append(lines, channeltest.Line{Dir: '>', Text: in})
	}
	id := nextID()
	c := channeltest.NewConversation(channels.Info{ID: id, Local: local, Remote: channels.Address{Network: local.Network, ID: "tester"}, InitialText: first}, lines)
	h.eng.ServeConversation(c)
	return c, h.session(id)
}

// replies returns the app's messages of a conversation.
func replies(c channeltest.Recorder) []string {
	var out []string
	for _, l := range c.Log() {
		if l.Dir == '<' {
			out = append(out, l.Text)
		}
	}
	return out
}

func logText(ls []store.LogLine) string {
	var b []string
	for _, l := range ls {
		b = append(b, l.Level+": "+l.Text)
	}
	return strings.Join(b, "\n")
}
