package sms

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/linxGnu/gosmpp/pdu"

	"github.com/chorus-dev/chorus/channels"
	"github.com/chorus-dev/chorus/channels/sms/smstest"
)

// These tests need no peer.

func TestGSMDetection(t *testing.T) {
	for _, tc := range []struct {
		text    string
		septets int
		gsm     bool
	}{
		{"", 0, true},
		{"Forecast for 32801", 18, true},
		{"@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ!\"#¤%&'()*+,-./:;<=>?¡ÄÖÑÜ§¿äöñüà\n\r", 64, true},
		{"€", 2, true},
		{"{}[]~^|\\\f", 18, true},
		{"5€ [ok]", 10, true},
		{"ç", 0, false}, // only Ç is in the alphabet
		{"Привет", 0, false},
		{"☀", 0, false},
		{"`", 0, false},
		{"\t", 0, false},
	} {
		n, ok := gsmSeptets(tc.text)
		if ok != tc.gsm || (ok && n != tc.septets) {
			t.Errorf("%q: %d septets, gsm %v; want %d, %v", tc.text, n, ok, tc.septets, tc.gsm)
		}
		if ok {
			if enc := encodeGSM(tc.text); len(enc) != n || decodeGSM(enc) != tc.text {
				t.Errorf("%q: encoded %x (%d octets) decodes to %q", tc.text, enc, len(enc), decodeGSM(enc))
			}
		}
	}
	if got := encodeGSM("@A€"); string(got) != "\x00A\x1B\x65" {
		t.Errorf("@A€ encoded as %x", got)
	}
	if got := decodeGSM([]byte{0x1B, 0x41, 0x1B}); got != "A" { // unknown escape: the basic character; dangling escape dropped
		t.Errorf("decode of bad escapes: %q", got)
	}
}

func TestEncodeSplit(t *testing.T) {
	check := func(name, text string, coding byte, sizes ...int) {
		t.Helper()
		enc, err := encodeSMS(text)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if enc.coding != coding || len(enc.parts) != len(sizes) {
			t.Fatalf("%s: coding %d, %d parts; want %d, %d", name, enc.coding, len(enc.parts), coding, len(sizes))
		}
		var joined []byte
		for i, p := range enc.parts {
			if len(p) != sizes[i] {
				t.Errorf("%s: part %d has %d octets, want %d", name, i+1, len(p), sizes[i])
			}
			joined = append(joined, p...)
		}
		if got, _ := decodeText(coding, joined); got != text {
			t.Errorf("%s: parts decode to %q", name, got)
		}
		for _, p := range enc.parts {
			if coding == codingGSM && p[len(p)-1] == 0x1B {
				t.Errorf("%s: an escape is cut from its character", name)
			}
			if coding == codingUCS2 {
				last := uint16(p[len(p)-2])<<8 | uint16(p[len(p)-1])
				if last >= 0xD800 && last < 0xDC00 {
					t.Errorf("%s: a surrogate pair is cut", name)
				}
			}
		}
	}
	check("160 septets", strings.Repeat("a", 160), codingGSM, 160)
	check("161 septets", strings.Repeat("a", 161), codingGSM, 153, 8)
	check("400", strings.Repeat("b", 400), codingGSM, 153, 153, 94)
	check("80 euros", strings.Repeat("€", 80), codingGSM, 160)
	check("escape at the boundary", strings.Repeat("a", 152)+"€"+strings.Repeat("b", 10), codingGSM, 152, 12)
	check("70 units", strings.Repeat("Ж", 70), codingUCS2, 140)
	check("71 units", strings.Repeat("Ж", 71), codingUCS2, 134, 8)
	check("pair at the boundary", strings.Repeat("Ж", 66)+"🌞"+strings.Repeat("Ж", 5), codingUCS2, 132, 14)
	check("35 suns", strings.Repeat("🌞", 35), codingUCS2, 140)
	check("emoji", "Sunny 🌞", codingUCS2, 2*(6+2))
	if _, err := encodeSMS(strings.Repeat("a", 153*255+1)); !errors.Is(err, errTooLong) {
		t.Errorf("a text of 256 parts: %v", err)
	}
	// UCS-2 of a character past U+FFFF is its surrogate pair.
	enc, _ := encodeSMS("🌞")
	if u := utf16.Encode([]rune("🌞")); len(enc.parts[0]) != 4 || enc.parts[0][0] != byte(u[0]>>8) {
		t.Errorf("🌞 encoded as %x", enc.parts[0])
	}
}

func TestDecodeText(t *testing.T) {
	for _, tc := range []struct {
		coding byte
		in     []byte
		want   string
		known  bool
	}{
		{codingGSM, []byte("Hi\x00\x1B\x65"), "Hi@€", true},
		{codingASCII, []byte("Hi@"), "Hi@", true},
		{codingLatin1, []byte("caf\xe9"), "café", true},
		{codingUCS2, []byte{0x04, 0x1F, 0xD8, 0x3C, 0xDF, 0x1E}, "П🌞", true},
		{codingUCS2, []byte{0x00, 0x41, 0x00}, "A", true}, // odd length: the half unit is dropped
		{0x18, []byte{0x00, 0x41}, "A", true},             // general coding group, UCS-2
		{0xF0, []byte("Hi"), "Hi", true},                  // message class 0, GSM
		{codingBin2, []byte("x"), "x", false},
	} {
		got, known := decodeText(tc.coding, tc.in)
		if got != tc.want || known != tc.known {
			t.Errorf("coding 0x%02X %x: %q %v, want %q %v", tc.coding, tc.in, got, known, tc.want, tc.known)
		}
	}
}

func TestParseReceipt(t *testing.T) {
	for _, tc := range []struct {
		body string
		want receipt
		ok   bool
	}{
		{"id:0123456789 sub:001 dlvrd:001 submit date:2311220401 done date:2311220402 stat:DELIVRD err:000 text:Forecast for 32801", receipt{"0123456789", "DELIVRD", "000"}, true},
		{"id:m00001 sub:001 dlvrd:000 submit date:2311220401 done date:2311220402 stat:UNDELIV err:001 Text:", receipt{"m00001", "UNDELIV", "001"}, true},
		{"ID:ab12 STAT:expired ERR:004", receipt{"ab12", "EXPIRED", "004"}, true},
		{"stat:DELIVRD id:7", receipt{"7", "DELIVRD", ""}, true},
		{"hello world", receipt{}, false},
		{"id: stat:DELIVRD", receipt{"", "DELIVRD", ""}, false},
		{"xid:1 stat:DELIVRD", receipt{"", "DELIVRD", ""}, false}, // "id:" only as a word
	} {
		got, ok := parseReceipt(tc.body)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%q: %+v %v, want %+v %v", tc.body, got, ok, tc.want, tc.ok)
		}
	}
}

func TestSentLog(t *testing.T) {
	l := newSentLog(3, time.Hour)
	one := &outgoing{session: "s1", parts: 1}
	two := &outgoing{session: "s2", parts: 2}
	l.add("r", "000A1", one)
	l.add("r", "b1", two)
	l.add("r", "b2", two)
	if s, text, known, ok := l.settle("r", "a1", "ENROUTE", ""); !known || ok || s != "s1" || text != "" {
		t.Errorf("intermediate: %q %q %v %v", s, text, known, ok)
	}
	if s, text, _, ok := l.settle("r", "A1", "DELIVRD", "000"); !ok || s != "s1" || text != "delivered" {
		t.Errorf("leading zeros and case: %q %q %v", s, text, ok)
	}
	if _, _, _, ok := l.settle("r", "a1", "DELIVRD", "000"); ok {
		t.Errorf("a settled message settled twice")
	}
	if _, _, _, ok := l.settle("r", "b1", "DELIVRD", ""); ok {
		t.Errorf("one of two parts settled the message")
	}
	if s, text, _, ok := l.settle("r", "b2", "DELIVRD", ""); !ok || s != "s2" || text != "delivered" {
		t.Errorf("two parts: %q %q %v", s, text, ok)
	}
	// Bounded by size: the oldest go first.
	l.add("r", "c1", &outgoing{session: "s3", parts: 1})
	if l.len() != 3 {
		t.Errorf("%d ids kept, want 3", l.len())
	}
	if _, _, known, _ := l.settle("r", "a1", "DELIVRD", ""); known {
		t.Errorf("the oldest id was not evicted")
	}
	// Decimal in the receipt, hex in submit_sm_resp.
	l.add("r", "1f", &outgoing{session: "s4", parts: 1})
	if s, text, _, ok := l.settle("r", "31", "UNDELIV", "001"); !ok || s != "s4" || text != "failed: UNDELIV (err 001)" {
		t.Errorf("decimal for hex: %q %q %v", s, text, ok)
	}
	// Bounded by age.
	old := newSentLog(10, 10*time.Millisecond)
	old.add("r", "x", one)
	time.Sleep(20 * time.Millisecond)
	old.add("r", "y", one)
	if old.len() != 1 {
		t.Errorf("old ids kept: %d", old.len())
	}
	// Many adds keep the order slice bounded.
	big := newSentLog(100, time.Hour)
	for i := 0; i < 10000; i++ {
		big.add("r", string(rune('a'+i%26))+strings.Repeat("x", i%7)+string(rune(i)), one)
	}
	if big.len() > 100 || len(big.order)-big.head > 100 || len(big.order) > 2200 {
		t.Errorf("sentLog grew: %d ids, order %d (head %d)", big.len(), len(big.order), big.head)
	}
}

// TestSentLogRoutes: a receipt finds its message only on the route that
// sent it: two SMSCs (or an SMSC and a provider) number their messages
// independently, and the same id on another route is another message.
func TestSentLogRoutes(t *testing.T) {
	l := newSentLog(10, time.Hour)
	l.add("main", "m000001", &outgoing{session: "alice", parts: 1})
	l.add("backup", "m000001", &outgoing{session: "bob", parts: 1})
	if s, _, _, ok := l.settle("backup", "m000001", "DELIVRD", ""); !ok || s != "bob" {
		t.Errorf("backup's receipt went to %q (ok %v), want bob", s, ok)
	}
	if s, _, _, ok := l.settle("main", "m000001", "DELIVRD", ""); !ok || s != "alice" {
		t.Errorf("main's receipt went to %q (ok %v), want alice", s, ok)
	}
	if s, _, known, _ := l.settle("other", "m000001", "DELIVRD", ""); known {
		t.Errorf("a receipt on a route that sent nothing went to %q", s)
	}
	if l.len() != 2 {
		t.Errorf("%d ids kept, want 2", l.len())
	}
}

// TestE164FromSMPP: SMPP addresses become E.164 by their TON; a sender in
// national form is refused rather than answered at a wrong number.
func TestE164FromSMPP(t *testing.T) {
	for _, tc := range []struct {
		ton       byte
		addr      string
		strict    bool
		want, err string
	}{
		{1, "15551234567", true, "+15551234567", ""},
		{1, "+15551234567", true, "+15551234567", ""},
		{0, "15551234567", true, "+15551234567", ""},
		{0, "004479111234567", true, "+4479111234567", ""},
		{0, "07911123456", true, "", "national number"},
		{2, "7911123456", true, "", "TON 2"},
		{5, "BANK", true, "", "TON 5"},
		{1, "0791112345", true, "", "national number"},
		{0, "004479111234567", false, "+4479111234567", ""},
		{3, "32801", false, "+32801", ""}, // our short code, as bound
	} {
		a := pdu.NewAddressWithTonNpi(tc.ton, 1)
		if err := a.SetAddress(tc.addr); err != nil {
			t.Fatal(err)
		}
		got, err := e164(a, tc.strict)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("e164(TON %d %q) = %q, %v; want %q", tc.ton, tc.addr, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("e164(TON %d %q) = %q, %v; want an error with %q", tc.ton, tc.addr, got, err, tc.err)
		}
	}
}

func TestSignature(t *testing.T) {
	// Twilio's documented example.
	params := url.Values{
		"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+12349013030"}, "Digits": {"1234"},
		"From": {"+12349013030"}, "To": {"+18005551212"},
	}
	const u = "https://mycompany.com/myapp.php?foo=1&bar=2"
	if got := Signature("12345", u, params); got != "0/KCTR6DLpKmkAf8muzZqo1nDgQ=" {
		t.Errorf("Signature %q", got)
	}
	if got := smstest.Sign("12345", u, params); got != "0/KCTR6DLpKmkAf8muzZqo1nDgQ=" {
		t.Errorf("smstest.Sign %q", got)
	}
	if v := urlVariants("https://example.com/a?b=1"); len(v) != 2 || v[1] != "https://example.com:443/a?b=1" {
		t.Errorf("variants %q", v)
	}
	if v := urlVariants("http://example.com:80/a"); len(v) != 2 || v[1] != "http://example.com/a" {
		t.Errorf("variants %q", v)
	}
}

func TestConcatReassembly(t *testing.T) {
	expired := make(chan string, 1)
	r := newReassembler(2, 1<<20, 50*time.Millisecond, func(k partKey, parts []part, missing int) {
		s, _ := joinParts(parts)
		expired <- s
	})
	k := partKey{route: "main", from: phone, to: ourNum, ref: 1, total: 3}
	gsm := func(s string) part { return part{coding: codingGSM, data: encodeGSM(s)} }
	if p, full := r.add(k, 2, gsm("b")); p != nil || full {
		t.Fatal("complete too early")
	}
	r.add(k, 1, gsm("a"))
	p, _ := r.add(k, 3, gsm("c"))
	if s, _ := joinParts(p); s != "abc" {
		t.Fatalf("joined %q", s)
	}
	// A surrogate pair split across two UCS-2 parts still decodes.
	u := encodeUCS2("🌞")
	k2 := partKey{route: "main", from: phone, to: ourNum, ref: 2, total: 2}
	r.add(k2, 1, part{coding: codingUCS2, data: u[:2]})
	p, _ = r.add(k2, 2, part{coding: codingUCS2, data: u[2:]})
	if s, _ := joinParts(p); s != "🌞" {
		t.Errorf("split pair joined as %q", s)
	}
	// Bounded: a third waiting group is refused.
	r.add(partKey{ref: 10, total: 2}, 1, gsm("x"))
	r.add(partKey{ref: 11, total: 2}, 1, gsm("y"))
	if _, full := r.add(partKey{ref: 12, total: 2}, 1, gsm("z")); !full {
		t.Errorf("more groups than the bound")
	}
	select {
	case s := <-expired:
		if s != "x" && s != "y" {
			t.Errorf("expired %q", s)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("an incomplete group never expired")
	}
	if n := r.close(); n > 1 {
		t.Errorf("%d groups at close", n)
	}
}

// TestConcatReassemblyBoundsBytes: an SMSC sending parts of 64 KiB
// (message_payload) for groups of 255 that never complete cannot make the
// waiting parts grow past the byte bound: beyond it a part is delivered on
// its own.
func TestConcatReassemblyBoundsBytes(t *testing.T) {
	const maxBytes = 1 << 20
	r := newReassembler(1000, maxBytes, time.Hour, func(partKey, []part, int) {})
	defer r.close()
	big := make([]byte, 64<<10)
	full := 0
	for ref := range 100 {
		for seq := 1; seq < 255; seq += 16 {
			k := partKey{route: "main", from: phone, to: ourNum, ref: uint16(ref), total: 255}
			if _, f := r.add(k, byte(seq), part{coding: 4, data: big}); f {
				full++
			}
		}
	}
	if full == 0 {
		t.Error("no part was refused")
	}
	if n := r.held(); n > maxBytes {
		t.Errorf("%d KiB of parts wait, bound %d KiB", n>>10, maxBytes>>10)
	}
	// The same part sent again replaces the first.
	r2 := newReassembler(10, 100, time.Hour, func(partKey, []part, int) {})
	defer r2.close()
	k := partKey{ref: 1, total: 3}
	for range 10 {
		if _, f := r2.add(k, 1, part{data: make([]byte, 60)}); f {
			t.Fatal("a repeated part counted twice")
		}
	}
	if n := r2.held(); n != 60 {
		t.Errorf("held %d bytes, want 60", n)
	}
	// Completed groups give their bytes back.
	r2.add(k, 2, part{data: make([]byte, 10)})
	r2.add(k, 3, part{data: make([]byte, 10)})
	if n := r2.held(); n != 0 {
		t.Errorf("held %d bytes after the group completed", n)
	}
}

func TestPacer(t *testing.T) {
	p := newPacer(20) // 50 ms apart
	start := time.Now()
	for i := 0; i < 5; i++ {
		if err := p.wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 190*time.Millisecond || d > 2*time.Second {
		t.Errorf("5 waits at 20/s took %s", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for i := 0; i < 3; i++ {
		_ = p.wait(ctx)
	}
	start = time.Now()
	_ = p.wait(context.Background())
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("cancelled waits kept their slots: waited %s", d)
	}
}

func TestNewValidates(t *testing.T) {
	h := channels.HandlerFunc(func(channels.Conversation) {})
	ok := SMPPConfig{Name: "main", Addr: "127.0.0.1:2775", SystemID: "chorus"}
	okH := HTTPConfig{Name: "provider", BaseURL: "https://api.twilio.com", Account: "AC1", Token: "t", WebhookPath: "/v1/sms/provider"}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no handler", Config{NewID: newID}, "Handler and NewID"},
		{"no name", Config{Handler: h, NewID: newID, SMPP: []SMPPConfig{{Addr: "x:1", SystemID: "a"}}}, "sms.smpp[0]: name is required"},
		{"dup", Config{Handler: h, NewID: newID, SMPP: []SMPPConfig{ok}, HTTP: []HTTPConfig{{Name: "main", BaseURL: "https://x", Account: "a", Token: "t", WebhookPath: "/x"}}}, `sms.http "main": the route name is already used by sms.smpp`},
		{"no addr", Config{Handler: h, NewID: newID, SMPP: []SMPPConfig{{Name: "m", SystemID: "a"}}}, `sms.smpp "m": addr`},
		{"bad addr", Config{Handler: h, NewID: newID, SMPP: []SMPPConfig{{Name: "m", Addr: "nohost", SystemID: "a"}}}, `sms.smpp "m": addr "nohost"`},
		{"no system id", Config{Handler: h, NewID: newID, SMPP: []SMPPConfig{{Name: "m", Addr: "h:1"}}}, "system_id is required"},
		{"window", Config{Handler: h, NewID: newID, SMPP: []SMPPConfig{{Name: "m", Addr: "h:1", SystemID: "a", Window: 300}}}, "window must be"},
		{"base url", Config{Handler: h, NewID: newID, HTTP: []HTTPConfig{{Name: "p", BaseURL: "ftp://x", Account: "a", Token: "t", WebhookPath: "/x"}}}, `sms.http "p": base_url`},
		{"token", Config{Handler: h, NewID: newID, HTTP: []HTTPConfig{{Name: "p", BaseURL: "https://x", Account: "a", WebhookPath: "/x"}}}, "token is required"},
		{"path", Config{Handler: h, NewID: newID, HTTP: []HTTPConfig{{Name: "p", BaseURL: "https://x", Account: "a", Token: "t", WebhookPath: "x"}}}, "webhook_path"},
		{"same path", Config{Handler: h, NewID: newID, HTTP: []HTTPConfig{okH, {Name: "q", BaseURL: "https://x", Account: "a", Token: "t", WebhookPath: okH.WebhookPath}}}, "already used by"},
	} {
		_, err := New(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	ch, err := New(Config{Handler: h, NewID: newID, SMPP: []SMPPConfig{ok}, HTTP: []HTTPConfig{okH}})
	if err != nil {
		t.Fatal(err)
	}
	if !ch.RouteExists("main") || !ch.RouteExists("provider") || ch.RouteExists("other") || ch.Network() != channels.SMS {
		t.Errorf("RouteExists / Network")
	}
	if l := ch.links["main"]; l.cfg.SubmitPerSecond != 50 || l.cfg.Window != 10 {
		t.Errorf("defaults: %+v", l.cfg)
	}
	ch.SetNumbers([]Number{{Number: "+1 555 000 2222", Route: "nowhere"}, {Number: "not a number", Route: "main"}})
	if st, detail, _ := ch.State("+15550002222"); st != StateFailed || !strings.Contains(detail, `route "nowhere" is not configured`) || !strings.Contains(detail, "main, provider") {
		t.Errorf("unconfigured route: %s %q", st, detail)
	}
	if st, _, _ := ch.State("+15550003333"); st != StateDisabled {
		t.Errorf("unbound: %s", st)
	}
	err = ch.SendMessage(context.Background(), channels.Message{From: number("+15550003333"), To: number(phone), Text: "x"})
	if !errors.Is(err, channels.ErrNoRoute) {
		t.Errorf("send from an unbound number: %v", err)
	}
	if _, err := ch.Dial(context.Background(), "+15550003333", phone, channels.DialOptions{}); !errors.Is(err, channels.ErrNoRoute) {
		t.Errorf("dial from an unbound number: %v", err)
	}
	if h := ch.Webhooks(); h["/v1/sms/provider"] == nil || h["/v1/sms/provider/status"] == nil || len(h) != 2 {
		t.Errorf("webhooks %v", h)
	}
	if err := ch.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A route whose SMSC does not listen is failed, unreachable, and retried.
func TestSMPPUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	log, _ := testLogger(t)
	cfg := Config{Handler: channels.HandlerFunc(forecast), NewID: newID, Logger: log, timing: fastTiming(),
		SMPP: []SMPPConfig{{Name: "main", Addr: addr, SystemID: "chorus"}}}
	cfg.timing.linkWait = 300 * time.Millisecond
	ch, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ch.SetNumbers([]Number{{Number: ourNum, Route: "main"}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ch.Serve(ctx) }()
	e := &env{ch: ch}
	e.waitState(t, StateFailed, 5*time.Second)
	st, detail, retry := ch.State(ourNum)
	if !strings.Contains(detail, "unreachable") || !strings.Contains(detail, "refused") || retry.IsZero() {
		t.Errorf("%s %q %v", st, detail, retry)
	}
	// A reply waits for the link a bounded time, then fails clearly.
	err = ch.SendMessage(context.Background(), channels.Message{From: number(ourNum), To: number(phone), Text: "hi"})
	if !errors.Is(err, channels.ErrUnavailable) || !strings.Contains(err.Error(), "has been down") {
		t.Errorf("send on a down link: %v", err)
	}
	sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer scancel()
	if err := ch.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
}
