package sms

import (
	"strings"
	"testing"
	"unicode/utf16"
)

// Every text encodes to parts that fit one SMS and decode back to it.
func FuzzEncodeSMS(f *testing.F) {
	for _, s := range []string{"", "32801", "Привет ☀", "5€ [ok]", strings.Repeat("a", 161), strings.Repeat("🌞", 40), "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		enc, err := encodeSMS(text)
		if err != nil {
			return
		}
		var joined []byte
		for _, p := range enc.parts {
			limit := 140
			if enc.coding == codingGSM {
				limit = 160
				if len(enc.parts) > 1 {
					limit = gsmPart
				}
			} else if len(enc.parts) > 1 {
				limit = 2 * ucs2Part
			}
			if len(p) > limit || len(p) == 0 && len(enc.parts) > 1 {
				t.Fatalf("part of %d octets (limit %d)", len(p), limit)
			}
			joined = append(joined, p...)
		}
		got, _ := decodeText(enc.coding, joined)
		want := string([]rune(text)) // invalid UTF-8 becomes U+FFFD
		if enc.coding == codingUCS2 {
			want = string(utf16.Decode(utf16.Encode([]rune(text)))) // lone surrogates are U+FFFD either way
		}
		if got != want {
			t.Fatalf("%q came back as %q", want, got)
		}
	})
}

// Any octets in any coding decode without panicking.
func FuzzDecodeText(f *testing.F) {
	f.Add(byte(0), []byte("Hi\x1b"))
	f.Add(byte(8), []byte{0xD8, 0x3C})
	f.Add(byte(0xF4), []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, coding byte, b []byte) {
		_, _ = decodeText(coding, b)
	})
}

func FuzzParseReceipt(f *testing.F) {
	f.Add("id:0123456789 sub:001 dlvrd:001 submit date:2311220401 done date:2311220402 stat:DELIVRD err:000 text:x")
	f.Add("id:")
	f.Add("stat:id:")
	f.Fuzz(func(t *testing.T, body string) {
		r, ok := parseReceipt(body)
		if ok && (r.ID == "" || r.Stat == "" || strings.Contains(r.ID, " ")) {
			t.Fatalf("%q parsed as %+v", body, r)
		}
	})
}
