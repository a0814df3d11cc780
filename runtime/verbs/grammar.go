package verbs

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// Grammar is a parsed Tropo choices string:
//
//	"1, 2, 3"                                  literal choices
//	"sales(1, sales), support(2, support)"     named choices with synonyms
//	"department(support, engineering)"         concept families (same form)
//	"[1 DIGIT]" "[5 DIGITS]" "[1-3 DIGITS]" "[DIGITS]"
//	"[ANY]"                                    any text (text networks only)
//
// Items may be mixed: "[5 DIGITS], cancel".
type Grammar struct {
	Items []GrammarItem
}

// GrammarItem is one alternative of a Grammar.
type GrammarItem struct {
	Name     string   // value reported on a match (the concept)
	Synonyms []string // literal forms that match; empty for rules
	Digits   bool     // a digit-string rule
	Min, Max int      // digit counts; Max 0 = unbounded
	Any      bool     // [ANY]
}

// Match is a successful match.
type Match struct {
	Value          string
	Interpretation string
}

// ParseGrammar parses a choices string.
func ParseGrammar(s string) (*Grammar, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("choices: empty grammar")
	}
	var g Grammar
	for _, part := range splitTop(s) {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		item, err := parseItem(part)
		if err != nil {
			return nil, fmt.Errorf("choices %q: %w", s, err)
		}
		g.Items = append(g.Items, item)
	}
	if len(g.Items) == 0 {
		return nil, fmt.Errorf("choices %q: no choices", s)
	}
	return &g, nil
}

// splitTop splits on commas outside parentheses and brackets.
func splitTop(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, r := range s {
		switch r {
		case '(', '[':
			depth++
		case ')', ']':
			if depth > 0 {
				depth--
			}
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

func parseItem(p string) (GrammarItem, error) {
	if strings.HasPrefix(p, "[") {
		if !strings.HasSuffix(p, "]") {
			return GrammarItem{}, fmt.Errorf("unclosed %q", p)
		}
		return parseRule(strings.TrimSpace(p[1 : len(p)-1]))
	}
	if i := strings.IndexByte(p, '('); i >= 0 {
		if !strings.HasSuffix(p, ")") {
			return GrammarItem{}, fmt.Errorf("unclosed %q", p)
		}
		name := strings.TrimSpace(p[:i])
		if name == "" {
			return GrammarItem{}, fmt.Errorf("choice %q has no name", p)
		}
		item := GrammarItem{Name: name}
		for _, syn := range strings.Split(p[i+1:len(p)-1], ",") {
			if syn = strings.TrimSpace(syn); syn != "" {
				item.Synonyms = append(item.Synonyms, syn)
			}
		}
		if len(item.Synonyms) == 0 {
			item.Synonyms = []string{name}
		}
		return item, nil
	}
	if strings.ContainsAny(p, ")]") {
		return GrammarItem{}, fmt.Errorf("unexpected bracket in %q", p)
	}
	return GrammarItem{Name: p, Synonyms: []string{p}}, nil
}

func parseRule(r string) (GrammarItem, error) {
	up := strings.ToUpper(strings.Join(strings.Fields(r), " "))
	switch up {
	case "ANY":
		return GrammarItem{Name: "", Any: true}, nil
	case "DIGITS", "DIGIT":
		return GrammarItem{Digits: true, Min: 1, Max: 0}, nil
	}
	num, word, ok := strings.Cut(up, " ")
	if !ok || (word != "DIGITS" && word != "DIGIT") {
		return GrammarItem{}, fmt.Errorf("unknown rule [%s] (want [N DIGITS], [N-M DIGITS], [DIGITS] or [ANY])", r)
	}
	lo, hi, rng := strings.Cut(num, "-")
	min, err1 := strconv.Atoi(lo)
	max := min
	var err2 error
	if rng {
		max, err2 = strconv.Atoi(hi)
	}
	if err1 != nil || err2 != nil || min < 1 || max < min || max > 64 {
		return GrammarItem{}, fmt.Errorf("bad digit count in [%s] (1 to 64)", r)
	}
	return GrammarItem{Digits: true, Min: min, Max: max}, nil
}

// trimInput drops surrounding whitespace and punctuation.
func trimInput(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsPunct(r) })
}

// MatchText matches a message from a text network: case and surrounding
// whitespace/punctuation are ignored.
func (g *Grammar) MatchText(input string) (Match, bool) {
	t := trimInput(input)
	for _, it := range g.Items {
		switch {
		case it.Any:
			if strings.TrimSpace(input) != "" {
				return Match{Value: strings.TrimSpace(input), Interpretation: input}, true
			}
		case it.Digits:
			d := strings.ReplaceAll(t, " ", "")
			if digitsOK(d, it.Min, it.Max) {
				return Match{Value: d, Interpretation: input}, true
			}
		default:
			for _, syn := range it.Synonyms {
				if strings.EqualFold(t, syn) {
					return Match{Value: it.Name, Interpretation: input}, true
				}
			}
		}
	}
	return Match{}, false
}

// MatchDTMF matches keypad input (the terminator already removed). [ANY]
// never matches on voice.
func (g *Grammar) MatchDTMF(digits string) (Match, bool) {
	for _, it := range g.Items {
		switch {
		case it.Any:
		case it.Digits:
			if digitsOK(digits, it.Min, it.Max) {
				return Match{Value: digits, Interpretation: digits}, true
			}
		default:
			for _, syn := range it.Synonyms {
				if syn == digits {
					return Match{Value: it.Name, Interpretation: digits}, true
				}
			}
		}
	}
	return Match{}, false
}

// MaxDigits is how many keys can complete an input (0: only the
// terminator or the inter-digit timeout ends it).
func (g *Grammar) MaxDigits() int {
	max := 0
	for _, it := range g.Items {
		switch {
		case it.Digits:
			if it.Max == 0 {
				return 0
			}
			max = maxInt(max, it.Max)
		case !it.Any:
			for _, syn := range it.Synonyms {
				if isDTMF(syn) {
					max = maxInt(max, len(syn))
				}
			}
		}
	}
	return max
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

func isDTMF(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !strings.ContainsRune("0123456789*#ABCD", r) {
			return false
		}
	}
	return true
}

func digitsOK(s string, min, max int) bool {
	if len(s) < min || (max > 0 && len(s) > max) {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
