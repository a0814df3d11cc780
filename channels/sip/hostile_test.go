package sip

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chorus-dev/chorus/channels"
	"github.com/chorus-dev/chorus/channels/sip/siptest"
)

// exchange sends raw bytes over UDP to the channel and returns the first
// response line (or "" when none came within d).
func exchange(t *testing.T, ch *Channel, msg []byte, d time.Duration) string {
	t.Helper()
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(ch.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(msg); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65535)
	for {
		conn.SetReadDeadline(time.Now().Add(d))
		n, err := conn.Read(buf)
		if err != nil {
			return ""
		}
		line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
		if !strings.Contains(line, " 100 ") { // skip 100 Trying
			return line
		}
	}
}

func TestMalformedRequests(t *testing.T) {
	t.Parallel()
	ch := startChannel(t, Config{Resolve: only("weather"), Handler: channels.HandlerFunc(func(c channels.Conversation) {})})
	base := "Via: SIP/2.0/UDP 127.0.0.1:9;rport;branch=z9hG4bK%s\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:weather@chorus.test>\r\nCall-ID: %s\r\nMax-Forwards: 70\r\n"
	mk := func(start, branch, cseq, extra string) []byte {
		return []byte(start + "\r\n" + strings.ReplaceAll(strings.ReplaceAll(base, "%s", branch), "Call-ID: "+branch, "Call-ID: "+branch+"@x") + "CSeq: " + cseq + "\r\n" + extra + "Content-Length: 0\r\n\r\n")
	}
	cases := []struct {
		name, want string
		msg        []byte
	}{
		{"cseq method mismatch", "400", mk("OPTIONS sip:weather@chorus.test SIP/2.0", "m1", "1 INVITE", "")},
		{"unsupported require", "420", mk("OPTIONS sip:weather@chorus.test SIP/2.0", "m2", "1 OPTIONS", "Require: 100rel, foo\r\n")},
		{"unknown method", "501", mk("FROB sip:weather@chorus.test SIP/2.0", "m3", "1 FROB", "")},
		{"known method not served", "405", mk("REGISTER sip:chorus.test SIP/2.0", "m4", "1 REGISTER", "")},
		{"ok", "200", mk("OPTIONS sip:weather@chorus.test SIP/2.0", "m5", "1 OPTIONS", "")},
	}
	for _, c := range cases {
		line := exchange(t, ch, c.msg, time.Second)
		if !strings.Contains(line, " "+c.want+" ") {
			t.Errorf("%s: got %q, want %s", c.name, line, c.want)
		}
	}
}

// TestTortureCorpus sends every RFC 4475 and RFC 5118 message to the live
// endpoint: it must keep serving and not leak goroutines.
func TestTortureCorpus(t *testing.T) {
	ch := startChannel(t, Config{Resolve: only("weather"), RTPTimeout: time.Second, Handler: channels.HandlerFunc(func(c channels.Conversation) {
		if k, ok := c.(channels.Call); ok {
			_ = k.Reject(c.Context(), 486)
		}
	})})
	var files []string
	// The corpus is kept byte-exact in the repository (sipcheck's testdata),
	// so the test runs from any clone.
	for _, dir := range []string{"sipcheck/testdata/rfc4475", "sipcheck/testdata/rfc5118/wire"} {
		m, _ := filepath.Glob(filepath.Join(dir, "*.dat"))
		files = append(files, m...)
	}
	if len(files) < 40 {
		t.Fatalf("found %d torture messages under sipcheck/testdata (rfc4475, rfc5118/wire); the corpus is missing", len(files))
	}
	before := runtime.NumGoroutine()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		exchange(t, ch, data, 40*time.Millisecond)
	}
	code, out, err := siptest.Sipsak(context.Background(), "sip:weather@"+ch.Addr().String())
	if err != nil || code != 0 {
		t.Fatalf("after the torture messages OPTIONS got exit %d, %v\n%s", code, err, out)
	}
	// Server transactions linger for timer J/H (32 s on UDP); what must not
	// stay are call handlers and media goroutines.
	deadline := time.Now().Add(3 * time.Second)
	for {
		ch.mu.Lock()
		live := len(ch.calls)
		ch.mu.Unlock()
		if live == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls still live after the torture messages", live)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%d messages; goroutines %d before, %d after", len(files), before, runtime.NumGoroutine())
}

// TestHandlerPanic: a panicking app's caller hears an apology and BYE, and
// the channel keeps serving.
func TestHandlerPanic(t *testing.T) {
	t.Parallel()
	ch := startChannel(t, Config{TTS: testSynth(t), Resolve: only("weather"), Handler: channels.HandlerFunc(func(c channels.Conversation) {
		_ = c.(channels.Call).Answer(c.Context())
		panic("the app broke")
	})})
	ph, ctx := callWeather(t, ch, 15*time.Second)
	select {
	case <-ph.Bye():
	case <-ctx.Done():
		t.Fatal("no BYE after the handler panicked")
	}
	loud := 0
	for _, p := range ph.Received() {
		if !p.Silent {
			loud++
		}
	}
	if loud < 25 {
		t.Fatalf("%d packets of sound: no apology before the BYE", loud)
	}
	if code, out, err := siptest.Sipsak(context.Background(), "sip:weather@"+ch.Addr().String()); err != nil || code != 0 {
		t.Fatalf("the channel stopped serving after a panic: %d %v\n%s", code, err, out)
	}
}

// TestShutdownByesCalls: Shutdown waits for calls until its context ends,
// then the handlers see ErrShutdown and the callers get BYE.
func TestShutdownByesCalls(t *testing.T) {
	t.Parallel()
	rec := newRecord()
	started := make(chan struct{})
	ch := startChannel(t, Config{Handler: channels.HandlerFunc(func(c channels.Conversation) {
		defer close(rec.done)
		call := c.(channels.Call)
		_ = call.Answer(c.Context())
		close(started)
		_, rec.err = call.Collect(c.Context(), channels.CollectOptions{Timeout: 30 * time.Second})
	})})
	ph, ctx := callWeather(t, ch, 15*time.Second)
	<-started
	sctx, scancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer scancel()
	start := time.Now()
	_ = ch.Shutdown(sctx)
	select {
	case <-ph.Bye():
	case <-ctx.Done():
		t.Fatal("no BYE at shutdown")
	}
	rec.wait(t, time.Second)
	if !errors.Is(rec.err, channels.ErrShutdown) {
		t.Fatalf("Collect returned %v; want ErrShutdown", rec.err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("shutdown took %s", d)
	}
}
