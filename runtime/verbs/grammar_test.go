package verbs

import "testing"

func TestGrammarText(t *testing.T) {
	cases := []struct {
		grammar, input, value string
		ok                    bool
	}{
		{"1, 2, 3", "2", "2", true},
		{"1, 2, 3", " 3. ", "3", true},
		{"1, 2, 3", "4", "", false},
		{"sales(1, sales), support(2, support)", "SALES!", "sales", true},
		{"sales(1, sales), support(2, support)", "2", "support", true},
		{"sales(1, sales), support(2, support)", "billing", "", false},
		{"department(support, engineering), person(jose, adam)", "Adam", "person", true},
		{"[5 DIGITS]", "32801", "32801", true},
		{"[5 DIGITS]", "3280", "", false},
		{"[5 DIGITS]", "328011", "", false},
		{"[5 DIGITS]", "zip 32801", "", false},
		{"[1-3 DIGITS]", "12", "12", true},
		{"[1 DIGIT]", "7", "7", true},
		{"[DIGITS]", "1234567", "1234567", true},
		{"[DIGITS]", "12a", "", false},
		{"[ANY]", "hello there", "hello there", true},
		{"[ANY]", "   ", "", false},
		{"[5 DIGITS], cancel", "Cancel", "cancel", true},
	}
	for _, c := range cases {
		g, err := ParseGrammar(c.grammar)
		if err != nil {
			t.Fatalf("%q: %v", c.grammar, err)
		}
		m, ok := g.MatchText(c.input)
		if ok != c.ok || m.Value != c.value {
			t.Errorf("%q on %q = %q,%v; want %q,%v", c.grammar, c.input, m.Value, ok, c.value, c.ok)
		}
	}
}

func TestGrammarDTMF(t *testing.T) {
	g, _ := ParseGrammar("sales(1, sales), support(2, support)")
	if m, ok := g.MatchDTMF("2"); !ok || m.Value != "support" {
		t.Fatalf("dtmf 2 = %v %v", m, ok)
	}
	if g.MaxDigits() != 1 {
		t.Fatalf("MaxDigits = %d", g.MaxDigits())
	}
	any, _ := ParseGrammar("[ANY]")
	if _, ok := any.MatchDTMF("1"); ok {
		t.Fatal("[ANY] matched on voice")
	}
	d, _ := ParseGrammar("[1-3 DIGITS]")
	if d.MaxDigits() != 3 {
		t.Fatalf("MaxDigits = %d", d.MaxDigits())
	}
	u, _ := ParseGrammar("[DIGITS]")
	if u.MaxDigits() != 0 {
		t.Fatalf("MaxDigits = %d", u.MaxDigits())
	}
}

func TestGrammarErrors(t *testing.T) {
	for _, s := range []string{"", "[5 DIGITZ]", "[0 DIGITS]", "[3-1 DIGITS]", "sales(1", "(1,2)", "[99 DIGITS]"} {
		if _, err := ParseGrammar(s); err == nil {
			t.Errorf("%q parsed", s)
		}
	}
}

func FuzzParseGrammar(f *testing.F) {
	for _, s := range []string{"1, 2", "a(1, b), c(2)", "[1-3 DIGITS]", "[ANY]", "[5 DIGITS], x"} {
		f.Add(s, "1")
	}
	f.Fuzz(func(t *testing.T, s, in string) {
		g, err := ParseGrammar(s)
		if err != nil {
			return
		}
		g.MatchText(in)
		g.MatchDTMF(in)
		g.MaxDigits()
	})
}
