package jsonmod

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	lua "github.com/yuin/gopher-lua"

	"github.com/chorus-dev/chorus/runtime/luamod"
)

// What a decoded value is charged, roughly what gopher-lua allocates for it.
const (
	tableCost   = 128 // an LTable and its headers
	slotCost    = 16  // an array element (an interface)
	memberCost  = 96  // an object member: map entry, key list, key index; plus the key's length
	stringCost  = 16  // a string value's header; plus its length
	numberCost  = 8   // a boxed float64
	chargeChunk = 64 << 10
)

// Decode converts the JSON text data into Lua values built on L, mapped as
// the package documentation says. Errors are a *SyntaxError, or wrap
// ErrTooLarge or ErrTooDeep, or are the error of charge.
//
// charge, when not nil, is called with the estimated size of what has been
// built so far, in chunks of 64 KiB and once at the end; an error from it
// stops decoding and is returned as it is.
func Decode(L *lua.LState, data []byte, lim Limits, charge func(int64) error) (lua.LValue, error) {
	v, err := decodeString(L, string(data), lim.withDefaults(), charge)
	if ce, ok := err.(*chargeError); ok {
		return nil, ce.err
	}
	return v, err
}

// decodeString is Decode without the copy; a charge error comes back as a
// *chargeError. lim has its defaults.
func decodeString(L *lua.LState, s string, lim Limits, charge func(int64) error) (lua.LValue, error) {
	if int64(len(s)) > lim.MaxSize {
		return nil, detail(ErrTooLarge, "input larger than %s", luamod.FormatSize(lim.MaxSize))
	}
	d := &decoder{L: L, s: s, maxDepth: lim.MaxDepth, charge: charge}
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	d.skipSpace()
	if d.i < len(d.s) {
		return nil, d.syntax("invalid character %s after top-level value", quoteChar(d.s[d.i]))
	}
	if err := d.flush(); err != nil {
		return nil, err
	}
	return v, nil
}

type decoder struct {
	L        *lua.LState
	s        string
	i        int
	maxDepth int
	charge   func(int64) error
	pending  int64        // estimate not charged yet
	scratch  []lua.LValue // elements (arrays) or key, value pairs (objects) being collected, innermost last
}

func (d *decoder) cost(n int64) error {
	d.pending += n
	if d.pending >= chargeChunk {
		return d.flush()
	}
	return nil
}

func (d *decoder) flush() error {
	n := d.pending
	d.pending = 0
	if d.charge == nil || n == 0 {
		return nil
	}
	if err := d.charge(n); err != nil {
		return &chargeError{err}
	}
	return nil
}

func (d *decoder) syntax(format string, args ...any) error {
	return &SyntaxError{Msg: fmt.Sprintf(format, args...), Offset: d.i}
}

func (d *decoder) eof(what string) error {
	return &SyntaxError{Msg: "unexpected end of input" + what, Offset: d.i}
}

func (d *decoder) skipSpace() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) value(depth int) (lua.LValue, error) {
	d.skipSpace()
	if d.i >= len(d.s) {
		return nil, d.eof("")
	}
	switch c := d.s[d.i]; c {
	case '{':
		return d.object(depth + 1)
	case '[':
		return d.array(depth + 1)
	case '"':
		s, err := d.string()
		if err != nil {
			return nil, err
		}
		return lua.LString(s), d.cost(stringCost + int64(len(s)))
	case 't':
		return lua.LTrue, d.literal("true")
	case 'f':
		return lua.LFalse, d.literal("false")
	case 'n':
		return lua.LNil, d.literal("null")
	default:
		if c == '-' || ('0' <= c && c <= '9') {
			return d.number()
		}
		return nil, d.syntax("invalid character %s looking for beginning of value", quoteChar(c))
	}
}

func (d *decoder) literal(word string) error {
	if strings.HasPrefix(d.s[d.i:], word) {
		d.i += len(word)
		return nil
	}
	for j := 1; j < len(word); j++ {
		d.i++
		if d.i >= len(d.s) {
			return d.eof(" in literal " + word)
		}
		if d.s[d.i] != word[j] {
			break
		}
	}
	return d.syntax("invalid character %s in literal %s", quoteChar(d.s[d.i]), word)
}

func (d *decoder) number() (lua.LValue, error) {
	start := d.i
	digits := func() int {
		n := 0
		for d.i < len(d.s) && '0' <= d.s[d.i] && d.s[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	need := func(what string) error {
		if d.i >= len(d.s) {
			return d.eof(" in number")
		}
		return d.syntax("invalid character %s %s", quoteChar(d.s[d.i]), what)
	}
	if d.s[d.i] == '-' {
		d.i++
	}
	switch {
	case d.i < len(d.s) && d.s[d.i] == '0':
		d.i++
	case digits() == 0:
		return nil, need("in numeric literal")
	}
	if d.i < len(d.s) && d.s[d.i] == '.' {
		d.i++
		if digits() == 0 {
			return nil, need("after decimal point in numeric literal")
		}
	}
	if d.i < len(d.s) && (d.s[d.i] == 'e' || d.s[d.i] == 'E') {
		d.i++
		if d.i < len(d.s) && (d.s[d.i] == '+' || d.s[d.i] == '-') {
			d.i++
		}
		if digits() == 0 {
			return nil, need("in exponent of numeric literal")
		}
	}
	f, err := strconv.ParseFloat(d.s[start:d.i], 64)
	if err != nil {
		return nil, &SyntaxError{Msg: "number " + d.s[start:d.i] + " out of range", Offset: start}
	}
	return lua.LNumber(f), d.cost(numberCost)
}

func (d *decoder) tooDeep() error {
	return detail(ErrTooDeep, "nesting deeper than %d at offset %d", d.maxDepth, d.i)
}

func (d *decoder) array(depth int) (lua.LValue, error) {
	if depth > d.maxDepth {
		return nil, d.tooDeep()
	}
	d.i++ // [
	start := len(d.scratch)
	d.skipSpace()
	if d.i < len(d.s) && d.s[d.i] == ']' {
		d.i++
	} else {
		for {
			v, err := d.value(depth)
			if err != nil {
				return nil, err
			}
			d.scratch = append(d.scratch, v)
			d.skipSpace()
			if d.i >= len(d.s) {
				return nil, d.eof(" in array")
			}
			c := d.s[d.i]
			d.i++
			if c == ']' {
				break
			}
			if c != ',' {
				d.i--
				return nil, d.syntax("invalid character %s after array element", quoteChar(c))
			}
		}
	}
	elems := d.scratch[start:]
	t := d.L.CreateTable(len(elems), 0)
	for j, v := range elems {
		t.RawSetInt(j+1, v)
	}
	clear(elems)
	d.scratch = d.scratch[:start]
	return t, d.cost(tableCost + slotCost*int64(len(elems)))
}

func (d *decoder) object(depth int) (lua.LValue, error) {
	if depth > d.maxDepth {
		return nil, d.tooDeep()
	}
	d.i++ // {
	start := len(d.scratch)
	var keyBytes int64
	d.skipSpace()
	if d.i < len(d.s) && d.s[d.i] == '}' {
		d.i++
	} else {
		for {
			d.skipSpace()
			if d.i >= len(d.s) {
				return nil, d.eof(" in object")
			}
			if d.s[d.i] != '"' {
				return nil, d.syntax("invalid character %s looking for beginning of object key string", quoteChar(d.s[d.i]))
			}
			key, err := d.string()
			if err != nil {
				return nil, err
			}
			d.skipSpace()
			if d.i >= len(d.s) {
				return nil, d.eof(" in object")
			}
			if d.s[d.i] != ':' {
				return nil, d.syntax("invalid character %s after object key", quoteChar(d.s[d.i]))
			}
			d.i++
			v, err := d.value(depth)
			if err != nil {
				return nil, err
			}
			// A null member is kept to remove an earlier one of the same
			// name: the last member of a name wins, as in encoding/json.
			d.scratch = append(d.scratch, lua.LString(key), v)
			keyBytes += int64(len(key))
			d.skipSpace()
			if d.i >= len(d.s) {
				return nil, d.eof(" in object")
			}
			c := d.s[d.i]
			d.i++
			if c == '}' {
				break
			}
			if c != ',' {
				d.i--
				return nil, d.syntax("invalid character %s after object key:value pair", quoteChar(c))
			}
		}
	}
	pairs := d.scratch[start:]
	n := len(pairs) / 2
	t := d.L.CreateTable(0, n)
	for j := 0; j < len(pairs); j += 2 {
		key, v := string(pairs[j].(lua.LString)), pairs[j+1]
		if v == lua.LNil && t.RawGetString(key) == lua.LNil {
			continue
		}
		t.RawSetString(key, v)
	}
	clear(pairs)
	d.scratch = d.scratch[:start]
	return t, d.cost(tableCost + memberCost*int64(n) + keyBytes)
}

// string reads the string starting at d.s[d.i] == '"', decoding escapes as
// encoding/json does: invalid UTF-8 and lone surrogates become U+FFFD.
func (d *decoder) string() (string, error) {
	d.i++ // "
	start := d.i
	for d.i < len(d.s) {
		c := d.s[d.i]
		if c == '"' {
			s := strings.Clone(d.s[start:d.i])
			d.i++
			return s, nil
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			return d.slowString(start)
		}
		d.i++
	}
	return "", d.eof(" in string")
}

func (d *decoder) slowString(start int) (string, error) {
	b := make([]byte, 0, d.i-start+16)
	b = append(b, d.s[start:d.i]...)
	for d.i < len(d.s) {
		c := d.s[d.i]
		switch {
		case c == '"':
			d.i++
			return string(b), nil
		case c < 0x20:
			return "", d.syntax("invalid character %s in string literal", quoteChar(c))
		case c == '\\':
			d.i++
			if d.i >= len(d.s) {
				return "", d.eof(" in string")
			}
			switch e := d.s[d.i]; e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, ok := hex4(d.s[d.i+1:])
				if !ok {
					return "", d.badEscape()
				}
				d.i += 4
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if next := d.s[d.i+1:]; strings.HasPrefix(next, `\u`) {
						if v, ok := hex4(next[2:]); ok {
							r2 = v
						}
					}
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						r = dec
						d.i += 6
					} else {
						r = utf8.RuneError
					}
				}
				b = utf8.AppendRune(b, r)
			default:
				return "", d.syntax("invalid character %s in string escape code", quoteChar(e))
			}
			d.i++
		case c < utf8.RuneSelf:
			b = append(b, c)
			d.i++
		default:
			r, size := utf8.DecodeRuneInString(d.s[d.i:])
			if r == utf8.RuneError && size == 1 {
				b = utf8.AppendRune(b, utf8.RuneError)
			} else {
				b = append(b, d.s[d.i:d.i+size]...)
			}
			d.i += size
		}
	}
	return "", d.eof(" in string")
}

// hex4 reads the four hex digits of a \u escape at the start of s.
func hex4(s string) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[:4]) {
		v := hexValue(c)
		if v < 0 {
			return 0, false
		}
		r = r<<4 | v
	}
	return r, true
}

func hexValue(c byte) rune {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0')
	case 'a' <= c && c <= 'f':
		return rune(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return rune(c-'A') + 10
	}
	return -1
}

// badEscape reports the \u escape starting at d.s[d.i] == 'u' whose four
// hex digits are missing or wrong.
func (d *decoder) badEscape() error {
	for {
		d.i++
		if d.i >= len(d.s) {
			return d.eof(" in string escape code")
		}
		if hexValue(d.s[d.i]) < 0 {
			return d.syntax("invalid character %s in \\u hexadecimal character escape", quoteChar(d.s[d.i]))
		}
	}
}

// quoteChar writes c for an error message as encoding/json does.
func quoteChar(c byte) string {
	switch c {
	case '\'':
		return `'\''`
	case '"':
		return `'"'`
	}
	s := strconv.Quote(string(rune(c)))
	if c >= utf8.RuneSelf {
		s = strconv.Quote(string([]byte{c}))
	}
	return "'" + s[1:len(s)-1] + "'"
}
