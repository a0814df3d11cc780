package sandbox

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// string.format of Lua 5.1: only C's conversions (%c %d %i %o %u %x %X %e
// %E %f %g %G %q %s %%), flags "-+ #0", width and precision of at most two
// digits each (so one item is at most a few hundred bytes, except %s and %q
// of long strings, whose size is checked before they are copied).

const formatFlags = "-+ #0"

func strFormat(L *lua.LState) int {
	fs := argString(L, 1)
	sess := sessionOf(L)
	top := L.GetTop()
	arg := 1
	b := newBuffer(L, sess, len(fs)+16)
	var spec []byte // Go format for the current item
	for i := 0; i < len(fs); {
		c := fs[i]
		i++
		if c != '%' {
			b.putByte(c)
			continue
		}
		if i < len(fs) && fs[i] == '%' {
			b.putByte('%')
			i++
			continue
		}
		// A format item: flags, width, precision, conversion.
		arg++
		if arg > top {
			L.ArgError(arg, "no value")
		}
		start := i
		for i < len(fs) && strings.IndexByte(formatFlags, fs[i]) >= 0 {
			i++
		}
		if i-start > len(formatFlags) {
			L.RaiseError("invalid format (repeated flags)")
		}
		flags := fs[start:i]
		width, prec := -1, -1
		if i < len(fs) && isdigit(fs[i]) {
			width = int(fs[i] - '0')
			i++
			if i < len(fs) && isdigit(fs[i]) {
				width = width*10 + int(fs[i]-'0')
				i++
			}
		}
		if i < len(fs) && fs[i] == '.' {
			i++
			prec = 0
			if i < len(fs) && isdigit(fs[i]) {
				prec = int(fs[i] - '0')
				i++
				if i < len(fs) && isdigit(fs[i]) {
					prec = prec*10 + int(fs[i]-'0')
					i++
				}
			}
		}
		if i < len(fs) && isdigit(fs[i]) {
			L.RaiseError("invalid format (width or precision too long)")
		}
		if i >= len(fs) {
			L.RaiseError("invalid option '%%' to 'format'")
		}
		conv := fs[i]
		i++
		switch conv {
		case 'c':
			// C's sprintf result is cut at its first NUL (strlen), so %c of
			// 0 adds only the padding before it.
			ch := byte(toInt(argNumber(L, arg)))
			left := strings.IndexByte(flags, '-') >= 0
			if ch == 0 {
				if !left {
					pad(b, "", width-1, false)
				}
				break
			}
			pad(b, string([]byte{ch}), width, left)
		case 'd', 'i':
			v := cInt(argNumber(L, arg))
			spec = goSpec(spec[:0], flags, width, prec, 'd')
			b.putString(fmt.Sprintf(string(spec), v))
		case 'o', 'u', 'x', 'X':
			v := uint64(cInt(argNumber(L, arg)))
			fl := strings.NewReplacer("+", "", " ", "").Replace(flags)
			if v == 0 && conv != 'o' {
				fl = strings.ReplaceAll(fl, "#", "")
			}
			verb := conv
			if conv == 'u' {
				verb = 'd'
			}
			spec = goSpec(spec[:0], fl, width, prec, verb)
			b.putString(fmt.Sprintf(string(spec), v))
		case 'e', 'E', 'f', 'g', 'G':
			v := argNumber(L, arg)
			if math.IsInf(v, 0) || math.IsNaN(v) {
				b.putString(formatNonFinite(v, flags, width, conv))
				break
			}
			if prec < 0 {
				prec = 6
			}
			spec = goSpec(spec[:0], flags, width, prec, conv)
			b.putString(fmt.Sprintf(string(spec), v))
		case 'q':
			addQuoted(b, argString(L, arg))
		case 's':
			s := argString(L, arg)
			if prec < 0 && len(s) >= 100 {
				// No precision and too long to be formatted: kept whole.
				b.putString(s)
				break
			}
			if prec >= 0 && len(s) > prec {
				s = s[:prec]
			}
			if i := strings.IndexByte(s, 0); i >= 0 { // C sees the string up to its first NUL
				s = s[:i]
			}
			pad(b, s, width, strings.IndexByte(flags, '-') >= 0)
		default:
			L.RaiseError("invalid option '%%%c' to 'format'", conv)
		}
	}
	L.Push(b.result())
	return 1
}

// cInt converts a Lua number to C's long the way x86-64 does (out of range
// and NaN give math.MinInt64).
func cInt(f float64) int64 {
	if math.IsNaN(f) || f >= 9.223372036854775807e18 || f < -9.223372036854775808e18 {
		return math.MinInt64
	}
	return int64(f)
}

func goSpec(spec []byte, flags string, width, prec int, verb byte) []byte {
	spec = append(spec, '%')
	spec = append(spec, flags...)
	if width >= 0 {
		spec = strconv.AppendInt(spec, int64(width), 10)
	}
	if prec >= 0 {
		spec = append(spec, '.')
		spec = strconv.AppendInt(spec, int64(prec), 10)
	}
	return append(spec, verb)
}

// pad writes s padded with spaces to width, counting bytes as C does.
func pad(b *buffer, s string, width int, left bool) {
	n := width - len(s)
	if left {
		b.putString(s)
	}
	for ; n > 0; n-- {
		b.putByte(' ')
	}
	if !left {
		b.putString(s)
	}
}

// formatNonFinite prints inf and nan as glibc does.
func formatNonFinite(v float64, flags string, width int, conv byte) string {
	var s string
	switch {
	case math.IsNaN(v):
		s = "nan"
	default:
		s = "inf"
	}
	switch {
	case math.Signbit(v):
		s = "-" + s
	case strings.IndexByte(flags, '+') >= 0:
		s = "+" + s
	case strings.IndexByte(flags, ' ') >= 0:
		s = " " + s
	}
	if conv == 'E' || conv == 'G' {
		s = strings.ToUpper(s)
	}
	if n := width - len(s); n > 0 {
		if strings.IndexByte(flags, '-') >= 0 {
			return s + strings.Repeat(" ", n)
		}
		return strings.Repeat(" ", n) + s
	}
	return s
}

// addQuoted writes s as Lua 5.1's %q does.
func addQuoted(b *buffer, s string) {
	n := 2
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"', '\\', '\n', '\r':
			n += 2
		case 0:
			n += 4
		default:
			n++
		}
	}
	b.grow(n)
	b.putByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\', '\n':
			b.putByte('\\')
			b.putByte(c)
		case '\r':
			b.putString("\\r")
		case 0:
			b.putString("\\000")
		default:
			b.putByte(c)
		}
	}
	b.putByte('"')
}
