// Command bench prints Chorus's speed figures, each beside a reference
// measured in the same run (make bench):
//
//	(a) web turns per second when every turn starts a new session of a
//	    3-line app, against a bare net/http handler that decodes and encodes
//	    the same JSON;
//	(b) turns per second inside one long multi-turn ask conversation;
//	(c) the cost of starting a session, against a pooled bare lua.LState
//	    running the same precompiled script;
//	(d) memory per idle waiting conversation with 10,000 of them open;
//	(e) XMPP round trips per second through the echo app against Prosody,
//	    beside two plain clients echoing each other through it;
//	(f) SMPP round trips per second through the echo app, the phones being
//	    a real SMSC (npm smpp, e2e/smsc.mjs);
//	(g) SIP calls per second that a Lua app answers, speaks a cached
//	    one-second prompt to and hangs up (sipp, < 1 % failed calls);
//	(h) concurrent SIP calls each streaming a prompt with RTP on time (< 1 %
//	    of packets more than 5 ms late, measured by a receiver process with
//	    kernel timestamps);
//	(i) SIP calls per second answered by a Lua app with no media, beside a
//	    bare sipgo dialog-layer UAS and Kamailio answering statelessly.
//
// For (g)-(i) the server under test runs with GOMAXPROCS 1 pinned to core 0
// and sipp on core 1 (taskset); a rate counts only with < 1 % failed calls,
// < 1 % retransmissions and 99 % answered within 200 ms (see sip.go). They
// need sipp (sip-tester), flite and kamailio.
//
// Everything runs on loopback in this process; load loops are bounded in
// count and time.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/chorus-dev/chorus/channels"
	"github.com/chorus-dev/chorus/channels/web"
	"github.com/chorus-dev/chorus/runtime/applog"
	"github.com/chorus-dev/chorus/runtime/engine"
	"github.com/chorus-dev/chorus/runtime/sandbox"
	"github.com/chorus-dev/chorus/store"
	"github.com/chorus-dev/chorus/store/sqlite"
)

const threeLines = `local t = currentCall.initialText
local n = #t
say("you said " .. t .. " (" .. n .. ")")
`

// menuScript is a typical 30-line app body (string building, patterns,
// tables, pcall) for the second line of figure (c).
const menuScript = `local greeting = "Hello, " .. currentCall.initialText
local digits = {}
for i = 1, 20 do digits[#digits + 1] = tostring(i % 10) end
local code = table.concat(digits)
local menu = {
  {key = "1", label = "Sales"},
  {key = "2", label = "Support"},
  {key = "3", label = "Billing"},
}
local lines = {}
for _, item in ipairs(menu) do
  lines[#lines + 1] = string.format("Press %s for %s.", item.key, item.label)
end
local prompt = table.concat(lines, " ")
local function normalize(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""):lower())
end
local answer = normalize("  SUPPORT  ")
local choice
for _, item in ipairs(menu) do
  if item.label:lower() == answer then choice = item.key end
end
local n = 0
for w in prompt:gmatch("%a+") do n = n + 1 end
local ok, err = pcall(function() error("not fatal") end)
local count = select("#", 1, 2, 3)
say(choice .. ":" .. n .. ":" .. #code .. ":" .. count .. ":" .. greeting:upper())
`

const multiTurn = `while true do
  local ev = ask("next?", {choices = "[ANY]", timeout = 60})
  if ev.name ~= "choice" then break end
  say("got " .. ev.value)
end
`

var (
	duration = flag.Duration("d", 3*time.Second, "how long each load phase runs")
	workers  = flag.Int("c", 32, "concurrent HTTP clients")
	idle     = flag.Int("idle", 10000, "idle conversations for (d)")
	only     = flag.String("only", "abcdefghi", "which figures to measure")
)

func want(f string) bool { return strings.Contains(*only, f) }

type rig struct {
	st   *sqlite.Store
	sb   *sandbox.Sandbox
	eng  *engine.Engine
	web  *web.Channel
	srv  *http.Server
	url  string
	acct store.Account
}

func newRig(dir string) (*rig, error) {
	ctx := context.Background()
	key, err := store.LoadOrCreateKey(dir)
	if err != nil {
		return nil, err
	}
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "bench.db"), Key: key, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	sb, err := sandbox.New(sandbox.Config{})
	if err != nil {
		return nil, err
	}
	eng, err := engine.New(engine.Config{Store: st, Sandbox: sb, Logs: applog.New(st)})
	if err != nil {
		return nil, err
	}
	acct, _, err := st.CreateAccount(ctx, "bench", store.RoleDeveloper)
	if err != nil {
		return nil, err
	}
	for name, src := range map[string]string{"three": threeLines, "multi": multiTurn} {
		app, _, _, err := st.PutVersion(ctx, acct.ID, name, store.Version{Kind: "script", Files: map[string][]byte{"main.lua": []byte(src)}})
		if err != nil {
			return nil, err
		}
		if _, err := st.AddAddress(ctx, store.AddressRecord{Network: "web", Address: name, AccountID: acct.ID, AppID: app.ID}); err != nil {
			return nil, err
		}
	}
	wc, err := web.New(web.Config{
		Handler: eng,
		Resolve: func(ctx context.Context, a string) (bool, error) {
			return eng.Resolve(ctx, channels.Address{Network: channels.Web, ID: a})
		},
		NewID:            engine.NewID,
		PerSender:        1e9, // one client drives all the load
		PerIP:            1e9,
		MaxConversations: *idle + 1000,
	})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/web/{address}/messages", wc.HandleMessage)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &rig{st: st, sb: sb, eng: eng, web: wc, srv: &http.Server{Handler: mux}, url: "http://" + ln.Addr().String(), acct: acct}
	go r.srv.Serve(ln)
	return r, nil
}

func (r *rig) close() {
	_ = r.srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = r.web.Shutdown(ctx)
	_ = r.eng.Shutdown(ctx)
	_ = r.sb.Close()
	_ = r.st.Close()
}

// load posts turns from n workers for d; body(worker, i) makes each body.
func load(url string, n int, d time.Duration, body func(w, i int) []byte) (float64, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: n}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var count atomic.Int64
	var firstErr atomic.Value
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline) && i < 10_000_000; i++ {
				resp, err := hc.Post(url, "application/json", bytes.NewReader(body(w, i)))
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					firstErr.CompareAndSwap(nil, fmt.Errorf("status %d", resp.StatusCode))
					return
				}
				count.Add(1)
			}
		}(w)
	}
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		return 0, e.(error)
	}
	return float64(count.Load()) / time.Since(start).Seconds(), nil
}

func bareServer() (string, func()) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/web/{address}/messages", func(w http.ResponseWriter, r *http.Request) {
		var req web.TurnRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		resp := web.TurnResponse{Session: "s", State: "ended", Replies: []web.Reply{{Text: "you said " + req.Text}}}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(resp)
	})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }
}

func turnBody(from, text string) []byte {
	b, _ := json.Marshal(web.TurnRequest{From: from, Text: text})
	return b
}

func main() {
	if n, err := strconv.Atoi(os.Getenv(rtpReceiverEnv)); err == nil && n > 0 {
		rtpReceiverMain(n) // this binary as the RTP receiver of (h)
		return
	}
	flag.Parse()
	defer startProfile()()
	dir, err := os.MkdirTemp("", "chorus-bench-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	r, err := newRig(dir)
	if err != nil {
		fail(err)
	}
	defer r.close()
	fmt.Printf("chorus bench: %d cores, %s per phase, %d clients (GOMAXPROCS %d)\n\n", runtime.NumCPU(), *duration, *workers, runtime.GOMAXPROCS(0))

	// (a) new session per turn vs a bare handler.
	if want("a") {
		benchNewSessions(r)
	}
	if want("b") {
		benchMultiTurn(r)
	}
	if want("c") {
		benchStart(r.sb)
	}
	if want("e") {
		benchXMPP(r)
	}
	if want("f") {
		benchSMPP(r)
	}
	if want("g") || want("h") || want("i") {
		benchSIP(r, dir)
	}
	r.close()
	if want("d") {
		benchIdle(dir)
	}
}

func benchNewSessions(r *rig) {
	bareURL, stopBare := bareServer()
	bare, err := load(bareURL+"/v1/web/three/messages", *workers, *duration, func(w, i int) []byte { return turnBody(fmt.Sprint("w", w), "hello") })
	stopBare()
	if err != nil {
		fail(fmt.Errorf("bare handler: %w", err))
	}
	var seq atomic.Int64
	newSess, err := load(r.url+"/v1/web/three/messages", *workers, *duration, func(w, i int) []byte {
		return turnBody(fmt.Sprint("a", seq.Add(1)), "hello")
	})
	if err != nil {
		fail(fmt.Errorf("(a): %w", err))
	}
	fmt.Printf("(a) new-session web turns:   %8.0f turns/s   bare net/http JSON handler %8.0f req/s   ratio %.2f   (targets: >= 5000/s, >= 0.25)\n", newSess, bare, newSess/bare)
}

func benchMultiTurn(r *rig) {
	// (b) one long conversation per worker.
	for w := 0; w < *workers; w++ { // open each worker's conversation
		if _, err := load(r.url+"/v1/web/multi/messages", 1, time.Nanosecond, func(_, _ int) []byte { return turnBody(fmt.Sprint("m", w), "start") }); err != nil {
			fail(err)
		}
	}
	multi, err := load(r.url+"/v1/web/multi/messages", *workers, *duration, func(w, i int) []byte { return turnBody(fmt.Sprint("m", w), fmt.Sprint("turn ", i)) })
	if err != nil {
		fail(fmt.Errorf("(b): %w", err))
	}
	fmt.Printf("(b) turns inside ask:        %8.0f turns/s   (%d conversations, each one long ask loop)\n", multi, *workers)
}

func benchStart(sb *sandbox.Sandbox) {
	for _, app := range []struct{ name, src string }{{"3-line app", threeLines}, {"30-line app", menuScript}} {
		bu, ou := startFigure(sb, app.src)
		fmt.Printf("(c) session start, %-11s %6.1f µs        pooled bare lua.LState %8.1f µs          ratio %.2fx (target <= 2x)\n", app.name+":", ou, bu, ou/bu)
	}
}

// startFigure returns the median µs of a bare start and of a session start
// running src.
func startFigure(sb *sandbox.Sandbox, src string) (bare, ours float64) {
	bareRun, oursRun := startRunners(nil, sb, src)
	// Alternate short rounds and keep each side's median, so that GC and
	// the other core's noise fall on both alike.
	var bareNs, oursNs []float64
	for round := 0; round < 5; round++ {
		runtime.GC()
		r := testing.Benchmark(bareRun)
		bareNs = append(bareNs, float64(r.T.Nanoseconds())/float64(r.N))
		runtime.GC()
		r = testing.Benchmark(oursRun)
		oursNs = append(oursNs, float64(r.T.Nanoseconds())/float64(r.N))
	}
	return median(bareNs) / 1e3, median(oursNs) / 1e3
}

// startRunners returns the two sides of figure (c): a pooled bare LState
// and a sandbox session, each running the precompiled 3-line app.
func startRunners(tb testing.TB, sb *sandbox.Sandbox, src string) (bare, ours func(*testing.B)) {
	proto, err := sandbox.Compile("main.lua", []byte(src))
	if err != nil {
		fail(err)
	}
	pool := sync.Pool{New: func() any { return lua.NewState() }}
	bareRun := func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			L := pool.Get().(*lua.LState)
			ct := L.NewTable()
			ct.RawSetString("initialText", lua.LString("hello"))
			L.SetGlobal("currentCall", ct)
			L.SetGlobal("say", L.NewFunction(func(L *lua.LState) int { return 0 }))
			L.Push(L.NewFunctionFromProto(proto))
			if err := L.PCall(0, 0, nil); err != nil {
				b.Fatal(err)
			}
			pool.Put(L)
		}
	}
	oursRun := func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			s, err := sb.Start(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			L := s.L()
			ct := L.NewTable()
			ct.RawSetString("initialText", lua.LString("hello"))
			s.Globals().RawSetString("currentCall", ct)
			s.Globals().RawSetString("say", L.NewFunction(func(L *lua.LState) int { return 0 }))
			if err := s.Run(proto); err != nil {
				b.Fatal(err)
			}
			s.Close()
		}
	}
	return bareRun, oursRun
}

// benchIdle opens N conversations that wait in ask and measures the memory
// they hold (heap and goroutine stacks) per conversation.
func benchIdle(dir string) {
	sub := filepath.Join(dir, "idle")
	_ = os.MkdirAll(sub, 0o700)
	r, err := newRig(sub)
	if err != nil {
		fail(err)
	}
	defer r.close()
	th := r.web.Threads()
	to := channels.Address{Network: channels.Web, ID: "multi"}
	// Warm up the code cache and pools with one conversation.
	c, seq, _ := th.Deliver(channels.Message{From: channels.Address{Network: channels.Web, ID: "warm"}, To: to, Text: "hi"})
	c.WaitTurn(context.Background(), seq)
	_ = r.st.Sync(context.Background())
	before := heapAndStacks()
	start := time.Now()
	for i := 0; i < *idle; i++ {
		c, seq, err := th.Deliver(channels.Message{From: channels.Address{Network: channels.Web, ID: fmt.Sprint("idle", i)}, To: to, Text: "hi"})
		if err != nil {
			fail(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if _, st := c.WaitTurn(ctx, seq); st.String() != "waiting" {
			fail(fmt.Errorf("conversation %d is %s, not waiting", i, st))
		}
		cancel()
	}
	_ = r.st.Sync(context.Background())
	opened := time.Since(start)
	after := heapAndStacks()
	writeHeapProfile()
	per := float64(after-before) / float64(*idle)
	fmt.Printf("(d) idle waiting conversation: %6.1f KiB each with %d open (opened in %v; target <= 64 KiB)\n", per/1024, *idle, opened.Round(time.Millisecond))
	runtime.KeepAlive(th)
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func heapAndStacks() uint64 {
	runtime.GC()
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc + m.StackInuse
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}
