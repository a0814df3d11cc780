package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chorus-dev/chorus/apps/weather/nwsfake"
)

// TestWeatherSampleOverTheWeb is the newcomer's path: an empty data dir
// gets the samples, weather is bound to the web address "weather", and
// texting 32801 gets Orlando's forecast from (a fake of) api.weather.gov.
func TestWeatherSampleOverTheWeb(t *testing.T) {
	nws := nwsfake.StartT(t, nwsfake.Options{})
	u, _ := url.Parse(nws.URL())
	fc := &fileConfig{}
	fc.Lua.HTTPAllow = []string{u.Host}
	ts := startTestServer(t, fc)
	expect(t, "config", ts.json("PUT", "/v1/apps/weather/config", ts.admin, map[string]string{"NWS_BASE_URL": nws.URL()}), 200)

	_, out, st := ts.turn("weather", "newcomer", "32801")
	if len(out) != 1 || !strings.HasPrefix(out[0], "Orlando, FL: ") || !strings.Contains(out[0], "Sunny") || st != "ended" {
		t.Fatalf("32801: %q %s", out, st)
	}
	_, out, st = ts.turn("weather", "asker", "hi")
	if st != "waiting" || len(out) != 1 || !strings.Contains(out[0], "ZIP") {
		t.Fatalf("prompt: %q %s", out, st)
	}
	_, out, _ = ts.turn("weather", "asker", "32801")
	if len(out) != 1 || !strings.HasPrefix(out[0], "Orlando, FL") {
		t.Fatalf("answer to the prompt: %q", out)
	}
	if c := nws.Counts(); c.Points < 2 || c.Forecasts < 2 {
		t.Fatalf("the fake NWS was not asked: %+v", c)
	}
	for _, r := range nws.Requests() {
		if r.UserAgent == "" {
			t.Fatal("a request to NWS had no User-Agent")
		}
	}
	// The echo and menu samples are there too.
	if _, out, _ := ts.turn("echo", "x", "hello"); len(out) == 0 || !strings.Contains(out[0], "hello") {
		t.Fatalf("echo: %q", out)
	}
	if _, out, _ := ts.turn("menu", "x", "hi"); len(out) == 0 {
		t.Fatalf("menu: %q", out)
	}
}

func TestWebSenderOverRateGets429(t *testing.T) {
	fc := &fileConfig{}
	fc.Limits.WebPerSender = rate{N: 2, Per: time.Second}
	ts := startTestServer(t, fc)
	var limited bool
	for i := 0; i < 6; i++ {
		r := ts.json("POST", "/v1/web/echo/messages", "", map[string]string{"from": "flood", "text": "x"})
		if r.Status == 429 {
			limited = r.Header.Get("Retry-After") != ""
		}
	}
	if !limited {
		t.Fatal("a sender over its rate never got 429 with Retry-After")
	}
	if _, out, _ := ts.turn("echo", "calm", "hello"); len(out) == 0 {
		t.Fatal("another sender was not served")
	}
}

// chorusBin builds the binary once (or uses CHORUS_BIN).
func chorusBin(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("CHORUS_BIN"); b != "" {
		return b
	}
	bin := filepath.Join(t.TempDir(), "chorus")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

var servingLine = regexp.MustCompile(`http=http://(127\.0\.0\.1:\d+)`)

// startProcess runs `chorus serve` and returns its URL once it serves.
func startProcess(t *testing.T, bin, data string, env ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--data", data, "--http", "127.0.0.1:0", "--sip", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), env...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := servingLine.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case a := <-found:
		return cmd, "http://" + a
	case <-time.After(30 * time.Second):
		t.Fatal("chorus serve did not start")
	}
	return nil, ""
}

// TestKillMidConversation: kill -9 the server while a conversation waits;
// on restart every app, version, address, config value, log line and
// finished transcript is still there, and the interrupted session reads
// ended / server_restart.
func TestKillMidConversation(t *testing.T) {
	bin := chorusBin(t)
	data := t.TempDir()
	cmd, base := startProcess(t, bin, data)
	key, err := os.ReadFile(filepath.Join(data, "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{t: t, url: base, admin: strings.TrimSpace(string(key)), data: data}
	expect(t, "push v1", ts.push(ts.admin, "survey", `local e = ask("Q1?", {choices = "[ANY]"}) log("answer " .. e.value) say("thanks")`), 201)
	expect(t, "push v2", ts.push(ts.admin, "survey", `log("v2 starts") local e = ask("Q1?", {choices = "[ANY]"}) log("answer " .. e.value) say("thanks")`), 200)
	expect(t, "config", ts.json("PUT", "/v1/apps/survey/config", ts.admin, map[string]string{"TOKEN": "s3cret"}), 200)
	expect(t, "bind", ts.json("POST", "/v1/addresses", ts.admin, map[string]string{"network": "web", "address": "survey", "app": "survey"}), 201)
	done, _, _ := ts.turn("survey", "ann", "start")
	ts.turn("survey", "ann", "yes")
	live, _, st := ts.turn("survey", "ben", "start")
	if st != "waiting" {
		t.Fatalf("state %s", st)
	}
	time.Sleep(1500 * time.Millisecond) // "durable within 1 s"
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	_, base = startProcess(t, bin, data)
	ts.url = base
	var versions []map[string]any
	ts.do("GET", "/v1/apps/survey/versions", ts.admin, "", nil).json(t, &versions)
	if len(versions) != 2 {
		t.Fatalf("versions after restart: %v", versions)
	}
	if r := ts.do("GET", "/v1/apps/survey/config", ts.admin, "", nil); !strings.Contains(string(r.Body), "TOKEN") {
		t.Fatalf("config after restart: %s", r.Body)
	}
	var s map[string]any
	ts.do("GET", "/v1/sessions/"+done, ts.admin, "", nil).json(t, &s)
	if s["end_reason"] != "completed" || len(s["transcript"].([]any)) != 4 {
		t.Fatalf("finished session after restart: %v", s)
	}
	ts.do("GET", "/v1/sessions/"+live, ts.admin, "", nil).json(t, &s)
	if s["state"] != "ended" || s["end_reason"] != "server_restart" {
		t.Fatalf("interrupted session after restart: %v", s)
	}
	var lines []map[string]any
	ts.do("GET", "/v1/logs?app=survey", ts.admin, "", nil).json(t, &lines)
	if got := logTexts(lines); !strings.Contains(got, "answer yes") || strings.Count(got, "v2 starts") != 2 {
		t.Fatalf("logs after restart: %s", got)
	}
	// The address still answers, with a new session for ben.
	if id, out, _ := ts.turn("survey", "ben", "again"); id == live || len(out) == 0 {
		t.Fatalf("after restart: %s %q", id, out)
	}
}

func logTexts(lines []map[string]any) string {
	var b []string
	for _, l := range lines {
		b = append(b, l["text"].(string))
	}
	return strings.Join(b, "\n")
}

// TestGracefulShutdown: SIGTERM drains and exits 0.
func TestGracefulShutdown(t *testing.T) {
	bin := chorusBin(t)
	data := t.TempDir()
	cmd, base := startProcess(t, bin, data)
	r, err := http.Post(base+"/v1/web/echo/messages", "application/json", strings.NewReader(`{"from":"a","text":"hi"}`))
	if err != nil {
		t.Fatal(err)
	}
	var turn struct{ Session, State string }
	json.NewDecoder(r.Body).Decode(&turn)
	r.Body.Close()
	if turn.State != "waiting" {
		t.Fatalf("echo should wait for more: %+v", turn)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	errc := make(chan error, 1)
	go func() { errc <- cmd.Wait() }()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("did not exit after SIGTERM")
	}
	// The conversation cut by the shutdown was recorded as such.
	_, base = startProcess(t, bin, data)
	key, _ := os.ReadFile(filepath.Join(data, "admin.key"))
	ts := &testServer{t: t, url: base, admin: strings.TrimSpace(string(key))}
	var s map[string]any
	ts.do("GET", "/v1/sessions/"+turn.Session, ts.admin, "", nil).json(t, &s)
	if s["state"] != "ended" || s["end_reason"] != "server_restart" {
		t.Fatalf("session cut by SIGTERM: %v", s)
	}
}

func TestCLIUsageErrors(t *testing.T) {
	bin := chorusBin(t)
	for _, args := range [][]string{{"frobnicate"}, {"serve", "--nope"}, {"app", "rollback", "x"}} {
		cmd := exec.Command(bin, args...)
		out, err := cmd.CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "usage") && !strings.Contains(string(out), "unknown") {
			t.Errorf("chorus %v: exit %v, output %q", args, err, out)
		}
	}
}

func TestRunInTerminal(t *testing.T) {
	bin := chorusBin(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "hi.lua")
	os.WriteFile(script, []byte(`local e = ask("Name?", {choices = "[ANY]"}) say("Hi " .. e.value .. " on " .. currentCall.network)`), 0o644)
	cmd := exec.Command(bin, "run", script, "--network", "sms")
	cmd.Stdin = strings.NewReader("hello\nZoe\n")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "< Name?") || !strings.Contains(string(out), "< Hi Zoe on SMS") {
		t.Fatalf("run: %v\n%s", err, out)
	}
	cmd = exec.Command(bin, "run", script, "--network", "voice")
	cmd.Stdin = strings.NewReader("")
	out, _ = cmd.CombinedOutput()
	if !strings.Contains(string(out), "[say] Name?") {
		t.Fatalf("run voice:\n%s", out)
	}
}

func TestClientVerbs(t *testing.T) {
	bin := chorusBin(t)
	data := t.TempDir()
	_, base := startProcess(t, bin, data)
	run := func(stdin string, args ...string) string {
		t.Helper()
		args = append(args, "--url", base)
		if args[0] != "chat" {
			args = append(args, "--data", data)
		}
		cmd := exec.Command(bin, args...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("chorus %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "main.lua"), []byte(`say(require("greet").hi(currentCall.initialText))`), 0o644)
	os.WriteFile(filepath.Join(dir, "greet.lua"), []byte(`return {hi = function(s) return "hi " .. s end}`), 0o644)
	if out := run("", "app", "push", dir, "--name", "greeter"); !strings.Contains(out, "pushed greeter version 1") {
		t.Fatalf("push: %s", out)
	}
	run("", "addr", "add", "web", "greeter", "greeter")
	if out := run("", "app", "ls"); !strings.Contains(out, "greeter") || !strings.Contains(out, "weather") {
		t.Fatalf("ls: %s", out)
	}
	if out := run("", "addr", "ls"); !strings.Contains(out, "greeter") {
		t.Fatalf("addr ls: %s", out)
	}
	if out := run("", "app", "versions", "greeter"); !strings.Contains(out, "live") {
		t.Fatalf("versions: %s", out)
	}
	if out := run("there\n", "chat", "greeter", "--from", "cli"); !strings.Contains(out, "< hi there") {
		t.Fatalf("chat: %s", out)
	}
	var apps []map[string]any
	json.Unmarshal([]byte(run("", "app", "ls", "--json")), &apps)
	if len(apps) < 4 {
		t.Fatalf("app ls --json: %v", apps)
	}
	bad := exec.Command(bin, "app", "push", filepath.Join(dir, "main.lua"), "--name", "greeter", "--url", base, "--key", "wrong")
	out, err := bad.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "unknown API key") {
		t.Fatalf("bad key: %v %s", err, out)
	}
	_ = context.Background
}

// TestOutboundOnTheWeb: a launched session messages one web sender and
// calls (starts a conversation with) another; their next requests get it.
func TestOutboundOnTheWeb(t *testing.T) {
	ts := startTestServer(t, nil)
	ts.push(ts.admin, "notify", `
		message("Your order shipped", {to = params.notify, network = "WEB"})
		local ev = call(params.ask, {network = "WEB"})
		if ev.name ~= "answer" then log("call: " .. ev.name .. " " .. tostring(ev.value)) return end
		local a = ask("Rate us 1-5?", {choices = "[1 DIGIT]", timeout = 30})
		say("Thanks for the " .. a.value .. " on " .. currentCall.network)
	`)
	expect(t, "bind", ts.json("POST", "/v1/addresses", ts.admin, map[string]string{"network": "web", "address": "shop", "app": "notify"}), 201)
	r := ts.json("POST", "/v1/sessions", ts.admin, map[string]any{"app": "notify", "params": map[string]string{"notify": "ann", "ask": "bob"}})
	expect(t, "launch", r, 201)
	id := r.field(t, "id").(string)
	deadline := time.Now().Add(5 * time.Second)
	for {
		var s map[string]any
		ts.do("GET", "/v1/sessions/"+id, ts.admin, "", nil).json(t, &s)
		if s["state"] == "waiting" {
			break
		}
		if time.Now().After(deadline) || s["state"] == "ended" {
			t.Fatalf("launched session: %v", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// bob answers the call's ask; his POST goes to the launched session.
	sid, out, st := ts.turn("shop", "bob", "4")
	if sid != id || st != "ended" || strings.Join(out, "|") != "Rate us 1-5?|Thanks for the 4 on WEB" {
		t.Fatalf("bob: %s %q %s", sid, out, st)
	}
	// ann's message waits for her next request.
	r2 := ts.json("POST", "/v1/web/shop/messages", "", map[string]string{"from": "ann", "text": "hi"})
	if !strings.Contains(string(r2.Body), "Your order shipped") {
		t.Fatalf("ann did not get the message: %s", r2.Body)
	}
}
