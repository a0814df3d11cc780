package scripttest

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// item is one alternative of a choices grammar (spec/lua-api.md).
type item struct {
	name     string   // the value reported
	synonyms []string // lower case; empty for rules
	digits   bool
	min, max int // digit counts; max 0: unbounded
	any      bool
}

// parseChoices reads "1, 2", "sales(1, sales), support(2, support)",
// "[5 DIGITS]", "[1-3 DIGITS]", "[DIGITS]", "[ANY]".
func parseChoices(s string) ([]item, error) {
	var items []item
	for _, part := range splitTop(s) {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		it, err := parseItem(part)
		if err != nil {
			return nil, fmt.Errorf("choices %q: %w", s, err)
		}
		items = append(items, it)
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("choices %q: no choices", s)
	}
	return items, nil
}

func splitTop(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, r := range s {
		switch r {
		case '(', '[':
			depth++
		case ')', ']':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

func parseItem(p string) (item, error) {
	if strings.HasPrefix(p, "[") && strings.HasSuffix(p, "]") {
		rule := strings.Fields(strings.ToUpper(p[1 : len(p)-1]))
		switch {
		case len(rule) == 1 && rule[0] == "ANY":
			return item{any: true}, nil
		case len(rule) == 1 && rule[0] == "DIGITS":
			return item{digits: true, min: 1}, nil
		case len(rule) == 2 && (rule[1] == "DIGIT" || rule[1] == "DIGITS"):
			lo, hi, ok := strings.Cut(rule[0], "-")
			if !ok {
				hi = lo
			}
			a, err1 := strconv.Atoi(lo)
			b, err2 := strconv.Atoi(hi)
			if err1 != nil || err2 != nil || a < 1 || b < a {
				return item{}, fmt.Errorf("bad digit rule %q", p)
			}
			return item{digits: true, min: a, max: b}, nil
		}
		return item{}, fmt.Errorf("unknown rule %q", p)
	}
	if i := strings.IndexByte(p, '('); i > 0 && strings.HasSuffix(p, ")") {
		it := item{name: strings.TrimSpace(p[:i])}
		for _, syn := range strings.Split(p[i+1:len(p)-1], ",") {
			if syn = strings.TrimSpace(syn); syn != "" {
				it.synonyms = append(it.synonyms, strings.ToLower(syn))
			}
		}
		return it, nil
	}
	return item{name: p, synonyms: []string{strings.ToLower(p)}}, nil
}

// normalize trims whitespace and punctuation around text input.
func normalize(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsPunct(r) })
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// match returns the value input matches, if any. On a call, input is the
// keys pressed (a trailing # is the terminator).
func match(items []item, input string, voice bool) (string, bool) {
	in := normalize(input)
	if voice {
		in = strings.TrimSuffix(strings.TrimSpace(input), "#")
	}
	for _, it := range items {
		switch {
		case it.any:
			if !voice && strings.TrimSpace(input) != "" {
				return strings.TrimSpace(input), true
			}
		case it.digits:
			in := strings.ReplaceAll(in, " ", "") // "328 01" is 32801
			if allDigits(in) && len(in) >= it.min && (it.max == 0 || len(in) <= it.max) {
				return in, true
			}
		default:
			for _, syn := range it.synonyms {
				if strings.ToLower(in) == syn {
					return it.name, true
				}
			}
		}
	}
	return "", false
}
