package sip

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/chorus-dev/chorus/channels"
)

// TestMalformedResponseDropped: the far end of a MESSAGE we send answers
// first with a 486 that has two Vias (RFC 3261 8.1.3.3: discard), then
// with a well-formed 200. The 486 never reaches the transaction: the send
// succeeds, and the drop is counted.
func TestMalformedResponseDropped(t *testing.T) {
	t.Parallel()
	ch := startChannel(t, Config{Handler: channels.HandlerFunc(func(channels.Conversation) {})})
	peer, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	answered := make(chan error, 1)
	go func() {
		buf := make([]byte, 65535)
		peer.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := peer.ReadFromUDP(buf)
		if err != nil {
			answered <- err
			return
		}
		msg, err := sip.ParseMessage(buf[:n])
		if err != nil {
			answered <- err
			return
		}
		req := msg.(*sip.Request)
		bad := sip.NewResponseFromRequest(req, 486, "Busy Here", nil)
		bad.AppendHeader(sip.NewHeader("Via", "SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKextra"))
		if _, err := peer.WriteToUDP([]byte(bad.String()), from); err != nil {
			answered <- err
			return
		}
		time.Sleep(100 * time.Millisecond)
		good := sip.NewResponseFromRequest(req, 200, "OK", nil)
		_, err = peer.WriteToUDP([]byte(good.String()), from)
		answered <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = ch.SendMessage(ctx, channels.Message{
		From: channels.Address{Network: channels.SIP, ID: "sip:weather@chorus.test"},
		To:   channels.Address{Network: channels.SIP, ID: "sip:peer@127.0.0.1:" + strconv.Itoa(peer.LocalAddr().(*net.UDPAddr).Port)},
		Text: "hello",
	})
	if perr := <-answered; perr != nil {
		t.Fatalf("the peer: %v", perr)
	}
	if err != nil {
		t.Fatalf("SendMessage: %v; want success (the malformed 486 dropped, the 200 taken)", err)
	}
	if n := ch.badResponses.Load(); n != 1 {
		t.Fatalf("%d malformed responses counted; want 1", n)
	}
}
