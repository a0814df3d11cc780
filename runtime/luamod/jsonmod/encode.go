package jsonmod

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	lua "github.com/yuin/gopher-lua"

	"github.com/chorus-dev/chorus/runtime/luamod"
)

// Encode returns the JSON text of v, mapped as the package documentation
// says, or an error wrapping one of ErrCycle, ErrSparseArray, ErrMixedKeys,
// ErrType, ErrTooDeep or ErrTooLarge. Metatables are ignored.
//
// Work is bounded by lim.MaxSize: every table and value visited writes at
// least one byte, so a table referenced many times stops at the size limit.
func Encode(v lua.LValue, lim Limits) ([]byte, error) {
	lim = lim.withDefaults()
	e := &encoder{
		max:      int(min(lim.MaxSize, math.MaxInt32)),
		maxDepth: lim.MaxDepth,
	}
	if err := e.value(v, 0); err != nil {
		return nil, err
	}
	return e.buf, nil
}

type encoder struct {
	buf      []byte
	max      int
	maxDepth int
	active   []*lua.LTable // tables being encoded, outermost first: one there twice is a cycle
	path     []pathKey     // keys from the top to the value being encoded, for errors
}

// pathKey is a key in an encoder's path: a name, or an index when name is "".
type pathKey struct {
	name  string
	index int
}

func (e *encoder) value(v lua.LValue, depth int) error {
	switch v := v.(type) {
	case *lua.LNilType:
		e.buf = append(e.buf, "null"...)
	case lua.LBool:
		e.buf = strconv.AppendBool(e.buf, bool(v))
	case lua.LNumber:
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return detail(ErrType, "cannot encode %s%s", lua.LVAsString(v), where(e.path))
		}
		e.buf = appendFloat(e.buf, f)
	case lua.LString:
		if len(e.buf)+len(v) > e.max {
			return e.tooLarge()
		}
		e.buf = appendString(e.buf, string(v))
	case *lua.LTable:
		if err := e.table(v, depth+1); err != nil {
			return err
		}
	default:
		if !isNull(v) {
			return detail(ErrType, "cannot encode %s%s", v.Type(), where(e.path))
		}
		e.buf = append(e.buf, "null"...)
	}
	if len(e.buf) > e.max {
		return e.tooLarge()
	}
	return nil
}

func (e *encoder) tooLarge() error {
	return detail(ErrTooLarge, "output larger than %s", luamod.FormatSize(int64(e.max)))
}

func (e *encoder) table(t *lua.LTable, depth int) error {
	e.active = append(e.active, t)
	defer func() { e.active = e.active[:len(e.active)-1] }()
	if depth > e.maxDepth {
		// A cycle always ends here; looking for one only now keeps the
		// search off the path of every table.
		for k := 1; k < len(e.active); k++ {
			if slices.Contains(e.active[:k], e.active[k]) {
				return detail(ErrCycle, "cannot encode recursively nested tables%s", where(e.path[:k]))
			}
		}
		return detail(ErrTooDeep, "nesting deeper than %d", e.maxDepth)
	}

	var (
		n, maxIndex int
		names       []string
		mixed       bool
	)
	t.ForEach(func(k, _ lua.LValue) {
		n++
		switch k := k.(type) {
		case lua.LString:
			names = append(names, string(k))
		case lua.LNumber:
			if f := float64(k); f >= 1 && f == math.Trunc(f) {
				maxIndex = max(maxIndex, int(min(f, math.MaxInt32)))
			} else {
				mixed = true
			}
		default:
			mixed = true
		}
	})
	switch {
	case n == 0:
		e.buf = append(e.buf, "[]"...)
		return nil
	case mixed || (names != nil && len(names) != n):
		return detail(ErrMixedKeys, "cannot encode mixed or invalid key types%s", where(e.path))
	case names == nil && maxIndex != n:
		return detail(ErrSparseArray, "cannot encode sparse array%s", where(e.path))
	case names == nil:
		e.buf = append(e.buf, '[')
		for i := 1; i <= n; i++ {
			if i > 1 {
				e.buf = append(e.buf, ',')
			}
			elem := t.RawGetInt(i)
			if i >= lua.MaxArrayIndex {
				elem = t.RawGet(lua.LNumber(i)) // kept in the hash part
			}
			e.path = append(e.path, pathKey{index: i})
			err := e.value(elem, depth)
			e.path = e.path[:len(e.path)-1]
			if err != nil {
				return err
			}
		}
		e.buf = append(e.buf, ']')
		return nil
	}
	slices.Sort(names)
	e.buf = append(e.buf, '{')
	for i, name := range names {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.buf = appendString(e.buf, name)
		e.buf = append(e.buf, ':')
		e.path = append(e.path, pathKey{name: name})
		err := e.value(t.RawGetString(name), depth)
		e.path = e.path[:len(e.path)-1]
		if err != nil {
			return err
		}
	}
	e.buf = append(e.buf, '}')
	return nil
}

// where names the value at path for an error: " at a.b[2]".
func where(path []pathKey) string {
	if len(path) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(" at ")
	for i, k := range path {
		if k.name == "" {
			b.WriteString("[" + strconv.Itoa(k.index) + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(k.name)
	}
	s := b.String()
	const maxPath = 120
	if len(s) > maxPath {
		s = " at ..." + s[len(s)-maxPath:]
	}
	return s
}

// appendFloat writes f as encoding/json does: integers and ordinary values
// without an exponent, very small and very large ones with one.
func appendFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 -> e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// encoding/json does; <, > and & are left as they are.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			// valid JSON, but not valid in JavaScript strings before ES2019
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
