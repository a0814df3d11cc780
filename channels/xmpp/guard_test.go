package xmpp

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
)

const (
	hdr     = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='x' version='1.0'>"
	restart = "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>" + hdr
)

func TestGuard(t *testing.T) {
	big := strings.Repeat("x", MaxStanza)
	for _, tc := range []struct {
		name, in, err string
	}{
		{"stream", hdr + "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>", ""},
		{"restart with declaration", hdr + restart + "<message><body>hi</body></message>", ""},
		{"restart without declaration", hdr + "<success/><stream:stream xmlns:stream='http://etherx.jabber.org/streams'><presence/>", ""},
		{"quotes hide markup", hdr + `<message a='>' b="</x>"><body>a &gt; b &amp; c</body></message>`, ""},
		{"cdata", hdr + "<message><body><![CDATA[<!DOCTYPE no> ]] ]]]></body></message>", ""},
		{"many stanzas add up to more than the cap", hdr + strings.Repeat("<message><body>"+big[:MaxStanza/4]+"</body></message>", 8), ""},
		{"stream end", hdr + "<presence/></stream:stream>", ""},
		{"whitespace keepalives", hdr + strings.Repeat(" ", 1000), ""},

		{"oversized stanza", hdr + "<message><body>" + big + "</body></message>", "larger than 256 KiB"},
		{"oversized outside stanzas", hdr + strings.Repeat(" ", MaxStanza+1), "outside any stanza"},
		{"oversized header", "<stream:stream " + big + ">", "outside any stanza"},
		{"doctype first", "<?xml version='1.0'?><!DOCTYPE stream [<!ENTITY a 'b'>]>" + hdr, "DOCTYPE"},
		{"doctype later", hdr + "<!DOCTYPE x>", "DOCTYPE"},
		{"entity declaration", hdr + "<!ENTITY x 'y'>", "ENTITY"},
		{"comment", hdr + "<message><!-- x --></message>", "comment"},
		{"cdata between stanzas", hdr + "<![CDATA[x]]>", "markup declaration"},
		{"processing instruction", hdr + "<?php echo 1 ?>", "processing instruction"},
		{"processing instruction in stanza", hdr + "<message><?xml version='1.0'?></message>", "inside a stanza"},
		{"long target", hdr + "<?xml-stylesheet href='x'?>", "processing instruction"},
		{"stanza outside the stream", "<message/>", "outside the stream"},
		{"stanza after a declaration", hdr + "<?xml version='1.0'?><message><body>" + strings.Repeat("<a/>", 10) + "</body></message>", "outside the stream"},
		{"deep nesting", hdr + "<message>" + strings.Repeat("<a>", MaxDepth+1), "nested deeper"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Whole, then byte by byte: the verdict must not depend on how
			// the network splits the stream.
			for _, step := range []int{len(tc.in), 1, 7} {
				g := newGuard()
				var err error
				for i := 0; i < len(tc.in) && err == nil; i += step {
					err = g.feed([]byte(tc.in[i:min(i+step, len(tc.in))]))
				}
				switch {
				case tc.err == "" && err != nil:
					t.Fatalf("step %d: unexpected %v", step, err)
				case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
					t.Fatalf("step %d: got %v, want %q", step, err, tc.err)
				}
			}
		})
	}
}

// TestGuardReaderBoundsMemory: a decoder behind the guard never holds more
// than about one stanza, however much the server sends.
func TestGuardReaderBoundsMemory(t *testing.T) {
	endless := io.MultiReader(strings.NewReader(hdr+"<message><body>"), neverEnding('a'))
	r := &countingReader{r: endless}
	d := streamDecoder(r)
	var err error
	for err == nil {
		_, err = d.Token()
	}
	var ge *GuardError
	if !errors.As(err, &ge) {
		t.Fatalf("got %v, want a GuardError", err)
	}
	if r.n > MaxStanza+64<<10 {
		t.Fatalf("the decoder was fed %d bytes of one stanza", r.n)
	}
}

// TestGuardStreamRestartsBounded: a server cannot nest without bound by
// sending <stream:stream> again and again between stanzas (the guard takes
// each for a restart and keeps its depth at 1, while a decoder behind it
// nests one element deeper every time, and Skip or DecodeElement never
// returns).
func TestGuardStreamRestartsBounded(t *testing.T) {
	endless := io.MultiReader(strings.NewReader(hdr), repeating("<stream:stream>"))
	r := &countingReader{r: endless}
	d := streamDecoder(r)
	var err error
	for i := 0; err == nil && i < 1_000_000; i++ {
		_, err = d.Token()
	}
	var ge *GuardError
	if !errors.As(err, &ge) || !strings.Contains(err.Error(), "stream") {
		t.Fatalf("after %d KiB of nested stream headers: got %v, want a GuardError", r.n>>10, err)
	}
	if r.n > 64<<10 {
		t.Fatalf("the decoder was fed %d KiB of nested stream headers", r.n>>10)
	}
}

type repeatingReader struct {
	s   string
	off int
}

func repeating(s string) io.Reader { return &repeatingReader{s: s} }

func (r *repeatingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.s[r.off]
		r.off = (r.off + 1) % len(r.s)
	}
	return len(p), nil
}

type neverEnding byte

func (b neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// FuzzGuard: the guard never panics, its verdict does not depend on how the
// input is split, and what it accepts whole it accepts in pieces.
func FuzzGuard(f *testing.F) {
	for _, s := range []string{
		hdr + "<message to='a@b'><body>hi</body></message>",
		hdr + restart + "<presence/>",
		hdr + "<message><body><![CDATA[x]]></body></message>",
		hdr + "<!DOCTYPE x>",
		hdr + "<!-- c -->",
		hdr + "<?xml version='1.0'?>" + hdr,
		"<a b='>' c=\"'\"/>",
	} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, in []byte, step uint8) {
		whole := newGuard().feed(in)
		g := newGuard()
		var parts error
		n := int(step%16) + 1
		for i := 0; i < len(in) && parts == nil; i += n {
			parts = g.feed(in[i:min(i+n, len(in))])
		}
		if (whole == nil) != (parts == nil) {
			t.Fatalf("whole: %v, in parts of %d: %v", whole, n, parts)
		}
		// What passes the guard is either well-formed for a decoder or
		// makes it fail: never more than the cap in one token.
		if whole == nil {
			d := xml.NewDecoder(bytes.NewReader(in))
			for {
				tok, err := d.RawToken()
				if err != nil {
					break
				}
				if cd, ok := tok.(xml.CharData); ok && len(cd) > MaxStanza {
					t.Fatalf("a %d-byte token passed the guard", len(cd))
				}
			}
		}
	})
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"a<b>&'\"":        "a&lt;b&gt;&amp;&apos;&quot;",
		"ok ☃ 🌦":          "ok ☃ 🌦",
		"nul\x00bell\x07": "nul\uFFFDbell\uFFFD",
		"bad \xff utf8":   "bad \uFFFD utf8",
		"tab\tnl\ncr\r":   "tab\tnl\ncr&#xD;",
	} {
		if got := esc(in); got != want {
			t.Errorf("esc(%q) = %q, want %q", in, got, want)
		}
	}
	if got := cut(strings.Repeat("é", 10), 7); got != "éé…" {
		t.Errorf("cut = %q", got)
	}
}

func TestHandshakeDigest(t *testing.T) {
	// hex(sha1("3BF96D32" + "secret")), computed with Python's hashlib.
	if got := handshakeDigest("3BF96D32", "secret"); got != "b09ea9b3b7f586be8a08d0a3dd7466f110aeb136" {
		t.Errorf("digest %s", got)
	}
}
