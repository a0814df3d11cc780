package engine_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chorus-dev/chorus/channels"
	"github.com/chorus-dev/chorus/channels/channeltest"
	"github.com/chorus-dev/chorus/channels/thread"
	"github.com/chorus-dev/chorus/runtime/engine"
	"github.com/chorus-dev/chorus/runtime/sandbox"
)

func TestSayAskChoice(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	a := h.script("menu", `
		say("Hello " .. currentCall.callerID .. " on " .. currentCall.network .. "/" .. currentCall.channel)
		local ev = ask("Sales or support?", {
			choices = "sales(1, sales), support(2, support)",
			attempts = 3,
			onBadChoice = function(e) say("Not an option: " .. e.value) end,
			onChoice = function(e) say("handler saw " .. e.value .. " via " .. e.choice.interpretation) end,
		})
		say("You chose " .. ev.name .. ":" .. tostring(ev.value) .. " on attempt " .. ev.attempt)
	`)
	c, s := h.chat(a, "hi", "billing", "Support!")
	want := "Hello tester on WEB/TEXT|Sales or support?|Not an option: billing|Sales or support?|handler saw support via Support!|You chose choice:support on attempt 2"
	if got := strings.Join(replies(c), "|"); got != want {
		t.Fatalf("replies\n got %s\nwant %s", got, want)
	}
	if s.EndReason != "completed" || s.State != "ended" {
		t.Fatalf("session %+v", s)
	}
	var kinds []string
	for _, e := range s.Transcript {
		kinds = append(kinds, e.Dir+":"+e.Text)
	}
	if len(s.Transcript) < 6 || s.Transcript[0].Text != "hi" || s.Transcript[0].Dir != "in" {
		t.Fatalf("transcript %v", kinds)
	}
}

func TestAskTimeoutAndHangupEvents(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	a := h.script("t", `
		local ev = ask("Number?", {choices = "[1-3 DIGITS]", attempts = 2,
			onTimeout = function(e) say("timeout " .. e.attempt) end,
			onHangup = function(e) log("handler saw hangup") end})
		log("ask returned " .. ev.name)
		say("after")
	`)
	c, s := h.chat(a, "start", "!timeout", "!hangup")
	if got := strings.Join(replies(c), "|"); got != "Number?|timeout 1|Number?" {
		t.Fatalf("replies %q", got)
	}
	if s.EndReason != "hangup" {
		t.Fatalf("end_reason %q", s.EndReason)
	}
	lt := logText(h.logs(s.ID))
	if !strings.Contains(lt, "handler saw hangup") || !strings.Contains(lt, "ask returned hangup") {
		t.Fatalf("log %q", lt)
	}
}

func TestHangupCannotBeCaught(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	a := h.script("t", `
		local ok = pcall(function() say("bye"); hangup() end)
		say("still here")
	`)
	c, s := h.chat(a, "x")
	if got := strings.Join(replies(c), "|"); got != "bye" {
		t.Fatalf("replies %q", got)
	}
	if s.EndReason != "completed" {
		t.Fatalf("end_reason %q", s.EndReason)
	}
}

func TestRejectEndsSilently(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	a := h.script("t", `reject() say("never")`)
	c, s := h.chat(a, "x")
	if len(replies(c)) != 0 || s.EndReason != "rejected" {
		t.Fatalf("replies %q end %q", replies(c), s.EndReason)
	}
}

func TestVoiceVerbsOnACall(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	a := h.app("ivr", map[string][]byte{"main.lua": []byte(`
		answer()
		say("Welcome")
		local ev = ask("Press 1 for sales, 2 for support", {choices = "sales(1), support(2)", attempts = 2,
			onBadChoice = function() say("Try again") end})
		if ev.name == "choice" then say("Connecting " .. ev.value) end
		local t = transfer("sip:agent@example.org")
		log("transfer " .. t.name)
		hangup()
	`)}, nil, channels.SIP, "+14075550100")
	lines := []channeltest.Line{{Dir: '>', Text: "9#"}, {Dir: '>', Text: "2"}}
	call := channeltest.NewCall(channels.Info{ID: nextID(), Local: a, Remote: channels.Address{Network: channels.SIP, ID: "+14075551111"}}, lines)
	h.eng.ServeConversation(call)
	var got []string
	for _, l := range call.Log() {
		got = append(got, l.String())
	}
	want := "< Welcome|< Press 1 for sales, 2 for support|> 9#|< Try again|< Press 1 for sales, 2 for support|> 2|< Connecting support|< [transfer sip:agent@example.org]"
	if strings.Join(got, "|") != want {
		t.Fatalf("call\n got %s\nwant %s", strings.Join(got, "|"), want)
	}
	if !call.Answered() || !call.HungUp() {
		t.Fatal("call not answered or not hung up")
	}
	s := h.session(call.Info().ID)
	if s.EndReason != "completed" {
		t.Fatalf("end_reason %q", s.EndReason)
	}
}

func TestTextOnlyVerbFallbacks(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	a := h.script("t", `
		say(transfer("sip:x@y").name .. " " .. redirect("sip:x@y").name .. " " .. answer().name)
		local r = record("Leave a message", {timeout = 5})
		say("kept: " .. r.value .. " " .. r.name .. " " .. r.recordURI)
	`)
	c, s := h.chat(a, "x", "my message")
	if got := strings.Join(replies(c), "|"); got != "error error answer|Leave a message|kept: my message record data:text/plain;charset=utf-8,my%20message" {
		t.Fatalf("replies %q", got)
	}
	if s.EndReason != "completed" {
		t.Fatalf("end %q", s.EndReason)
	}
}

func TestCurrentCallAndParams(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	a := h.app("t", map[string][]byte{"main.lua": []byte(`
		say(table.concat({currentCall.callerID, currentCall.calledID, currentCall.network,
			currentCall.e164CallerID or "-", tostring(currentCall.isActive()), currentCall.initialText,
			currentCall.sessionId ~= nil and "id" or "noid", tostring(next(params))}, ","))
	`)}, nil, channels.SMS, "+14075550100")
	conv := channeltest.NewConversation(channels.Info{ID: nextID(), Local: a, Remote: channels.Address{Network: channels.SMS, ID: "+14075551111"}, InitialText: "32801"}, nil)
	h.eng.ServeConversation(conv)
	if got := strings.Join(replies(conv), ""); got != "+14075551111,+14075550100,SMS,+14075551111,true,32801,id,nil" {
		t.Fatalf("got %q", got)
	}
}

func TestLibraries(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	a := h.app("lib", map[string][]byte{
		"main.lua": []byte(`
			local util = require("lib.util")
			local row = lookup("data.csv", "b")
			store.set("count", (tonumber(store.get("count")) or 0) + 1)
			say(util.shout(config.GREETING) .. " " .. row[1] .. "=" .. row[2] .. " " .. store.get("count") ..
			    " " .. json.encode({n = 1}) .. " " .. #asset("data.csv") .. " " .. tostring(lookup("data.csv", "zz")))
			local ok, err = pcall(require, "os")
			say(tostring(ok) .. " " .. tostring(err):sub(1, 60))
		`),
		"lib/util.lua": []byte(`local M = {} function M.shout(s) return string.upper(s) end return M`),
		"data.csv":     []byte("a,1\nb,2\n"),
	}, map[string]string{"GREETING": "hello"}, channels.Web, "lib")
	c, _ := h.chat(a, "x")
	c2, _ := h.chat(a, "x")
	got := replies(c)
	if len(got) != 2 || got[0] != `HELLO b=2 1 {"n":1} 8 nil` {
		t.Fatalf("first: %q", got)
	}
	if !strings.HasPrefix(got[1], "false") || !strings.Contains(got[1], "not found") {
		t.Fatalf("require of a system module: %q", got[1])
	}
	if r := replies(c2); len(r) == 0 || !strings.Contains(r[0], " 2 ") {
		t.Fatalf("store did not persist across sessions: %q", r)
	}
}

func TestScriptErrorApologizesAndLogs(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	a := h.script("t", "say('one')\nlocal x = nil\nx.y = 1\n")
	c, s := h.chat(a, "x")
	if got := strings.Join(replies(c), "|"); got != "one|"+engine.Apology {
		t.Fatalf("replies %q", got)
	}
	if s.EndReason != "error" {
		t.Fatalf("end %q", s.EndReason)
	}
	lt := logText(h.logs(s.ID))
	if !strings.Contains(lt, "main.lua:3") {
		t.Fatalf("the log line should name the line: %q", lt)
	}
	for _, r := range replies(c) {
		if strings.Contains(r, "main.lua") || strings.Contains(r, "nil value") {
			t.Fatalf("Lua error text reached the person: %q", r)
		}
	}
}

func TestIsolationBetweenSessions(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	trap := h.script("trap", `
		string.upper = function() return "trapped" end
		math.pi = 3
		x_global = "leaked"
		pcall(function() getmetatable("").__index = {len = function() return -1 end} end)
		pcall(setmetatable, 1, {__index = function() return "num" end})
		table.insert(string, "appended")
		rawset(os, "time", function() return 0 end)
		coroutine.extra = 1
		table.remove(math, 1)
		table.sort(table)
		table.insert = nil
		say("set")
	`)
	probe := h.script("probe", `
		say(string.upper("ok") .. " " .. tostring(math.pi > 3.14) .. " " .. tostring(x_global) .. " " .. ("abc"):len() .. " " .. type(table.insert))
		say(tostring(string[1]) .. " " .. tostring(os.time() > 0) .. " " .. tostring(coroutine.extra))
	`)
	for i := 0; i < 3; i++ {
		if c, s := h.chat(trap, "x"); strings.Join(replies(c), "") != "set" || s.EndReason != "completed" {
			t.Fatalf("the trap script did not run to its end: %q %s %s", replies(c), s.EndReason, logText(h.logs(s.ID)))
		}
		c, _ := h.chat(probe, "x")
		if got := strings.Join(replies(c), "|"); got != "OK true nil 3 function|nil true nil" {
			t.Fatalf("round %d: a later session saw a change: %q", i, got)
		}
	}
}

// TestHostileScripts runs every hostile script of the sandbox suite as an
// app: each ends its own session with the expected end reason and a clear
// log line, the person gets one short apology, and a benign app keeps
// answering meanwhile.
func TestHostileScripts(t *testing.T) {
	files, _ := filepath.Glob("../sandbox/testdata/hostile/*.lua")
	if len(files) < 20 {
		t.Fatalf("found %d hostile scripts", len(files))
	}
	// A shorter compute limit than the default 2 s keeps the suite quick;
	// the sandbox's own tests use the defaults.
	h := newHarness(t, harnessOptions{Limits: sandbox.Limits{Compute: time.Second}})
	echo := h.script("echo", `say("echo " .. currentCall.initialText)`)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var benignMu sync.Mutex
	var benignOK, benignBad int
	wg.Add(1)
	go func() { // an innocent app keeps being served throughout
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			c, s := h.chat(echo, strconv.Itoa(i))
			benignMu.Lock()
			if r := replies(c); len(r) == 1 && r[0] == "echo "+strconv.Itoa(i) && s.EndReason == "completed" {
				benignOK++
			} else {
				benignBad++
			}
			benignMu.Unlock()
		}
	}()
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".lua")
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		expect := expectation(t, f)
		t.Run(name, func(t *testing.T) {
			if err := engine.CompileFiles(map[string][]byte{"main.lua": src}); err != nil {
				// Refused at upload: the API answers 422 and nothing runs.
				if expect != "error" {
					t.Fatalf("does not compile (%v) but expects %s", err, expect)
				}
				return
			}
			a := h.script("h-"+name, string(src))
			start := time.Now()
			c, s := h.chat(a, "go", "more", "more", "more")
			took := time.Since(start)
			if took > 5*time.Second {
				t.Errorf("took %v to stop", took)
			}
			if expect == "limit" || expect == "error" {
				if s.EndReason != expect {
					t.Errorf("end_reason %q, want %q; log:\n%s", s.EndReason, expect, logText(h.logs(s.ID)))
				}
				r := replies(c)
				if len(r) == 0 || r[len(r)-1] != engine.Apology {
					t.Errorf("the person did not get the apology: %q", r)
				}
				if n := strings.Count(strings.Join(r, "\n"), engine.Apology); n != 1 {
					t.Errorf("%d apologies", n)
				}
				if lt := logText(h.logs(s.ID)); !strings.Contains(lt, "error: ") {
					t.Errorf("no error line in the app log: %q", lt)
				}
			}
		})
	}
	close(stop)
	wg.Wait()
	if benignOK == 0 || benignBad > 0 {
		t.Fatalf("benign app: %d answered, %d failed while hostile scripts ran", benignOK, benignBad)
	}
	runtime.GC()
	if rss := peakRSS(t); rss > 1536<<20 {
		t.Fatalf("peak RSS %d MiB > 1.5 GiB", rss>>20)
	}
}

func expectation(t *testing.T, file string) string {
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "-- expect:"); ok {
			return strings.Fields(v)[0]
		}
	}
	t.Fatalf("%s has no -- expect: line", file)
	return ""
}

func peakRSS(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc")
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func TestLaunchAndEnd(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.script("launched", `log("launched with " .. params.who) wait(60000)`)
	id, err := h.eng.Launch(context.Background(), h.acct.ID, "launched", map[string]any{"who": "ops"})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		s, ok := h.eng.Live(id)
		if ok && s.State == "waiting" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("launched session not waiting: %+v %v", s, ok)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !h.eng.End(id, engine.ErrEndedByAPI) {
		t.Fatal("End: not live")
	}
	for time.Now().Before(deadline) {
		if _, ok := h.eng.Live(id); !ok {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	s := h.session(id)
	if s.EndReason != "ended_by_api" || !strings.Contains(logText(h.logs(id)), "launched with ops") {
		t.Fatalf("session %+v log %q", s, logText(h.logs(id)))
	}
}

type recordingSender struct {
	mu   sync.Mutex
	sent []channels.Message
}

func (r *recordingSender) SendMessage(_ context.Context, m channels.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, m)
	return nil
}

// TestOutboundOnlyFromOwnAddresses: an app may message and call only from
// addresses bound to it, never as another app (or account) would.
func TestOutboundOnlyFromOwnAddresses(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	rec := &recordingSender{}
	h.eng.SetOutbound(engine.Router{Senders: map[channels.Network]channels.Sender{channels.Web: rec}})
	h.script("bank", `say("hello")`)
	mallory := h.script("mallory", `
		local ok, err = message("Security check: reply with your PIN", {to = "alice", network = "WEB", from = "bank"})
		say("spoof: " .. tostring(ok) .. " " .. tostring(err))
		local ev = call("bob", {network = "WEB", callerID = "bank"})
		say("call: " .. ev.name)
		ok, err = message("hi from me", {to = "alice", network = "WEB"})
		say("own: " .. tostring(ok))
		ok, err = message("explicit", {to = "alice", network = "WEB", from = "mallory"})
		say("explicit own: " .. tostring(ok))
	`)
	c, _ := h.chat(mallory, "go")
	got := strings.Join(replies(c), "|")
	if !strings.Contains(got, "spoof: nil") || !strings.Contains(got, "not bound to this app") || !strings.Contains(got, "call: error") ||
		!strings.Contains(got, "own: true") || !strings.Contains(got, "explicit own: true") {
		t.Fatalf("replies %q", got)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.sent) != 2 || rec.sent[0].From.ID != "mallory" || rec.sent[1].From.ID != "mallory" {
		t.Fatalf("sent %+v", rec.sent)
	}
}

// TestLaunchedSessionIsVisibleAtOnce: the id POST /v1/sessions returns can
// be looked up right away.
func TestLaunchedSessionIsVisibleAtOnce(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.script("quick", `log("x")`)
	for i := 0; i < 100; i++ {
		id, err := h.eng.Launch(context.Background(), h.acct.ID, "quick", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := h.eng.Live(id); ok {
			continue
		}
		if s, err := h.st.Session(context.Background(), id); err != nil {
			t.Fatalf("launch %d: session %s neither live nor stored: %v", i, id, err)
		} else if s.ID != id {
			t.Fatalf("got %+v", s)
		}
	}
}

// TestIdleConversationEndsAsTimeout: a text conversation nobody writes to
// ends with end_reason "timeout", whatever the script does on its hangup
// event.
func TestIdleConversationEndsAsTimeout(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	a := h.script("idle", `
		local ev = ask("Still there?", {choices = "[ANY]", onHangup = function() log("left") end})
		say("after " .. ev.name)
	`)
	th, err := thread.New(thread.Config{Handler: h.eng, Send: func(context.Context, channels.Message) error { return nil },
		NewID: nextID, Idle: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer th.Shutdown(context.Background())
	c, seq, err := th.Deliver(channels.Message{From: channels.Address{Network: channels.Web, ID: "u"}, To: a, Text: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.WaitTurn(ctx, seq)
	for c.State() != thread.Ended && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	if s := h.session(c.Info().ID); s.EndReason != "timeout" {
		t.Fatalf("end_reason %q", s.EndReason)
	}
}

// TestWaitingOnlyWhileWaitingForThePerson: a session is "running" while it
// computes or calls a web service, "waiting" only in ask, record and wait.
func TestWaitingOnlyWhileWaitingForThePerson(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.script("states", `wait(300) log("done waiting") local t = os.clock() while os.clock() - t < 0.3 do end`)
	id, err := h.eng.Launch(context.Background(), h.acct.ID, "states", nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		s, ok := h.eng.Live(id)
		if !ok {
			break
		}
		seen[s.State] = true
		time.Sleep(5 * time.Millisecond)
	}
	if !seen["waiting"] || !seen["running"] {
		t.Fatalf("states seen %v, want waiting (in wait) and running (computing)", seen)
	}
}

// TestStoreQuota: an app cannot fill the disk through store.set.
func TestStoreQuota(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	eng, err := engine.New(engine.Config{Store: h.st, Sandbox: h.sb, Logs: h.hub, KVMaxKeys: 5, KVMaxBytes: 100 << 10})
	if err != nil {
		t.Fatal(err)
	}
	h.eng = eng
	a := h.script("hoarder", `
		local stored = 0
		for i = 1, 20 do
			local ok, err = store.set("k" .. i, "v")
			if not ok then say("refused at " .. i .. ": " .. err) break end
			stored = stored + 1
		end
		local ok = store.set("k1", "updated")
		say("update of an existing key: " .. tostring(ok))
		store.delete("k2")
		say("after a delete: " .. tostring(store.set("k99", "v")))
		store.delete("k3")
		local big = ("x"):rep(60 * 1024)
		say("first big: " .. tostring(store.set("b1", big)))
		local ok3, err3 = store.set("b2", big)
		say("bytes: " .. tostring(ok3) .. " " .. tostring(err3))
	`)
	c, _ := h.chat(a, "go")
	got := strings.Join(replies(c), "|")
	for _, want := range []string{"refused at 6: ", "5 keys", "update of an existing key: true", "after a delete: true", "first big: true", "bytes: nil", "full (100 KiB)"} {
		if !strings.Contains(got, want) {
			t.Fatalf("replies %q lack %q", got, want)
		}
	}
}

// TestNoteReceipts: a delivery receipt lands on the transcript of the
// session that sent the message, whether it still runs or has ended; two
// receipts for an ended session do not overwrite each other.
func TestNoteReceipts(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	ctx := context.Background()
	a := h.script("notes", `say("sent")`)
	_, s := h.chat(a, "hi")
	if s.State != "ended" {
		t.Fatalf("session %s is %s", s.ID, s.State)
	}
	var wg sync.WaitGroup
	for _, text := range []string{"delivered", "failed: UNDELIV"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !h.eng.Note(ctx, s.ID, "in", "receipt", text) {
				t.Errorf("Note(%s) did not find the ended session", text)
			}
		}()
	}
	wg.Wait()
	got := map[string]bool{}
	for _, e := range h.session(s.ID).Transcript {
		if e.Kind == "receipt" {
			got[e.Text] = true
		}
	}
	if !got["delivered"] || !got["failed: UNDELIV"] {
		t.Fatalf("receipts on the ended session: %v", got)
	}

	h.script("waiter", `wait(5000)`)
	id, err := h.eng.Launch(ctx, h.acct.ID, "waiter", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !h.eng.Note(ctx, id, "in", "receipt", "delivered") {
		t.Fatal("Note did not find the live session")
	}
	if live, ok := h.eng.Live(id); !ok || len(live.Transcript) == 0 || live.Transcript[len(live.Transcript)-1].Kind != "receipt" {
		t.Fatalf("live transcript %+v", live.Transcript)
	}
	h.eng.End(id, errors.New("test over"))
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok := h.eng.Live(id); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the launched session did not end")
		}
		time.Sleep(10 * time.Millisecond)
	}
	tr := h.session(id).Transcript
	if len(tr) == 0 || tr[0].Kind != "receipt" {
		t.Fatalf("stored transcript of the launched session: %+v", tr)
	}
	if h.eng.Note(ctx, "no-such-session", "in", "receipt", "x") {
		t.Fatal("Note found a session that never was")
	}
}

// TestNoteWhileEnding: receipts arriving while a session ends never undo
// its end (state, reason) nor get lost.
func TestNoteWhileEnding(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	ctx := context.Background()
	h.script("quick", `log("done")`)
	for i := 0; i < 40; i++ {
		id, err := h.eng.Launch(ctx, h.acct.ID, "quick", nil)
		if err != nil {
			t.Fatal(err)
		}
		notes := 0
		for {
			_, live := h.eng.Live(id)
			if h.eng.Note(ctx, id, "in", "receipt", fmt.Sprint("r", notes)) {
				notes++
			}
			if !live {
				break
			}
		}
		s := h.session(id)
		got := 0
		for _, e := range s.Transcript {
			if e.Kind == "receipt" {
				got++
			}
		}
		if s.State != "ended" || s.EndReason != "completed" || got != notes {
			t.Fatalf("session %d: state %q, reason %q, %d of %d receipts", i, s.State, s.EndReason, got, notes)
		}
	}
}
