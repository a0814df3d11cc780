package sms

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/linxGnu/gosmpp/data"
)

// Data codings (SMPP 3.4, 5.2.19) this package writes or reads.
const (
	codingGSM    byte = 0x00 // SMSC default alphabet: GSM 03.38, one septet per octet
	codingASCII  byte = 0x01 // IA5
	codingBin1   byte = 0x02
	codingLatin1 byte = 0x03
	codingBin2   byte = 0x04
	codingCyr    byte = 0x06 // ISO-8859-5
	codingHebrew byte = 0x07 // ISO-8859-8
	codingUCS2   byte = 0x08
)

// Sizes of one SMS (140 octets of user data).
const (
	gsmSingle  = 160 // septets
	gsmPart    = 153 // septets, after a 6-octet concatenation UDH
	ucs2Single = 70  // UTF-16 units
	ucs2Part   = 67
	maxParts   = 255
)

// The GSM 03.38 default alphabet; index = septet. 0x1B is the escape to
// the extension table.
var gsmBasic = [128]rune{
	'@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å',
	'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', 0x1B, 'Æ', 'æ', 'ß', 'É',
	' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/',
	'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?',
	'¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O',
	'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§',
	'¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
	'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à',
}

// The extension table: characters sent as ESC + septet (two septets).
var gsmExt = map[byte]rune{
	0x0A: '\f', 0x14: '^', 0x28: '{', 0x29: '}', 0x2F: '\\',
	0x3C: '[', 0x3D: '~', 0x3E: ']', 0x40: '|', 0x65: '€',
}

var (
	gsmBasicIdx = map[rune]byte{}
	gsmExtIdx   = map[rune]byte{}
)

func init() {
	for i, r := range gsmBasic {
		if r != 0x1B {
			gsmBasicIdx[r] = byte(i)
		}
	}
	for b, r := range gsmExt {
		gsmExtIdx[r] = b
	}
}

// gsmSeptets returns how many septets text takes in GSM 03.38, and false
// when a character is not in the alphabet (UCS-2 is needed).
func gsmSeptets(text string) (int, bool) {
	n := 0
	for _, r := range text {
		if _, ok := gsmBasicIdx[r]; ok {
			n++
		} else if _, ok := gsmExtIdx[r]; ok {
			n += 2
		} else {
			return 0, false
		}
	}
	return n, true
}

// encodeGSM encodes text (which must fit the alphabet) one septet per octet.
func encodeGSM(text string) []byte {
	out := make([]byte, 0, len(text))
	for _, r := range text {
		if b, ok := gsmBasicIdx[r]; ok {
			out = append(out, b)
		} else if b, ok := gsmExtIdx[r]; ok {
			out = append(out, 0x1B, b)
		}
	}
	return out
}

// decodeGSM decodes unpacked GSM 03.38 (one septet per octet). An escape
// before an unknown extension septet shows the basic character, as the
// standard asks.
func decodeGSM(b []byte) string {
	var sb strings.Builder
	for i := 0; i < len(b); i++ {
		c := b[i] & 0x7F
		if c == 0x1B {
			if i+1 >= len(b) {
				break
			}
			i++
			n := b[i] & 0x7F
			if r, ok := gsmExt[n]; ok {
				sb.WriteRune(r)
			} else if n != 0x1B {
				sb.WriteRune(gsmBasic[n])
			}
			continue
		}
		sb.WriteRune(gsmBasic[c])
	}
	return sb.String()
}

// encodeUCS2 encodes text as UTF-16BE (characters past U+FFFF become
// surrogate pairs, as every handset reads them).
func encodeUCS2(text string) []byte {
	units := utf16.Encode([]rune(text))
	out := make([]byte, 2*len(units))
	for i, u := range units {
		out[2*i], out[2*i+1] = byte(u>>8), byte(u)
	}
	return out
}

func decodeUCS2(b []byte) string {
	units := make([]uint16, len(b)/2)
	for i := range units {
		units[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	return string(utf16.Decode(units))
}

// decodeText turns a short message's octets into text by its data_coding.
// known is false when the coding is not a text coding this package knows
// (the caller logs it; the octets are read as GSM 03.38).
func decodeText(coding byte, b []byte) (text string, known bool) {
	switch coding {
	case codingGSM:
		return decodeGSM(b), true
	case codingASCII:
		var sb strings.Builder
		for _, c := range b {
			if c < 0x80 {
				sb.WriteByte(c)
			} else {
				sb.WriteRune(utf8.RuneError)
			}
		}
		return sb.String(), true
	case codingLatin1, codingBin1, codingBin2:
		rs := make([]rune, len(b))
		for i, c := range b {
			rs[i] = rune(c)
		}
		return string(rs), coding == codingLatin1
	case codingCyr:
		s, err := data.CYRILLIC.Decode(b)
		return s, err == nil
	case codingHebrew:
		s, err := data.HEBREW.Decode(b)
		return s, err == nil
	case codingUCS2:
		return decodeUCS2(b), true
	}
	// GSM 03.38 data coding groups (TS 23.038 §4).
	switch {
	case coding&0xF0 == 0xF0: // message class: bit 2 is 8-bit data
		if coding&0x04 == 0 {
			return decodeGSM(b), true
		}
	case coding&0xC0 == 0x00 && coding&0x20 == 0: // general coding, uncompressed
		switch coding & 0x0C {
		case 0x00:
			return decodeGSM(b), true
		case 0x08:
			return decodeUCS2(b), true
		}
	}
	return decodeGSM(b), false
}

// encoded is a text ready for submit_sm: one payload per part (without
// UDH) and the data_coding they share.
type encoded struct {
	coding byte
	parts  [][]byte
}

// errTooLong is returned for texts that need more than 255 parts.
var errTooLong = errors.New("text too long for one SMS: more than 255 concatenated parts")

// encodeSMS picks GSM 03.38 when text fits it, UCS-2 otherwise, and splits
// a long text into parts for concatenation: 153 septets or 67 UTF-16
// units each, never cutting an escape sequence or a surrogate pair.
func encodeSMS(text string) (encoded, error) {
	if n, ok := gsmSeptets(text); ok {
		if n <= gsmSingle {
			return encoded{coding: codingGSM, parts: [][]byte{encodeGSM(text)}}, nil
		}
		var parts [][]byte
		cur := make([]byte, 0, gsmPart)
		for _, r := range text {
			var s []byte
			if b, ok := gsmBasicIdx[r]; ok {
				s = []byte{b}
			} else {
				s = []byte{0x1B, gsmExtIdx[r]}
			}
			if len(cur)+len(s) > gsmPart {
				parts = append(parts, cur)
				cur = make([]byte, 0, gsmPart)
			}
			cur = append(cur, s...)
		}
		parts = append(parts, cur)
		if len(parts) > maxParts {
			return encoded{}, errTooLong
		}
		return encoded{coding: codingGSM, parts: parts}, nil
	}
	units := utf16.Encode([]rune(text))
	if len(units) <= ucs2Single {
		return encoded{coding: codingUCS2, parts: [][]byte{encodeUCS2(text)}}, nil
	}
	var parts [][]byte
	for i := 0; i < len(units); {
		end := min(i+ucs2Part, len(units))
		if end < len(units) && utf16.IsSurrogate(rune(units[end-1])) && units[end-1] < 0xDC00 {
			end-- // a high surrogate stays with its low half
		}
		b := make([]byte, 0, 2*(end-i))
		for _, u := range units[i:end] {
			b = append(b, byte(u>>8), byte(u))
		}
		parts = append(parts, b)
		i = end
	}
	if len(parts) > maxParts {
		return encoded{}, errTooLong
	}
	return encoded{coding: codingUCS2, parts: parts}, nil
}

// codingName names a data_coding for logs and errors.
func codingName(c byte) string {
	switch c {
	case codingGSM:
		return "GSM 03.38"
	case codingUCS2:
		return "UCS-2"
	case codingLatin1:
		return "Latin-1"
	case codingASCII:
		return "IA5"
	}
	return fmt.Sprintf("data_coding 0x%02X", c)
}
