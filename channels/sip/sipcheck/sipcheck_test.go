package sipcheck

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// msg builds a datagram from lines (CRLF added); body follows the empty
// line.
func msg(start string, headers []string, body string) []byte {
	return []byte(start + "\r\n" + strings.Join(headers, "\r\n") + "\r\n\r\n" + body)
}

var base = []string{
	"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds",
	"Max-Forwards: 70",
	"To: <sip:weather@example.com>",
	"From: <sip:alice@example.net>;tag=1928301774",
	"Call-ID: a84b4c76e66710@pc33.example.net",
	"CSeq: 314159 OPTIONS",
	"Content-Length: 0",
}

// with returns base with headers named in drop removed and add appended.
func with(drop []string, add ...string) []string {
	var out []string
	for _, h := range base {
		name, _, _ := strings.Cut(h, ":")
		if !containsFold(drop, name) {
			out = append(out, h)
		}
	}
	return append(out, add...)
}

func parseReq(t *testing.T, data []byte) *sip.Request {
	t.Helper()
	m, err := sip.NewParser().ParseSIP(data)
	if err != nil {
		t.Fatalf("sipgo refused the test message: %v\n%s", err, data)
	}
	req, ok := m.(*sip.Request)
	if !ok {
		t.Fatalf("not a request: %T", m)
	}
	return req
}

const sdp = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"

func TestRequestChecks(t *testing.T) {
	inviteHeaders := func(extra ...string) []string {
		h := with([]string{"CSeq", "Content-Length"}, "CSeq: 1 INVITE", fmt.Sprintf("Content-Length: %d", len(sdp)))
		return append(h, extra...)
	}
	for _, tc := range []struct {
		name    string
		data    []byte
		want    string // Verdict.String()
		headers map[string]string
	}{
		{"plain OPTIONS", msg("OPTIONS sip:weather@example.com SIP/2.0", base, ""), "OK", nil},
		{"lower-case version", msg("OPTIONS sip:weather@example.com sip/2.0", base, ""), "OK", nil},
		{"SIP/3.0", msg("OPTIONS sip:weather@example.com SIP/3.0", base, ""), "505 Version Not Supported", nil},
		{"SIPX", msg("OPTIONS sip:weather@example.com SIPX", base, ""), "400 Malformed SIP-Version", nil},
		{"SIP/2", msg("OPTIONS sip:weather@example.com SIP/2", base, ""), "400 Malformed SIP-Version", nil},
		{"no To", msg("OPTIONS sip:weather@example.com SIP/2.0", with([]string{"To"}), ""), "400 Missing To header", nil},
		{"no From", msg("OPTIONS sip:weather@example.com SIP/2.0", with([]string{"From"}), ""), "400 Missing From header", nil},
		{"no Call-ID", msg("OPTIONS sip:weather@example.com SIP/2.0", with([]string{"Call-ID"}), ""), "400 Missing Call-ID header", nil},
		{"no CSeq", msg("OPTIONS sip:weather@example.com SIP/2.0", with([]string{"CSeq"}), ""), "400 Missing CSeq header", nil},
		{"no Via", msg("OPTIONS sip:weather@example.com SIP/2.0", with([]string{"Via"}), ""), "400 Missing Via header", nil},
		{"no Max-Forwards", msg("OPTIONS sip:weather@example.com SIP/2.0", with([]string{"Max-Forwards"}), ""), "OK", nil},
		{"compact forms", msg("OPTIONS sip:weather@example.com SIP/2.0", []string{
			"v: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1", "t: <sip:weather@example.com>", "f: <sip:a@example.net>;tag=1",
			"i: abc", "CSeq: 1 OPTIONS", "l: 0"}, ""), "OK", nil},
		{"two To", msg("OPTIONS sip:weather@example.com SIP/2.0", with(nil, "To: <sip:other@example.com>"), ""), "400 Duplicate To header", nil},
		{"To with two values", msg("OPTIONS sip:weather@example.com SIP/2.0", with([]string{"To"}, "To: <sip:a@example.com>, <sip:b@example.com>"), ""), "400 Duplicate To header", nil},
		{"To with a bad parameter", msg("OPTIONS sip:weather@example.com SIP/2.0", with([]string{"To"}, "To: <sip:a@example.com>;a\"b=1"), ""), "400 Malformed To header", nil},
		{"To with LWS around parameters", msg("OPTIONS sip:weather@example.com SIP/2.0", with([]string{"To"}, "To: <sip:a@example.com> ; tag = 1"), ""), "OK", nil},
		{"two From, one compact", msg("OPTIONS sip:weather@example.com SIP/2.0", with(nil, "f: <sip:b@example.net>;tag=2"), ""), "400 Duplicate From header", nil},
		{"two Call-ID", msg("OPTIONS sip:weather@example.com SIP/2.0", with(nil, "i: other"), ""), "400 Duplicate Call-ID header", nil},
		{"two CSeq", msg("OPTIONS sip:weather@example.com SIP/2.0", with(nil, "CSeq: 2 OPTIONS"), ""), "400 Duplicate CSeq header", nil},
		{"two Max-Forwards", msg("OPTIONS sip:weather@example.com SIP/2.0", with(nil, "Max-Forwards: 10"), ""), "400 Duplicate Max-Forwards header", nil},
		{"two Via is normal", msg("OPTIONS sip:weather@example.com SIP/2.0", with(nil, "Via: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKx"), ""), "OK", nil},
		{"CSeq method mismatch", msg("OPTIONS sip:weather@example.com SIP/2.0", with([]string{"CSeq"}, "CSeq: 1 INVITE"), ""), "400 CSeq method does not match the request method", nil},
		{"CSeq method case", msg("OPTIONS sip:weather@example.com SIP/2.0", with([]string{"CSeq"}, "CSeq: 1 options"), ""), "400 CSeq method does not match the request method", nil},
		{"unknown method", msg("FOO sip:weather@example.com SIP/2.0", with([]string{"CSeq"}, "CSeq: 1 FOO"), ""), "501 Not Implemented", nil},
		{"unknown method, CSeq mismatch", msg("FOO sip:weather@example.com SIP/2.0", base, ""), "501 Not Implemented", nil},
		{"REGISTER is known (405 is the endpoint's)", msg("REGISTER sip:example.com SIP/2.0", with([]string{"CSeq"}, "CSeq: 1 REGISTER"), ""), "OK", nil},
		{"Max-Forwards 0 is served", msg("OPTIONS sip:weather@example.com SIP/2.0", with([]string{"Max-Forwards"}, "Max-Forwards: 0"), ""), "OK", nil},
		{"tel URI", msg("OPTIONS tel:+15551234567 SIP/2.0", base, ""), "OK", nil},
		{"sips URI", msg("OPTIONS sips:weather@example.com SIP/2.0", base, ""), "OK", nil},
		{"mailto URI", msg("OPTIONS mailto:weather@example.com SIP/2.0", base, ""), "416 Unsupported URI Scheme", nil},
		{"urn URI", msg("OPTIONS urn:service:sos SIP/2.0", base, ""), "416 Unsupported URI Scheme", nil},
		{"Require", msg("OPTIONS sip:weather@example.com SIP/2.0", with(nil, "Require: timer", "Require: 100rel, timer"), ""), "420 Bad Extension",
			map[string]string{"Unsupported": "timer, 100rel"}},
		{"Require malformed", msg("OPTIONS sip:weather@example.com SIP/2.0", with(nil, "Require: a b"), ""), "400 Malformed Require header", nil},
		{"Require empty", msg("OPTIONS sip:weather@example.com SIP/2.0", with(nil, "Require: x,,y"), ""), "400 Malformed Require header", nil},
		{"Proxy-Require is ignored", msg("OPTIONS sip:weather@example.com SIP/2.0", with(nil, "Proxy-Require: foo"), ""), "OK", nil},
		{"Require in CANCEL is ignored", msg("CANCEL sip:weather@example.com SIP/2.0", with([]string{"CSeq"}, "CSeq: 1 CANCEL", "Require: foo"), ""), "OK", nil},
		{"INVITE with SDP", msg("INVITE sip:weather@example.com SIP/2.0", inviteHeaders("Content-Type: application/sdp"), sdp), "OK", nil},
		{"INVITE with SDP, parameters", msg("INVITE sip:weather@example.com SIP/2.0", inviteHeaders("c: Application/SDP; charset=utf-8"), sdp), "OK", nil},
		{"INVITE without Content-Type", msg("INVITE sip:weather@example.com SIP/2.0", inviteHeaders(), sdp), "400 Missing Content-Type header", nil},
		{"INVITE multipart", msg("INVITE sip:weather@example.com SIP/2.0", inviteHeaders("Content-Type: multipart/mixed;boundary=x"), sdp), "415 Unsupported Media Type",
			map[string]string{"Accept": "application/sdp"}},
		{"INVITE gzip", msg("INVITE sip:weather@example.com SIP/2.0", inviteHeaders("Content-Type: application/sdp", "Content-Encoding: gzip"), sdp), "415 Unsupported Media Type",
			map[string]string{"Accept-Encoding": "identity"}},
		{"INVITE compact gzip", msg("INVITE sip:weather@example.com SIP/2.0", inviteHeaders("Content-Type: application/sdp", "e: identity, gzip"), sdp), "415 Unsupported Media Type", nil},
		{"INVITE identity", msg("INVITE sip:weather@example.com SIP/2.0", inviteHeaders("Content-Type: application/sdp", "Content-Encoding: identity"), sdp), "OK", nil},
		{"two Content-Type", msg("INVITE sip:weather@example.com SIP/2.0", inviteHeaders("Content-Type: application/sdp", "c: application/sdp"), sdp), "400 Duplicate Content-Type header", nil},
		{"INVITE Accept */*", msg("INVITE sip:weather@example.com SIP/2.0", inviteHeaders("Content-Type: application/sdp", "Accept: text/html, */*"), sdp), "OK", nil},
		{"INVITE Accept application/*", msg("INVITE sip:weather@example.com SIP/2.0", inviteHeaders("Content-Type: application/sdp", "Accept: application/*;q=0.5"), sdp), "OK", nil},
		{"INVITE Accept text/plain", msg("INVITE sip:weather@example.com SIP/2.0", inviteHeaders("Content-Type: application/sdp", "Accept: text/plain"), sdp), "406 Not Acceptable", nil},
		{"MESSAGE text/plain", msg("MESSAGE sip:weather@example.com SIP/2.0", with([]string{"CSeq", "Content-Length"}, "CSeq: 2 MESSAGE", "Content-Type: text/plain", "Content-Length: 5"), "32801"), "OK", nil},
		{"MESSAGE other types pass", msg("MESSAGE sip:weather@example.com SIP/2.0", with([]string{"CSeq", "Content-Length"}, "CSeq: 2 MESSAGE", "Content-Type: application/im-iscomposing+xml", "Content-Length: 5"), "32801"), "OK", nil},
		{"Content-Length twice, equal", msg("OPTIONS sip:weather@example.com SIP/2.0", with(nil, "l: 0"), ""), "OK", nil},
		{"Content-Length twice, differing", msg("MESSAGE sip:weather@example.com SIP/2.0", with([]string{"CSeq"}, "CSeq: 2 MESSAGE", "Content-Type: text/plain", "Content-Length: 5"), "32801"), "400 Content-Length values differ", nil},
		{"ACK with a bad body is dropped", msg("ACK sip:weather@example.com SIP/2.0", with([]string{"CSeq", "Content-Length"}, "CSeq: 1 ACK", "Content-Type: text/plain", "Content-Length: 2"), "hi"),
			"drop (ACK: 415 Unsupported Media Type)", nil},
		{"ACK with Require is fine", msg("ACK sip:weather@example.com SIP/2.0", with([]string{"CSeq"}, "CSeq: 1 ACK", "Require: foo"), ""), "OK", nil},
		{"ACK without To is dropped", msg("ACK sip:weather@example.com SIP/2.0", with([]string{"CSeq", "To"}, "CSeq: 1 ACK"), ""), "drop (ACK: 400 Missing To header)", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := Request(parseReq(t, tc.data))
			if got := v.String(); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
			for h, want := range tc.headers {
				if v.Headers[h] != want {
					t.Errorf("header %s = %q, want %q", h, v.Headers[h], want)
				}
			}
			if v.OK == v.Drop && v.OK || (!v.OK && !v.Drop && (v.Status < 400 || v.Reason == "")) {
				t.Errorf("inconsistent verdict %+v", v)
			}
			if strings.ContainsAny(v.Reason, "\r\n") {
				t.Errorf("reason %q breaks the status line", v.Reason)
			}
		})
	}
}

func TestOptionsSupported(t *testing.T) {
	req := parseReq(t, msg("OPTIONS sip:weather@example.com SIP/2.0", with(nil, "Require: Timer, foo"), ""))
	if v := Check(req, Options{Supported: []string{"timer"}}); v.Status != 420 || v.Headers["Unsupported"] != "foo" {
		t.Errorf("with timer supported: %s %v", v, v.Headers)
	}
	if v := Check(req, Options{Supported: []string{"timer", "FOO"}}); !v.OK {
		t.Errorf("with both supported: %s", v)
	}
	h := with([]string{"CSeq", "Content-Length"}, "CSeq: 1 INVITE", "Content-Type: application/vnd.example", "Content-Length: 2")
	inv := parseReq(t, msg("INVITE sip:weather@example.com SIP/2.0", h, "hi"))
	if v := Check(inv, Options{SDP: []string{"application/vnd.example"}}); !v.OK {
		t.Errorf("Options.SDP: %s", v)
	}
}

// Requests built in Go (not parsed) take the same checks; a body longer
// or shorter than its Content-Length is caught.
func TestBuiltRequests(t *testing.T) {
	req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: "weather", Host: "example.com"})
	if v := Request(req); v.String() != "400 Missing To header" {
		t.Errorf("bare request: %s", v)
	}
	for _, h := range []sip.Header{
		&sip.ToHeader{Address: sip.Uri{Scheme: "sip", Host: "example.com"}},
		&sip.FromHeader{Address: sip.Uri{Scheme: "sip", Host: "example.net"}},
		sip.NewHeader("Call-ID", "x"),
		&sip.CSeqHeader{SeqNo: 1, MethodName: sip.INVITE},
		&sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Host: "192.0.2.1", Params: sip.NewParams()},
		sip.NewHeader("Content-Type", "application/sdp"),
	} {
		req.AppendHeader(h)
	}
	req.SetBody([]byte(sdp))
	if v := Request(req); !v.OK {
		t.Fatalf("built INVITE: %s", v)
	}
	cl := sip.ContentLengthHeader(len(sdp) + 10)
	req.ReplaceHeader(&cl)
	if v := Request(req); v.String() != "400 Content-Length does not match the body" {
		t.Errorf("Content-Length past the body: %s", v)
	}
	req.RemoveHeader("Content-Length")
	req.AppendHeader(sip.NewHeader("Content-Length", "-3"))
	if v := Request(req); v.String() != "400 Content-Length does not match the body" {
		t.Errorf("malformed Content-Length: %s", v)
	}
	// A Content-Type header sipgo cannot parse lazily (empty) is no crash.
	req2 := parseReq(t, msg("INVITE sip:weather@example.com SIP/2.0",
		with([]string{"CSeq", "Content-Length"}, "CSeq: 1 INVITE", "Content-Type: application/sdp", fmt.Sprintf("Content-Length: %d", len(sdp))), sdp))
	req2.RemoveHeader("Content-Type")
	req2.AppendHeader(sip.NewHeader("content-type", ""))
	if v := Request(req2); v.OK {
		t.Errorf("empty Content-Type: %s", v)
	}
	if v := Request(nil); !v.Drop {
		t.Errorf("nil: %s", v)
	}
	if v := Request(&sip.Request{}); v.OK {
		t.Errorf("zero Request: %s", v)
	}
}

func TestMaxForwards(t *testing.T) {
	for hdr, want := range map[string]int{"Max-Forwards: 0": 0, "Max-Forwards: 7": 7, "Max-Forwards: 4000": 255, "": 70} {
		h := with([]string{"Max-Forwards"})
		if hdr != "" {
			h = append(h, hdr)
		}
		if got := MaxForwards(parseReq(t, msg("OPTIONS sip:weather@example.com SIP/2.0", h, ""))); got != want {
			t.Errorf("%q: %d, want %d", hdr, got, want)
		}
	}
	if MaxForwards(nil) != 70 {
		t.Error("nil")
	}
}

func TestResponse(t *testing.T) {
	rbase := []string{
		"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;received=192.0.2.1",
		"To: <sip:weather@example.com>;tag=a6c85cf",
		"From: <sip:alice@example.net>;tag=1928301774",
		"Call-ID: a84b4c76e66710@pc33.example.net",
		"CSeq: 314159 OPTIONS",
		"Content-Length: 0",
	}
	without := func(name string) []string {
		var out []string
		for _, h := range rbase {
			if !strings.HasPrefix(h, name+":") {
				out = append(out, h)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name string
		data []byte
		drop string // "" keeps it
	}{
		{"200", msg("SIP/2.0 200 OK", rbase, ""), ""},
		{"180 no reason", msg("SIP/2.0 180 ", rbase, ""), ""},
		{"version", msg("SIP/3.0 200 OK", rbase, ""), "SIP version is not SIP/2.0"},
		{"status 700", msg("SIP/2.0 700 Odd", rbase, ""), "status code outside 100..699"},
		{"status 99", msg("SIP/2.0 99 Odd", rbase, ""), "status code outside 100..699"},
		{"no Via", msg("SIP/2.0 200 OK", without("Via"), ""), "missing Via header"},
		{"no To", msg("SIP/2.0 200 OK", without("To"), ""), "missing To header"},
		{"no CSeq", msg("SIP/2.0 200 OK", without("CSeq"), ""), "missing CSeq header"},
		{"two Call-ID", msg("SIP/2.0 200 OK", append(slicesClone(rbase), "Call-ID: b"), ""), "duplicate Call-ID header"},
		{"two Via", msg("SIP/2.0 200 OK", append(slicesClone(rbase), "Via: SIP/2.0/UDP 192.0.2.7;branch=z9hG4bKy"), ""), "more than one Via (RFC 3261 8.1.3.3)"},
		{"two Content-Length", msg("SIP/2.0 200 OK", append(slicesClone(rbase), "l: 2"), "hi"), "Content-Length values differ"},
	} {
		m, err := sip.NewParser().ParseSIP(tc.data)
		if err != nil {
			t.Fatalf("%s: sipgo refused: %v", tc.name, err)
		}
		drop, why := Response(m.(*sip.Response))
		if drop != (tc.drop != "") || why != tc.drop {
			t.Errorf("%s: drop=%v %q, want %q", tc.name, drop, why, tc.drop)
		}
	}
	if drop, _ := Response(nil); !drop {
		t.Error("nil kept")
	}
	if drop, _ := Response(&sip.Response{}); !drop {
		t.Error("zero Response kept")
	}
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

// FuzzRequest parses arbitrary datagrams as the UDP transport does and
// checks what sipgo accepts. Seeds: the RFC 4475 and RFC 5118 corpus.
// sipcheck must never panic; a panic inside sipgo's parser is reported as
// such (the endpoint recovers around it).
func FuzzRequest(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.dat")
	more, _ := filepath.Glob("testdata/rfc5118/*/*.dat")
	for _, p := range append(files, more...) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m sip.Message
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("sipgo's parser panicked (not sipcheck; the endpoint recovers): %v", r)
				}
			}()
			m, _ = sip.NewParser().ParseSIP(data)
		}()
		switch m := m.(type) {
		case *sip.Request:
			v := Request(m)
			if strings.ContainsAny(v.Reason, "\r\n") {
				t.Fatalf("reason %q", v.Reason)
			}
			for k, val := range v.Headers {
				if strings.ContainsAny(k+val, "\r\n") {
					t.Fatalf("header %s: %q", k, val)
				}
			}
			MaxForwards(m)
		case *sip.Response:
			Response(m)
		}
	})
}
