package sms

import (
	"context"
	"errors"
	"strings"
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

func TestSMPPMultiTurn(t *testing.T) {
	smsc := smstest.StartSMSC(t, "chorus", "secret")
	sessions := make(chan string, 4)
	e := startSMPP(t, smsc, func(c channels.Conversation) {
		sessions <- c.Info().ID
		zipApp(c)
	}, nil)
	smsc.MO(phone, ourNum, "hi")
	if text, _ := e.nextText(t); text != "Which ZIP code?" {
		t.Fatalf("first reply %q", text)
	}
	smsc.MO(phone, ourNum, "32801")
	if text, _ := e.nextText(t); text != "Forecast for 32801" {
		t.Fatalf("second reply %q", text)
	}
	if text, _ := e.nextText(t); text != "Bye" {
		t.Fatalf("third reply %q", text)
	}
	if len(sessions) != 1 {
		t.Fatalf("the answer must go to the waiting conversation, not start %d", len(sessions))
	}
}

// long is a GSM text of n characters.
func long(n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		b.WriteString("Forecast ")
		b.WriteByte(byte('0' + i%10))
		b.WriteString(": sunny, 31C. ")
	}
	return b.String()[:n]
}

func TestSMPPLongReplyConcatenated(t *testing.T) {
	smsc := smstest.StartSMSC(t, "chorus", "secret")
	reply := long(400)
	e := startSMPP(t, smsc, func(c channels.Conversation) { _ = c.Send(context.Background(), reply) }, nil)
	smsc.MO(phone, ourNum, "32801")
	text, subs := e.nextText(t)
	if text != reply {
		t.Fatalf("joined reply:\n%q\nwant\n%q", text, reply)
	}
	if len(subs) != 3 {
		t.Fatalf("%d parts, want 3", len(subs))
	}
	for i, s := range subs {
		if s.Part != i+1 || s.Total != 3 || s.Ref != subs[0].Ref || s.EsmClass&0x40 == 0 || s.Coding != 0 || s.RegisteredDelivery != 1 {
			t.Errorf("part %d arrived as %+v (want parts in order with one reference and the UDH indicator)", i+1, s)
		}
		if want := []int{153, 153, 94}[i]; len(s.Text) != want {
			t.Errorf("part %d has %d characters, want %d", i+1, len(s.Text), want)
		}
	}
	// The next long reply uses another reference.
	smsc.MO(phone, ourNum, "again")
	_, subs2 := e.nextText(t)
	if subs2[0].Ref == subs[0].Ref {
		t.Errorf("two long replies share reference %d", subs[0].Ref)
	}
}

func TestSMPPUnicodeAndExtension(t *testing.T) {
	smsc := smstest.StartSMSC(t, "chorus", "secret")
	e := startSMPP(t, smsc, func(c channels.Conversation) {
		_ = c.Send(context.Background(), c.Info().InitialText)
	}, nil)
	cyr := strings.Repeat("Погода: солнечно ☀ ", 6) // 114 UTF-16 units: 2 parts
	for _, tc := range []struct {
		in     string
		coding int
		parts  int
	}{
		{"Привет ☀", 8, 1},
		{"Sunny 🌞 today", 8, 1}, // a surrogate pair
		{"Price: 5€ [ok] {x} ~^|\\ done", 0, 1},
		{strings.Repeat("€", 80), 0, 1}, // 160 septets: one part
		{strings.Repeat("€", 81), 0, 2}, // 162 septets
		{cyr, 8, 2},
		{strings.Repeat("🌞", 40), 8, 2}, // 80 units; no pair cut
	} {
		smsc.MO(phone, ourNum, tc.in)
		text, subs := e.nextText(t)
		if text != tc.in {
			t.Errorf("echo of %q came back as %q", tc.in, text)
		}
		if len(subs) != tc.parts || subs[0].Coding != tc.coding {
			t.Errorf("%q: %d parts in data_coding %d, want %d in %d", tc.in, len(subs), subs[0].Coding, tc.parts, tc.coding)
		}
	}
	// An MO in UCS-2 and one in Latin-1 are read by their data_coding.
	smsc.MOCoding(phone, ourNum, "hello", "ucs2")
	if text, _ := e.nextText(t); text != "hello" {
		t.Errorf("UCS-2 MO read as %q", text)
	}
	smsc.MOCoding(phone, ourNum, "ça va", "latin1")
	if text, subs := e.nextText(t); text != "ça va" || subs[0].Coding != 8 { // ç is not in GSM 03.38
		t.Errorf("Latin-1 MO read as %q (%+v)", text, subs)
	}
}

func TestSMPPConcatenatedMO(t *testing.T) {
	smsc := smstest.StartSMSC(t, "chorus", "secret")
	e := startSMPP(t, smsc, func(c channels.Conversation) {
		_ = c.Send(context.Background(), "got: "+c.Info().InitialText)
	}, nil)
	smsc.MOParts(phone, ourNum, []string{"first part, ", "second part, ", "third"}, 77, []int{3, 1, 2})
	if text, _ := e.nextText(t); text != "got: first part, second part, third" {
		t.Fatalf("reassembled MO %q", text)
	}
	for _, ev := range smsc.Events("deliver_resp") {
		if ev.Int("status") != 0 {
			t.Errorf("deliver_sm_resp %v", ev)
		}
	}
	// An incomplete one is delivered with what came after the wait.
	smsc.MOParts(phone, ourNum, []string{"only ", "never"}, 78, []int{1})
	text, _, err := smsc.NextText(ctxT(t, 10*time.Second), phone)
	if err != nil || text != "got: only " {
		t.Fatalf("incomplete MO after the wait: %q %v", text, err)
	}
	if !strings.Contains(e.logs.String(), "incomplete") {
		t.Errorf("the partial delivery is not logged")
	}
}

func TestSMPPReceipts(t *testing.T) {
	smsc := smstest.StartSMSC(t, "chorus", "secret")
	got := make(chan string, 8)
	sessions := make(chan string, 4)
	e := startSMPP(t, smsc, func(c channels.Conversation) {
		sessions <- c.Info().ID
		_ = c.Send(context.Background(), "Forecast: sunny")
		_ = c.Send(context.Background(), long(300))
		// A receipt must never reach the conversation as a message.
		for {
			m, err := c.Receive(context.Background(), 2*time.Second)
			if err != nil {
				return
			}
			got <- m.Text
		}
	}, nil)
	smsc.MO(phone, ourNum, "32801")
	_, subs := e.nextText(t)
	_, parts := e.nextText(t)
	session := <-sessions
	smsc.Receipt(subs[0].ID, "DELIVRD")
	if r := e.rec.next(t, 5*time.Second); r != session+" delivered" {
		t.Fatalf("receipt recorded as %q, want %q", r, session+" delivered")
	}
	// A two-part message is delivered when both parts are.
	smsc.Receipt(parts[0].ID, "DELIVRD")
	time.Sleep(300 * time.Millisecond)
	if n := e.rec.count(); n != 1 {
		t.Fatalf("a receipt for one part of two recorded already (%d receipts)", n)
	}
	smsc.ReceiptBody(parts[1].ID, "DELIVRD", "000") // body only: no TLVs
	if r := e.rec.next(t, 5*time.Second); r != session+" delivered" {
		t.Fatalf("receipt of the two-part message %q", r)
	}
	select {
	case m := <-got:
		t.Fatalf("a receipt reached the conversation as the message %q", m)
	case <-time.After(2500 * time.Millisecond):
	}
	// A failure, in a new conversation.
	smsc.MO(phone, ourNum, "again")
	_, subs = e.nextText(t)
	_, _ = e.nextText(t)
	session2 := <-sessions
	smsc.ReceiptBody(subs[0].ID, "UNDELIV", "001")
	if r := e.rec.next(t, 5*time.Second); r != session2+" failed: UNDELIV (err 001)" {
		t.Fatalf("failure receipt %q", r)
	}
	// An unknown id is logged and acknowledged.
	smsc.Receipt("nosuchid", "DELIVRD")
	ev, err := smsc.WaitEvent(ctxT(t, 5*time.Second), "deliver_resp")
	for err == nil && ev.String("what") != "receipt" {
		ev, err = smsc.WaitEvent(ctxT(t, 5*time.Second), "deliver_resp")
	}
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if !strings.Contains(e.logs.String(), "does not remember") {
		t.Errorf("a receipt for an unknown id is not logged")
	}
}

func TestSMPPDropAndRebind(t *testing.T) {
	smsc := smstest.StartSMSC(t, "chorus", "secret")
	release := make(chan struct{})
	sessions := make(chan string, 4)
	e := startSMPP(t, smsc, func(c channels.Conversation) {
		sessions <- c.Info().ID
		ctx := context.Background()
		_ = c.Send(ctx, "Which ZIP code?")
		m, err := c.Receive(ctx, 20*time.Second)
		if err != nil {
			return
		}
		<-release // the link drops while the app works on the answer
		_ = c.Send(ctx, "Forecast for "+m.Text)
		m, err = c.Receive(ctx, 20*time.Second)
		if err != nil {
			return
		}
		_ = c.Send(ctx, "Bye "+m.Text)
	}, nil)
	smsc.MO(phone, ourNum, "hi")
	if text, _ := e.nextText(t); text != "Which ZIP code?" {
		t.Fatalf("first reply %q", text)
	}
	smsc.MO(phone, ourNum, "32801")
	if _, err := smsc.WaitEvent(ctxT(t, 5*time.Second), "deliver_resp"); err != nil {
		t.Fatal(err)
	}
	if _, err := smsc.WaitEvent(ctxT(t, 5*time.Second), "deliver_resp"); err != nil {
		t.Fatal(err)
	}
	smsc.Pause()
	smsc.Drop()
	seen := e.waitState(t, StateFailed, 5*time.Second)
	if seen[0] != StateConnected {
		t.Fatalf("states %v", seen)
	}
	st, detail, retry := e.ch.State(ourNum)
	if !strings.Contains(detail, "closed the connection during the bind") || retry.IsZero() {
		t.Errorf("state while the SMSC refuses: %s %q retry %v", st, detail, retry)
	}
	close(release) // the reply is produced while the link is down
	time.Sleep(500 * time.Millisecond)
	if subs := smsc.Submits(); len(subs) != 0 {
		t.Fatalf("submitted while the link was down: %+v", subs)
	}
	smsc.Resume()
	seen = e.waitState(t, StateConnected, 10*time.Second)
	if !containsState(seen, StateConnecting) && !containsState(seen, StateFailed) {
		t.Errorf("states on the way back %v", seen)
	}
	if text, _ := e.nextText(t); text != "Forecast for 32801" {
		t.Fatalf("the reply queued across the drop came as %q", text)
	}
	smsc.MO(phone, ourNum, "thanks")
	if text, _ := e.nextText(t); text != "Bye thanks" {
		t.Fatalf("after the rebind: %q", text)
	}
	if len(sessions) != 1 {
		t.Errorf("the conversation did not continue: %d sessions", len(sessions))
	}
	// A plain drop: the link comes straight back.
	smsc.Drop()
	e.waitState(t, StateConnecting, 5*time.Second)
	e.waitState(t, StateConnected, 5*time.Second)
	smsc.MO(phone, ourNum, "hi")
	if text, _ := e.nextText(t); text != "Which ZIP code?" {
		t.Fatalf("after a plain drop: %q", text)
	}
	for _, s := range []string{"link dropped", "bind failed"} {
		if !strings.Contains(e.logs.String(), s) {
			t.Errorf("no log line with %q", s)
		}
	}
}

func containsState(seen []string, s string) bool {
	for _, x := range seen {
		if x == s {
			return true
		}
	}
	return false
}

func TestSMPPWrongPassword(t *testing.T) {
	smsc := smstest.StartSMSC(t, "chorus", "secret")
	e := startSMPP(t, smsc, forecast, func(c *Config) { c.SMPP[0].Password = "wrong" })
	e.waitState(t, StateFailed, 5*time.Second)
	st, detail, retry := e.ch.State(ourNum)
	if !strings.Contains(detail, "bind refused") || !strings.Contains(detail, "ESME_RBINDFAIL") || retry.IsZero() {
		t.Fatalf("state %s %q %v", st, detail, retry)
	}
	start := time.Now()
	err := e.ch.SendMessage(ctxT(t, 10*time.Second), channels.Message{From: number(ourNum), To: number(phone), Text: "hi"})
	if err == nil || !errors.Is(err, channels.ErrUnavailable) || !strings.Contains(err.Error(), "ESME_RBINDFAIL") || time.Since(start) > 2*time.Second {
		t.Fatalf("send on a refused link: %v after %s", err, time.Since(start))
	}
	if !strings.Contains(e.logs.String(), "bind failed") {
		t.Errorf("the refused bind is not logged")
	}
}

func TestSMPPUnboundNumber(t *testing.T) {
	smsc := smstest.StartSMSC(t, "chorus", "secret")
	called := make(chan struct{}, 1)
	e := startSMPP(t, smsc, func(c channels.Conversation) { called <- struct{}{} }, nil)
	smsc.MO(phone, "+15559999999", "hello")
	ev, err := smsc.WaitEvent(ctxT(t, 5*time.Second), "deliver_resp")
	if err != nil || ev.Int("status") != 0 {
		t.Fatalf("deliver_sm to an unbound number must be acknowledged: %v %v", ev, err)
	}
	select {
	case <-called:
		t.Fatal("a message to an unbound number reached the handler")
	case <-time.After(500 * time.Millisecond):
	}
	if !strings.Contains(e.logs.String(), "not bound") {
		t.Errorf("not logged")
	}
	if st, _, _ := e.ch.State("+15559999999"); st != StateDisabled {
		t.Errorf("state of an unbound number %q", st)
	}
	// Rebinding the numbers takes effect at once.
	e.ch.SetNumbers([]Number{{Number: ourNum, Route: "main"}, {Number: "1 (555) 999-9999", Route: "main"}})
	smsc.MO(phone, "+15559999999", "hello")
	select {
	case <-called:
	case <-time.After(5 * time.Second):
		t.Fatal("a message to a newly bound number did not reach the handler")
	}
}

func TestSMPPSubmitRate(t *testing.T) {
	smsc := smstest.StartSMSC(t, "chorus", "secret")
	e := startSMPP(t, smsc, forecast, func(c *Config) { c.SMPP[0].SubmitPerSecond = 5; c.SMPP[0].Window = 2 })
	const n = 12
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			errs <- e.ch.SendMessage(ctxT(t, 20*time.Second), channels.Message{From: number(ourNum), To: number(phone), Text: "tick", SessionID: "rate"})
		}()
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var at []time.Time
	for i := 0; i < n; i++ {
		s, err := smsc.NextSubmit(ctxT(t, 5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		at = append(at, s.At)
	}
	for i := range at {
		inSecond := 0
		for j := i; j < len(at) && at[j].Sub(at[i]) < time.Second; j++ {
			inSecond++
		}
		if inSecond > 6 {
			t.Errorf("%d submits within one second from submit %d (limit 5/s)", inSecond, i)
		}
	}
	if span := at[len(at)-1].Sub(at[0]); span < 2*time.Second || span > 4*time.Second {
		t.Errorf("%d submits at 5/s took %s", n, span)
	}
}
