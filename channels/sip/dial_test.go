package sip

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/chorus-dev/chorus/channels"
	"github.com/chorus-dev/chorus/channels/sip/siptest"
)

// TestDialPlaysCollectsAndHangsUp: call() to a SIP URI. sipp answers
// (PCMU, telephone-event) and keys 4 2; the returned call plays a prompt
// (RTP goes out), collects the keys, and Close sends the BYE sipp waits
// for.
func TestDialPlaysCollectsAndHangsUp(t *testing.T) {
	t.Parallel()
	ch := startChannel(t, Config{TTS: testSynth(t), Handler: channels.HandlerFunc(func(channels.Conversation) {})})
	port, err := siptest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	phone := make(chan *siptest.SippResult, 1)
	go func() {
		res, err := siptest.Sipp(context.Background(), siptest.SippOptions{Scenario: "testdata/uas_dtmf.xml", Server: true, Local: netip.MustParseAddr("127.0.0.1"), Port: port, Timeout: 10 * time.Second})
		if err != nil {
			t.Error(err)
		}
		phone <- res
	}()
	time.Sleep(300 * time.Millisecond) // sipp listening
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conv, err := ch.Dial(ctx, "sip:weather@chorus.test", "sip:phone@127.0.0.1:"+strconv.Itoa(port),
		channels.DialOptions{Timeout: 5 * time.Second, Headers: map[string]string{"X-Chorus-Test": "dial"}})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	cl := conv.(channels.Call)
	if info := conv.Info(); info.Local.ID != "sip:weather@chorus.test" || info.Remote.ID != "sip:phone@127.0.0.1" || !info.Voice {
		t.Errorf("info %+v", info)
	}
	if err := cl.Play(ctx, "Hello.", channels.PlayOptions{}); err != nil {
		t.Fatalf("Play: %v", err)
	}
	sent := conv.(*call).media.stats.packets.Load()
	in, err := cl.Collect(ctx, channels.CollectOptions{Timeout: 5 * time.Second, InterDigit: 3 * time.Second, MaxDigits: 2})
	if err != nil || in.Text != "42" {
		t.Fatalf("Collect: %q, %v; want 42", in.Text, err)
	}
	if sent < 10 {
		t.Fatalf("%d RTP packets sent while playing", sent)
	}
	conv.(channels.Closer).Close()
	if err := context.Cause(conv.Context()); err == nil {
		t.Fatal("the call's context is still live after Close")
	}
	if _, err := cl.Collect(ctx, channels.CollectOptions{Timeout: time.Second}); !errors.Is(err, channels.ErrHangup) {
		t.Fatalf("Collect after Close: %v; want ErrHangup", err)
	}
	if res := <-phone; res == nil || res.ExitCode != 0 {
		t.Fatalf("sipp (the called phone) did not get its BYE:\n%v", res)
	}
}
