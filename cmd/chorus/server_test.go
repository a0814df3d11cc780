package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chorus-dev/chorus/store"
)

// testServer is a real server started in-process on 127.0.0.1:0.
type testServer struct {
	t     *testing.T
	s     *server
	url   string
	admin string
	data  string
}

func startTestServer(t *testing.T, fc *fileConfig) *testServer {
	t.Helper()
	data := t.TempDir()
	if fc == nil {
		fc = &fileConfig{}
	}
	var addr string
	// SIP only where a test asks for it (sip.listen, e.g. 127.0.0.1:0).
	s, err := startServer(serveConfig{Data: data, HTTP: "127.0.0.1:0", SIP: fc.SIP.Listen, File: fc, Logger: slog.New(slog.DiscardHandler),
		Ready: func(a string) { addr = a }, Notice: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// A short bound: tests leave conversations waiting, and shutdown
		// drains for half of it before ending them.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := s.shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	key, err := os.ReadFile(filepath.Join(data, "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	return &testServer{t: t, s: s, url: "http://" + addr, admin: strings.TrimSpace(string(key)), data: data}
}

type resp struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r resp) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

func (r resp) field(t *testing.T, k string) any {
	var m map[string]any
	r.json(t, &m)
	return m[k]
}

func (ts *testServer) do(method, path, key, ctype string, body []byte) resp {
	ts.t.Helper()
	req, _ := http.NewRequest(method, ts.url+path, bytes.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return resp{r.StatusCode, r.Header, b}
}

func (ts *testServer) json(method, path, key string, v any) resp {
	ts.t.Helper()
	var b []byte
	if v != nil {
		b, _ = json.Marshal(v)
	}
	return ts.do(method, path, key, "application/json", b)
}

func (ts *testServer) push(key, name, src string) resp {
	ts.t.Helper()
	return ts.do(http.MethodPut, "/v1/apps/"+name, key, "text/x-lua", []byte(src))
}

func (ts *testServer) turn(address, from, text string) (string, []string, string) {
	ts.t.Helper()
	r := ts.json(http.MethodPost, "/v1/web/"+url.PathEscape(address)+"/messages", "", map[string]string{"from": from, "text": text})
	if r.Status != 200 {
		ts.t.Fatalf("turn %q: %d %s", text, r.Status, r.Body)
	}
	var tr struct {
		Session string
		Replies []struct{ Text string }
		State   string
	}
	r.json(ts.t, &tr)
	var out []string
	for _, x := range tr.Replies {
		out = append(out, x.Text)
	}
	return tr.Session, out, tr.State
}

func (ts *testServer) account(name, role string) string {
	ts.t.Helper()
	r := ts.json(http.MethodPost, "/v1/accounts", ts.admin, map[string]string{"name": name, "role": role})
	if r.Status != 201 {
		ts.t.Fatalf("create account: %d %s", r.Status, r.Body)
	}
	return r.field(ts.t, "api_key").(string)
}

func expect(t *testing.T, what string, r resp, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: status %d, want %d: %s", what, r.Status, status, r.Body)
	}
	if status >= 400 {
		var e struct{ Error, Code string }
		if json.Unmarshal(r.Body, &e) != nil || e.Error == "" || e.Code == "" {
			t.Fatalf("%s: error body is not {error, code}: %s", what, r.Body)
		}
	}
}

func TestAPIAppsAndVersions(t *testing.T) {
	ts := startTestServer(t, nil)
	dev := ts.account("dev", "developer")
	expect(t, "no key", ts.do("GET", "/v1/apps", "", "", nil), 401)
	expect(t, "bad key", ts.do("GET", "/v1/apps", "chorus_nope", "", nil), 401)

	r := ts.push(dev, "hello", `say("v1")`)
	expect(t, "create", r, 201)
	if r.field(t, "version").(float64) != 1 || len(r.field(t, "sha256").(string)) != 64 {
		t.Fatalf("create body %s", r.Body)
	}
	expect(t, "new version", ts.push(dev, "hello", `say("v2")`), 200)

	bad := ts.push(dev, "hello", "say('ok')\nif then\n")
	expect(t, "compile error", bad, 422)
	if bad.field(t, "line").(float64) != 2 {
		t.Fatalf("422 should give the line: %s", bad.Body)
	}
	src := ts.do("GET", "/v1/apps/hello/source", dev, "", nil)
	if string(src.Body) != `say("v2")` {
		t.Fatalf("a failed upload changed the live source: %q", src.Body)
	}
	big := bytes.Repeat([]byte("-- padding\n"), 110000)
	expect(t, "oversized script", ts.do("PUT", "/v1/apps/big", dev, "text/x-lua", big), 413)
	expect(t, "unknown content type", ts.do("PUT", "/v1/apps/x", dev, "image/png", []byte("x")), 415)
	expect(t, "bad bundle", ts.do("PUT", "/v1/apps/x", dev, "application/gzip", []byte("not gzip")), 400)

	var vs []struct {
		Version int
		Live    bool
	}
	ts.do("GET", "/v1/apps/hello/versions", dev, "", nil).json(t, &vs)
	if len(vs) != 2 || !vs[1].Live {
		t.Fatalf("versions %+v", vs)
	}
	expect(t, "rollback", ts.json("POST", "/v1/apps/hello/rollback", dev, map[string]int{"version": 1}), 200)
	if src := ts.do("GET", "/v1/apps/hello/source", dev, "", nil); string(src.Body) != `say("v1")` {
		t.Fatalf("rollback: source %q", src.Body)
	}
	expect(t, "rollback to nothing", ts.json("POST", "/v1/apps/hello/rollback", dev, map[string]int{"version": 9}), 404)
	ts.do("GET", "/v1/apps/hello/versions", dev, "", nil).json(t, &vs)
	if len(vs) != 2 {
		t.Fatalf("rollback made a version: %+v", vs)
	}

	// The bound app answers with the live version.
	expect(t, "bind", ts.json("POST", "/v1/addresses", dev, map[string]string{"network": "web", "address": "hello", "app": "hello"}), 201)
	if _, out, st := ts.turn("hello", "alice", "hi"); strings.Join(out, "") != "v1" || st != "ended" {
		t.Fatalf("turn %q %s", out, st)
	}

	// Config: merged, masked, seen by scripts.
	expect(t, "config", ts.json("PUT", "/v1/apps/hello/config", dev, map[string]any{"GREETING": "hey", "N": 3}), 200)
	cfg := ts.do("GET", "/v1/apps/hello/config", dev, "", nil)
	if strings.Contains(string(cfg.Body), "hey") || !strings.Contains(string(cfg.Body), "GREETING") {
		t.Fatalf("config not masked: %s", cfg.Body)
	}
	expect(t, "config bad key", ts.json("PUT", "/v1/apps/hello/config", dev, map[string]string{"no-dash": "x"}), 400)
	ts.push(dev, "hello", `say(config.GREETING .. config.N)`)
	if _, out, _ := ts.turn("hello", "alice", "hi"); strings.Join(out, "") != "hey3" {
		t.Fatalf("config in script: %q", out)
	}

	expect(t, "delete", ts.do("DELETE", "/v1/apps/hello", dev, "", nil), 204)
	expect(t, "deleted app", ts.do("GET", "/v1/apps/hello", dev, "", nil), 404)
	expect(t, "address released", ts.json("POST", "/v1/web/hello/messages", "", map[string]string{"from": "a", "text": "x"}), 404)
}

func TestAPIAccountsIsolationAndRoles(t *testing.T) {
	// An SMS route for the numbers bound below (never reached: nothing is
	// sent), and XMPP accounts that cannot log in (their state says why).
	fc := &fileConfig{}
	fc.SMS.HTTP = []httpRoute{{Name: "main", BaseURL: "http://127.0.0.1:9", Account: "AC1", Token: "t", WebhookPath: "/v1/sms/main"},
		{Name: "alt", BaseURL: "http://127.0.0.1:9", Account: "AC1", Token: "t", WebhookPath: "/v1/sms/alt"}}
	ts := startTestServer(t, fc)
	alice := ts.account("alice", "developer")
	bob := ts.account("bob", "developer")
	op := ts.account("carrier-ops", "operator")
	expect(t, "developer creating accounts", ts.json("POST", "/v1/accounts", alice, map[string]string{"name": "x", "role": "developer"}), 403)
	expect(t, "bad role", ts.json("POST", "/v1/accounts", ts.admin, map[string]string{"name": "x", "role": "root"}), 400)

	expect(t, "alice app", ts.push(alice, "secret", `say("alice's")`), 201)
	expect(t, "bob sees alice's app", ts.do("GET", "/v1/apps/secret", bob, "", nil), 404)
	expect(t, "bob deletes alice's app", ts.do("DELETE", "/v1/apps/secret", bob, "", nil), 404)
	var list []map[string]any
	ts.do("GET", "/v1/apps", bob, "", nil).json(t, &list)
	if len(list) != 0 {
		t.Fatalf("bob lists %v", list)
	}
	expect(t, "bob binds alice's app", ts.json("POST", "/v1/addresses", bob, map[string]string{"network": "web", "address": "s", "app": "secret"}), 404)
	expect(t, "alice binds", ts.json("POST", "/v1/addresses", alice, map[string]string{"network": "web", "address": "Sec", "app": "secret"}), 201)
	expect(t, "taken", ts.push(bob, "mine", `say("b")`), 201)
	expect(t, "alice binds again", ts.json("POST", "/v1/addresses", alice, map[string]string{"network": "web", "address": "Sec", "app": "secret"}), 200)
	expect(t, "bob takes the same address", ts.json("POST", "/v1/addresses", bob, map[string]string{"network": "web", "address": "Sec", "app": "mine"}), 409)
	expect(t, "bob releases alice's address", ts.do("DELETE", "/v1/addresses/web/Sec", bob, "", nil), 404)

	// Phone numbers: operators and admin only.
	expect(t, "developer binds a number", ts.json("POST", "/v1/addresses", bob, map[string]string{"network": "sms", "address": "+1 407 555 0100", "app": "mine"}), 403)
	expect(t, "developer binds a numeric sip user", ts.json("POST", "/v1/addresses", bob, map[string]string{"network": "sip", "address": "14075550100", "app": "mine"}), 403)
	expect(t, "developer binds a numeric sip URI", ts.json("POST", "/v1/addresses", bob, map[string]string{"network": "sip", "address": "sip:14075550100@carrier.example", "app": "mine"}), 403)
	expect(t, "developer binds a formatted sip number", ts.json("POST", "/v1/addresses", bob, map[string]string{"network": "sip", "address": "sip:+1-407-555-0100@x", "app": "mine"}), 403)
	expect(t, "developer binds a sip name", ts.json("POST", "/v1/addresses", bob, map[string]string{"network": "sip", "address": "sip:Mine@Example.org", "app": "mine"}), 201)
	expect(t, "operator app", ts.push(op, "ivr", `say("x")`), 201)
	r := ts.json("POST", "/v1/addresses", op, map[string]any{"network": "sms", "address": "1 (407) 555-0100", "app": "ivr", "route": "main"})
	expect(t, "operator binds a number", r, 201)
	if r.field(t, "address") != "+14075550100" {
		t.Fatalf("not normalised: %s", r.Body)
	}
	expect(t, "sms without a route", ts.json("POST", "/v1/addresses", op, map[string]any{"network": "sms", "address": "+14075550101", "app": "ivr"}), 400)
	expect(t, "sms on a route the server lacks", ts.json("POST", "/v1/addresses", op, map[string]any{"network": "sms", "address": "+14075550101", "app": "ivr", "route": "other"}), 422)
	expect(t, "route on a web address", ts.json("POST", "/v1/addresses", bob, map[string]any{"network": "web", "address": "w", "app": "mine", "route": "main"}), 400)
	expect(t, "credentials on a web address", ts.json("POST", "/v1/addresses", bob, map[string]any{"network": "web", "address": "w", "app": "mine", "credentials": map[string]string{"password": "x"}}), 400)
	expect(t, "xmpp without credentials outside a component domain", ts.json("POST", "/v1/addresses", bob, map[string]any{"network": "xmpp", "address": "bot2@example.org", "app": "mine"}), 422)
	r = ts.json("POST", "/v1/addresses", bob, map[string]any{"network": "xmpp", "address": "bot2@example.org", "app": "mine", "credentials": map[string]string{"passwd": "hunter2"}})
	expect(t, "xmpp with a misspelt credential", r, 400)
	if strings.Contains(string(r.Body), "hunter2") {
		t.Fatalf("error echoes a credential: %s", r.Body)
	}
	expect(t, "twitter with half the credentials", ts.json("POST", "/v1/addresses", bob, map[string]any{"network": "twitter", "address": "@mine", "app": "mine", "credentials": map[string]string{"consumer_key": "k"}}), 400)
	r = ts.json("POST", "/v1/addresses", bob, map[string]any{"network": "xmpp", "address": "Bot@Example.ORG/res", "app": "mine", "credentials": map[string]string{"password": "hunter2"}})
	expect(t, "xmpp with credentials", r, 201)
	if strings.Contains(string(r.Body), "hunter2") || r.field(t, "credentials") != "set" {
		t.Fatalf("credentials shown: %s", r.Body)
	}
	// Binding again with a new password or route takes them (200).
	expect(t, "new xmpp password", ts.json("POST", "/v1/addresses", bob, map[string]any{"network": "xmpp", "address": "bot@example.org", "app": "mine", "credentials": map[string]string{"password": "correct-horse"}}), 200)
	if rec, err := ts.s.st.Address(context.Background(), "xmpp", "bot@example.org"); err != nil || !strings.Contains(string(rec.Credentials), "correct-horse") {
		t.Fatalf("the new password was not stored: %v", err)
	}
	expect(t, "same binding again", ts.json("POST", "/v1/addresses", bob, map[string]any{"network": "xmpp", "address": "bot@example.org", "app": "mine"}), 200)
	if rec, _ := ts.s.st.Address(context.Background(), "xmpp", "bot@example.org"); !strings.Contains(string(rec.Credentials), "correct-horse") {
		t.Fatal("binding again without credentials dropped them")
	}
	r = ts.json("POST", "/v1/addresses", op, map[string]any{"network": "sms", "address": "+14075550100", "app": "ivr", "route": "alt"})
	expect(t, "number moved to another route", r, 200)
	if r.field(t, "route") != "alt" {
		t.Fatalf("route not changed: %s", r.Body)
	}
	var addrs []map[string]any
	ts.do("GET", "/v1/addresses", bob, "", nil).json(t, &addrs)
	if len(addrs) != 2 {
		t.Fatalf("bob's addresses %v", addrs)
	}
	for _, a := range addrs {
		if a["state"] == nil || a["state"] == "" {
			t.Fatalf("address without state: %v", a)
		}
	}
	expect(t, "release", ts.do("DELETE", "/v1/addresses/xmpp/"+url.PathEscape("bot@example.org"), bob, "", nil), 204)
	expect(t, "sip name with escapes", ts.json("POST", "/v1/addresses", bob, map[string]string{"network": "web", "address": "100%off", "app": "mine"}), 201)
	expect(t, "release escaped", ts.do("DELETE", "/v1/addresses/web/"+url.PathEscape("100%off"), bob, "", nil), 204)
	expect(t, "release sip", ts.do("DELETE", "/v1/addresses/sip/"+url.PathEscape("sip:Mine@EXAMPLE.org"), bob, "", nil), 204)
	ts.do("GET", "/v1/addresses", ts.admin, "", nil).json(t, &addrs)
	if len(addrs) < 4 {
		t.Fatalf("admin sees %d addresses", len(addrs))
	}
	expect(t, "bad network", ts.json("POST", "/v1/addresses", bob, map[string]string{"network": "fax", "address": "1", "app": "mine"}), 400)
	expect(t, "unknown endpoint", ts.do("GET", "/v1/nothing", bob, "", nil), 404)
}

func TestAPISessionsAndLogs(t *testing.T) {
	ts := startTestServer(t, nil)
	dev := ts.account("dev", "developer")
	other := ts.account("other", "developer")
	ts.push(dev, "talk", `log("started by " .. currentCall.callerID)
		local ev = ask("Name?", {choices = "[ANY]"})
		say("Hi " .. ev.value)`)
	expect(t, "bind", ts.json("POST", "/v1/addresses", dev, map[string]string{"network": "web", "address": "talk", "app": "talk"}), 201)

	// A follower sees log lines as they are written.
	req, _ := http.NewRequest("GET", ts.url+"/v1/logs?app=talk&follow=1", nil)
	req.Header.Set("Authorization", "Bearer "+dev)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sse, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer sse.Body.Close()
	if ct := sse.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("follow content type %q", ct)
	}

	id, out, st := ts.turn("talk", "zoe", "hello")
	if st != "waiting" || strings.Join(out, "") != "Name?" {
		t.Fatalf("%q %s", out, st)
	}
	var live map[string]any
	ts.do("GET", "/v1/sessions/"+id, dev, "", nil).json(t, &live)
	if live["state"] != "waiting" || live["app"] != "talk" || live["caller"] != "zoe" {
		t.Fatalf("live session %v", live)
	}
	expect(t, "other account's session", ts.do("GET", "/v1/sessions/"+id, other, "", nil), 404)
	ts.turn("talk", "zoe", "Zoe")
	var done map[string]any
	ts.do("GET", "/v1/sessions/"+id, dev, "", nil).json(t, &done)
	if done["state"] != "ended" || done["end_reason"] != "completed" {
		t.Fatalf("ended session %v", done)
	}
	tr := done["transcript"].([]any)
	if len(tr) != 4 {
		t.Fatalf("transcript %v", tr)
	}
	var list []map[string]any
	ts.do("GET", "/v1/sessions?app=talk&state=ended", dev, "", nil).json(t, &list)
	if len(list) != 1 || list[0]["id"] != id {
		t.Fatalf("list %v", list)
	}
	ts.do("GET", "/v1/sessions", other, "", nil).json(t, &list)
	if len(list) != 0 {
		t.Fatalf("other sees %v", list)
	}

	// DELETE ends a live session.
	id2, _, _ := ts.turn("talk", "yan", "hello")
	expect(t, "end", ts.do("DELETE", "/v1/sessions/"+id2, dev, "", nil), 204)
	deadline := time.Now().Add(3 * time.Second)
	for {
		var s map[string]any
		ts.do("GET", "/v1/sessions/"+id2, dev, "", nil).json(t, &s)
		if s["end_reason"] == "ended_by_api" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("DELETE did not end the session: %v", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
	expect(t, "end again", ts.do("DELETE", "/v1/sessions/"+id2, dev, "", nil), 409)

	// Launched sessions.
	ts.push(dev, "outbound", `log("launched for " .. params.to)`)
	r := ts.json("POST", "/v1/sessions", dev, map[string]any{"app": "outbound", "params": map[string]string{"to": "+14075551111"}})
	expect(t, "launch", r, 201)
	expect(t, "launch unknown", ts.json("POST", "/v1/sessions", dev, map[string]any{"app": "nope"}), 404)

	var lines []map[string]any
	ts.do("GET", "/v1/logs?app=talk", dev, "", nil).json(t, &lines)
	if len(lines) < 2 || !strings.Contains(fmt.Sprint(lines), "started by zoe") {
		t.Fatalf("logs %v", lines)
	}
	ts.do("GET", "/v1/logs?app=talk", other, "", nil).json(t, &lines)
	if len(lines) != 0 {
		t.Fatalf("other account reads logs: %v", lines)
	}
	expect(t, "bad since", ts.do("GET", "/v1/logs?since=yesterday", dev, "", nil), 400)

	sc := bufio.NewScanner(sse.Body)
	var seen []string
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			seen = append(seen, d)
			if strings.Contains(d, "started by yan") {
				break
			}
		}
	}
	if !strings.Contains(strings.Join(seen, "\n"), "started by zoe") {
		t.Fatalf("follow stream: %q", seen)
	}
}

func TestHealthzAndOpenAPIArePublic(t *testing.T) {
	ts := startTestServer(t, nil)
	expect(t, "healthz", ts.do("GET", "/healthz", "", "", nil), 200)
	r := ts.do("GET", "/v1/openapi.json", "", "", nil)
	expect(t, "openapi", r, 200)
	if r.field(t, "openapi") == nil {
		t.Fatalf("not an OpenAPI document: %.100s", r.Body)
	}
}

// TestAdminKeyRotation: starting with a new CHORUS_ADMIN_KEY makes it the
// admin's only key.
func TestAdminKeyRotation(t *testing.T) {
	data := t.TempDir()
	start := func(adminKey string) (*server, string) {
		var addr string
		s, err := startServer(serveConfig{Data: data, HTTP: "127.0.0.1:0", AdminKey: adminKey, Logger: slog.New(slog.DiscardHandler),
			Ready: func(a string) { addr = a }, Notice: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		return s, "http://" + addr
	}
	stop := func(s *server) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.shutdown(ctx); err != nil {
			t.Fatal(err)
		}
	}
	s, base := start("")
	old, _ := os.ReadFile(filepath.Join(data, "admin.key"))
	ts := &testServer{t: t, url: base}
	expect(t, "generated key", ts.do("GET", "/v1/apps", strings.TrimSpace(string(old)), "", nil), 200)
	stop(s)

	s, base = start("chorus_rotated_key_0123456789")
	defer stop(s)
	ts.url = base
	expect(t, "old key after rotation", ts.do("GET", "/v1/apps", strings.TrimSpace(string(old)), "", nil), 401)
	r := ts.do("GET", "/v1/apps", "chorus_rotated_key_0123456789", "", nil)
	expect(t, "new key", r, 200)
	if !strings.Contains(string(r.Body), "weather") {
		t.Fatalf("the rotated admin is not the same account: %s", r.Body)
	}
	if _, err := os.Stat(filepath.Join(data, "admin.key")); !os.IsNotExist(err) {
		t.Fatalf("the stale admin.key is still there: %v", err)
	}
}

// TestRecordingsEndpoint: a recording is served as audio/wav to its owner
// and the admin, and is 404 to another account.
func TestRecordingsEndpoint(t *testing.T) {
	ts := startTestServer(t, nil)
	ann := ts.account("ann", "developer")
	bob := ts.account("bob", "developer")
	ctx := context.Background()
	acct, err := ts.s.st.AccountByKey(ctx, ann)
	if err != nil {
		t.Fatal(err)
	}
	wav := []byte("RIFF\x24\x00\x00\x00WAVEfmt fake audio")
	if err := ts.s.st.SaveRecording(ctx, store.Recording{ID: "rec1", AccountID: acct.ID, SessionID: "s1", AppName: "vm", Duration: time.Second, WAV: wav}); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{ann, ts.admin} {
		r := ts.do(http.MethodGet, "/v1/recordings/rec1", key, "", nil)
		if r.Status != 200 || r.Header.Get("Content-Type") != "audio/wav" || !bytes.Equal(r.Body, wav) || r.Header.Get("X-Chorus-Session") != "s1" {
			t.Fatalf("owner/admin GET: %d %q %q", r.Status, r.Header.Get("Content-Type"), r.Body)
		}
	}
	expect(t, "another account's recording", ts.do(http.MethodGet, "/v1/recordings/rec1", bob, "", nil), 404)
	expect(t, "no key", ts.do(http.MethodGet, "/v1/recordings/rec1", "", "", nil), 401)
	expect(t, "unknown", ts.do(http.MethodGet, "/v1/recordings/nope", ann, "", nil), 404)
}
