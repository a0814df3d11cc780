package sip

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/chorus-dev/chorus/channels"
	"github.com/chorus-dev/chorus/channels/sip/siptest"
)

// sendNine sends key 9 as RFC 4733 events (payload type 101) from conn to
// the call's media address.
func sendNine(t *testing.T, conn *net.UDPConn, to *net.UDPAddr) {
	t.Helper()
	for i := 0; i < 4; i++ {
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, SequenceNumber: uint16(500 + i), Timestamp: 99000, SSRC: 0xbad, Marker: i == 0},
			Payload: []byte{9, 10, 0, byte(160 * (i + 1))}}
		if i == 3 {
			pkt.Payload[1] |= 0x80
		}
		b, _ := pkt.Marshal()
		if _, err := conn.WriteToUDP(b, to); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRTPFromUnexpectedSource: a third party sends key 9 to the call's RTP
// port before the phone keys 4. By default only the address of the phone's
// SDP is heard (the app gets 4). With RTPLatch the first source is latched
// (the app gets 9, the phone's 4 is dropped, and our RTP goes to the
// latched source).
func TestRTPFromUnexpectedSource(t *testing.T) {
	t.Parallel()
	synth := testSynth(t)
	for _, latch := range []bool{false, true} {
		rec := newRecord()
		var k *call
		ch := startChannel(t, Config{RTPLatch: latch, TTS: synth, Handler: channels.HandlerFunc(func(c channels.Conversation) {
			defer close(rec.done)
			k = c.(*call)
			in, err := k.Collect(c.Context(), channels.CollectOptions{Timeout: 3 * time.Second, MaxDigits: 1})
			rec.digits, rec.err = in.Text, err
			_ = k.Play(c.Context(), "OK.", channels.PlayOptions{}) // RTP out, after the latch
		})})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ph, err := siptest.Call(ctx, ch.Addr(), "weather")
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		stranger, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		sendNine(t, stranger, net.UDPAddrFromAddrPort(ph.RemoteMedia()))
		if err := ph.SendDigit('4'); err != nil {
			t.Fatal(err)
		}
		rec.wait(t, 5*time.Second)
		heard := 0
		stranger.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		buf := make([]byte, 1500)
		for {
			if _, _, err := stranger.ReadFromUDP(buf); err != nil {
				break
			}
			heard++
		}
		stranger.Close()
		ph.Close()
		cancel()
		want := "4"
		if latch {
			want = "9"
		}
		if rec.err != nil || rec.digits != want {
			t.Fatalf("latch %v: Collect %q, %v; want %s", latch, rec.digits, rec.err, want)
		}
		if dropped := k.media.foreign.Load(); dropped == 0 {
			t.Fatalf("latch %v: no packet from the other source was dropped", latch)
		}
		if latch && heard == 0 {
			t.Fatal("latched: our RTP did not go to the latched source")
		}
		if !latch && heard > 0 {
			t.Fatalf("not latched: %d of our RTP packets went to the stranger", heard)
		}
	}
}
