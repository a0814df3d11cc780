package sms

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/chorus-dev/chorus/channels"
	"github.com/chorus-dev/chorus/channels/sms/smstest"
)

// The SMPP tests talk to a real SMSC (e2e/smsc.mjs, npm smpp) that plays
// the phone's side.

// echo answers every conversation's first message once.
func forecast(c channels.Conversation) {
	_ = c.Send(context.Background(), "Forecast for "+c.Info().InitialText)
}

// zipApp asks for a ZIP until it gets five digits, then answers and ends.
func zipApp(c channels.Conversation) {
	ctx := context.Background()
	text := c.Info().InitialText
	for len(text) != 5 {
		if err := c.Send(ctx, "Which ZIP code?"); err != nil {
			return
		}
		m, err := c.Receive(ctx, 20*time.Second)
		if err != nil {
			return
		}
		text = m.Text
	}
	_ = c.Send(ctx, "Forecast for "+text)
	_ = c.Send(ctx, "Bye")
}

func TestSMPPOneShot(t *testing.T) {
	smsc := smstest.StartSMSC(t, "chorus", "secret")
	var mu sync.Mutex
	var info channels.Info
	e := startSMPP(t, smsc, func(c channels.Conversation) {
		mu.Lock()
		info = c.Info()
		mu.Unlock()
		forecast(c)
	}, nil)
	bind, err := smsc.WaitEvent(ctxT(t, 5*time.Second), "bind")
	if err != nil || !bind.Bool("ok") || bind.String("system_id") != "chorus" || bind.String("system_type") != "chorus" {
		t.Fatalf("bind at the SMSC: %v %v", bind, err)
	}
	smsc.MO(phone, ourNum, "32801")
	text, subs := e.nextText(t)
	if text != "Forecast for 32801" {
		t.Fatalf("reply %q", text)
	}
	s := subs[0]
	if s.From != ourNum || s.To != phone || s.Coding != 0 || s.RegisteredDelivery != 1 || s.Total != 0 || s.EsmClass&0x40 != 0 {
		t.Errorf("submit_sm %+v", s)
	}
	if s.SourceTON != 1 || s.SourceNPI != 1 || s.DestTON != 1 || s.DestNPI != 1 {
		t.Errorf("numbers must go out as TON international, NPI E.164: %+v", s)
	}
	mu.Lock()
	if info.Local != (channels.Address{Network: channels.SMS, ID: ourNum}) || info.Remote != (channels.Address{Network: channels.SMS, ID: phone}) || info.InitialText != "32801" || info.ID == "" {
		t.Errorf("conversation info %+v", info)
	}
	mu.Unlock()
	if ev, err := smsc.WaitEvent(ctxT(t, 5*time.Second), "enquire_link"); err != nil {
		t.Errorf("no enquire_link keep-alive: %v %v", ev, err)
	}
	// Shutdown unbinds cleanly.
	sctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	if err := e.ch.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	if _, err := smsc.WaitEvent(ctxT(t, 3*time.Second), "unbind"); err != nil {
		t.Errorf("no unbind at shutdown: %v", err)
	}
	if st, _, _ := e.ch.State(ourNum); st != StateFailed {
		t.Errorf("state after shutdown %q", st)
	}
}
