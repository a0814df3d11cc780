package sandbox

import (
	"errors"
	"strings"
	"testing"
	"time"
)

type matchAbort struct{ err error }

// findAll runs the matcher the way gsub does over the whole subject and
// returns the matches, or the error that aborted it.
func findAll(src, pat string) (matches [][2]int, steps int64, err error) {
	defer func() {
		if r := recover(); r != nil {
			a, ok := r.(matchAbort)
			if !ok {
				panic(r)
			}
			err = a.err
		}
	}()
	m := newMatcher(src, pat, nil, func(e error) { panic(matchAbort{e}) })
	p := 0
	anchor := strings.HasPrefix(pat, "^")
	if anchor {
		p = 1
	}
	for s := 0; ; {
		e := m.attempt(s, p)
		if e != -1 {
			matches = append(matches, [2]int{s, e})
			for i := 0; i < m.numCaptures(true); i++ {
				m.captureValue(i, s, e) // must not go out of bounds
			}
		}
		if e != -1 && e > s {
			s = e
		} else if s < len(src) {
			s++
		} else {
			break
		}
		if anchor {
			break
		}
	}
	return matches, m.steps, nil
}

func TestPatternBudget(t *testing.T) {
	for _, c := range []struct {
		src, pat string
		want     error
	}{
		{strings.Repeat("a", 5000), "a-a-a-a-a-a-a-a-b", errSteps},
		{strings.Repeat("a", 40), "a-a-a-a-a-a-a-a-b", errSteps},
		{strings.Repeat("a", 100000), "(.-)%1b", errSteps},
		{strings.Repeat("a", 999990), "^.*b", nil},                             // linear, and shallow
		{strings.Repeat("(", 50000) + strings.Repeat(")", 50000), "%b()", nil}, // one linear match
		{strings.Repeat("(", 100000), "%b()", errSteps},                        // quadratic: a scan from every position
		{"x", strings.Repeat("x?", 300), nil},                                  // items without recursion
		{"x", strings.Repeat("(x?)", 40), &patternError{"too many captures"}},
		{strings.Repeat("a", 300), strings.Repeat("a?", 300) + strings.Repeat("a", 300), &patternError{"pattern too complex"}},
	} {
		start := time.Now()
		_, steps, err := findAll(c.src, c.pat)
		d := time.Since(start)
		if (err == nil) != (c.want == nil) || (err != nil && err.Error() != c.want.Error()) {
			t.Errorf("%.20q on %d bytes: got %v, want %v", c.pat, len(c.src), err, c.want)
		}
		if d > 3*time.Second && !raceEnabled {
			t.Errorf("%.20q on %d bytes took %v (%d steps)", c.pat, len(c.src), d, steps)
		}
	}
}

// TestPatternCancel: a match that would take long stops when its context
// is done.
func TestPatternCancel(t *testing.T) {
	stop := errors.New("stopped")
	calls := 0
	var got error
	func() {
		defer func() { got = recover().(matchAbort).err }()
		m := newMatcher(strings.Repeat("a", 5000), "a-a-a-a-a-a-a-a-b", func() error {
			calls++
			if calls == 3 {
				return stop
			}
			return nil
		}, func(e error) { panic(matchAbort{e}) })
		m.attempt(0, 0)
	}()
	if got != stop || calls != 3 {
		t.Errorf("got %v after %d checks", got, calls)
	}
}

func FuzzPattern(f *testing.F) {
	for _, s := range [][2]string{
		{"hello world", "o w"}, {"hello", "(l)(l)"}, {"hello", "()ll()"}, {"f(a(b)c)d", "%b()"},
		{"THE (quick) fox", "%f[%a]%a+"}, {"hello hello", "(h%a+) %1"}, {"a\x00b", "%z"},
		{"  trim  ", "^%s*(.-)%s*$"}, {"a,b,,c", "([^,]*)"}, {"x", "[a"}, {"x", "%"}, {"x", "(()"},
		{"a]b", "[]]"}, {"a-b", "[a-]+"}, {"key=val", "(%w+)=(%w*)"}, {"aaa", "a-a-a-b"},
		{"x", "[%"}, {"x", "[^"}, {"x", "%f[%"}, {"(", "%b("}, {"ab", "%1"}, {"", "$"}, {"a", "()$"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, src, pat string) {
		if len(src) > 4096 || len(pat) > 256 {
			return
		}
		matches, _, err := findAll(src, pat)
		if err != nil {
			var pe *patternError
			if !errors.As(err, &pe) {
				t.Fatalf("%q %q: unexpected abort %v", src, pat, err)
			}
			return
		}
		last := -1
		for _, m := range matches {
			if m[0] < 0 || m[0] > m[1] || m[1] > len(src) || m[0] < last {
				t.Fatalf("%q %q: bad match %v", src, pat, m)
			}
			last = m[1]
		}
	})
}
