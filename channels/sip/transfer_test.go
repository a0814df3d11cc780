package sip

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chorus-dev/chorus/channels"
	"github.com/chorus-dev/chorus/channels/sip/siptest"
)

func TestTransferByRefer(t *testing.T) {
	t.Parallel()
	rec := newRecord()
	ch := startChannel(t, Config{Handler: channels.HandlerFunc(func(c channels.Conversation) {
		defer close(rec.done)
		rec.err = c.(channels.Call).Transfer(c.Context(), "sip:sales@example.net", channels.TransferOptions{Timeout: 5 * time.Second})
		rec.cause = context.Cause(c.Context())
	})})
	res := sipp(t, ch, "uac_refer.xml", "weather", 10*time.Second)
	if res.ExitCode != 0 {
		t.Fatalf("sipp:\n%s", res)
	}
	rec.wait(t, 2*time.Second)
	if rec.err != nil || rec.cause != errTransferred {
		t.Fatalf("transfer %v, cause %v", rec.err, rec.cause)
	}
}

// TestTransferBridge: the caller (a phone that does not take REFER) is
// bridged to a target that answers with PCMA; the phone hears the target's
// audio, and when the target hangs up the app has the caller back.
func TestTransferBridge(t *testing.T) {
	t.Parallel()
	rec := newRecord()
	port, err := siptest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	ch := startChannel(t, Config{Handler: channels.HandlerFunc(func(c channels.Conversation) {
		defer close(rec.done)
		call := c.(channels.Call)
		_ = call.Answer(c.Context())
		rec.err = call.Transfer(c.Context(), "sip:target@127.0.0.1:"+strconv.Itoa(port), channels.TransferOptions{Timeout: 5 * time.Second})
		rec.cause = context.Cause(c.Context())
	})})
	target := make(chan *siptest.SippResult, 1)
	go func() {
		res, err := siptest.Sipp(context.Background(), siptest.SippOptions{Scenario: "testdata/uas_pcma.xml", Server: true, Local: netip.MustParseAddr("127.0.0.1"), Port: port, Timeout: 10 * time.Second})
		if err != nil {
			t.Error(err)
		}
		target <- res
	}()
	time.Sleep(300 * time.Millisecond) // sipp listening
	ph, ctx := callWeather(t, ch, 15*time.Second)
	select {
	case <-ph.Bye():
	case <-ctx.Done():
		t.Fatal("no BYE")
	}
	rec.wait(t, 2*time.Second)
	if res := <-target; res == nil || res.ExitCode != 0 {
		t.Fatalf("target sipp:\n%v", res)
	}
	if rec.err != nil || rec.cause != nil && rec.cause != errHungUp {
		t.Fatalf("transfer %v (cause %v); want nil when the target hangs up", rec.err, rec.cause)
	}
	loud := 0
	for _, p := range ph.Received() {
		if !p.Silent {
			loud++
		}
	}
	if loud < 40 {
		t.Fatalf("the phone heard %d packets of the target's audio in 1.5 s", loud)
	}
}

// TestTransferReferRefusedBridges: the caller lists REFER in Allow but
// refuses the app's REFER (405, then 603): the channel falls back to
// calling the target and bridging, and when the target hangs up the
// caller is back with the app, which hangs up.
func TestTransferReferRefusedBridges(t *testing.T) {
	t.Parallel()
	tmpl, err := os.ReadFile("testdata/uac_refer_refused.xml")
	if err != nil {
		t.Fatal(err)
	}
	for _, status := range []string{"405", "603"} {
		port, err := siptest.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		rec := newRecord()
		var took time.Duration
		ch := startChannel(t, Config{Handler: channels.HandlerFunc(func(c channels.Conversation) {
			defer close(rec.done)
			call := c.(channels.Call)
			if rec.err = call.Answer(c.Context()); rec.err != nil {
				return
			}
			start := time.Now()
			rec.err = call.Transfer(c.Context(), "sip:target@127.0.0.1:"+strconv.Itoa(port), channels.TransferOptions{Timeout: 5 * time.Second})
			took = time.Since(start)
			rec.cause = context.Cause(c.Context())
			_ = call.Hangup(c.Context())
		})})
		target := make(chan *siptest.SippResult, 1)
		go func() {
			res, err := siptest.Sipp(context.Background(), siptest.SippOptions{Scenario: "testdata/uas_pcma.xml", Server: true, Local: netip.MustParseAddr("127.0.0.1"), Port: port, Timeout: 10 * time.Second})
			if err != nil {
				t.Error(err)
			}
			target <- res
		}()
		time.Sleep(300 * time.Millisecond) // the target listening
		scen := filepath.Join(t.TempDir(), "refused.xml")
		if err := os.WriteFile(scen, []byte(strings.ReplaceAll(string(tmpl), "STATUS", status)), 0o644); err != nil {
			t.Fatal(err)
		}
		res := sipp(t, ch, scen, "weather", 15*time.Second)
		if res.ExitCode != 0 {
			t.Fatalf("REFER refused with %s: the caller's sipp:\n%s", status, res)
		}
		rec.wait(t, 2*time.Second)
		if tr := <-target; tr == nil || tr.ExitCode != 0 {
			t.Fatalf("REFER refused with %s: the target was not called and bridged:\n%v", status, tr)
		}
		if rec.err != nil || rec.cause != nil {
			t.Fatalf("REFER refused with %s: Transfer %v (cause %v); want nil after the bridge when the target hangs up", status, rec.err, rec.cause)
		}
		if took < 1500*time.Millisecond {
			t.Fatalf("REFER refused with %s: Transfer returned after %s, before the target (1.5 s of audio) hung up", status, took)
		}
	}
}
