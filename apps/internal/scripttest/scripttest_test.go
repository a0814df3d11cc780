package scripttest

import (
	"context"
	"strings"
	"testing"
)

func mustParse(t *testing.T, src string) *Transcript {
	t.Helper()
	tr, err := Parse("test", strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

const echoApp = `
local text = currentCall.initialText
while true do
  local ev = ask("You said: " .. text, {choices = "[ANY]"})
  if ev.name ~= "choice" then return end
  text = ev.value
end
`

func TestParse(t *testing.T) {
	tr := mustParse(t, "# c\nnetwork: voice\nconfig: A=b=c\nnws: down\nend: hangup\n\n< hi\n# c\n> 1\\n2\\\\\n>\n! timeout\n! hangup\n")
	if !tr.Voice || tr.Network != "sip" || tr.Config[0] != "A=b=c" || tr.NWS != "down" || tr.End != "hangup" {
		t.Errorf("header = %+v", tr)
	}
	want := []string{"< hi", `> 1\n2\\`, "> ", "! timeout", "! hangup"}
	if len(tr.Lines) != len(want) {
		t.Fatalf("lines = %v", tr.Lines)
	}
	for i, l := range tr.Lines {
		if l.String() != want[i] {
			t.Errorf("line %d = %q, want %q", i, l.String(), want[i])
		}
	}
	if tr.Lines[1].Text != "1\n2\\" {
		t.Errorf("unescaped = %q", tr.Lines[1].Text)
	}
}

func TestParseErrors(t *testing.T) {
	for _, src := range []string{
		"network: fax\n\n> hi\n",
		"colour: red\n\n> hi\n",
		"end: maybe\n\n> hi\n",
		"config: NOEQUALS\n\n> hi\n",
		"not a header\n\n> hi\n",
		"network: web\n\n< hello\n", // text starts with a > line
		"network: web\n\n> hi\n? what\n",
		"network: web\n\n> hi\n! explode\n",
		"network: web\n\n>hi\n",
	} {
		if _, err := Parse("bad", strings.NewReader(src)); err == nil {
			t.Errorf("Parse(%q): no error", src)
		}
	}
}

func TestRunAgrees(t *testing.T) {
	tr := mustParse(t, "network: web\nend: hangup\n\n> a\n< You said: a\n> b\n< You said: b\n! hangup\n")
	res := Run(context.Background(), tr, Options{Bundle: map[string][]byte{"main.lua": []byte(echoApp)}})
	if d := Diff(tr.Lines, res.Lines); d != "" || res.End != "hangup" || res.Err != nil {
		t.Errorf("diff %s, end %s, err %v", d, res.End, res.Err)
	}
}

func TestRunDisagrees(t *testing.T) {
	tr := mustParse(t, "network: web\n\n> a\n< You said: A\n! hangup\n")
	res := Run(context.Background(), tr, Options{Bundle: map[string][]byte{"main.lua": []byte(echoApp)}})
	d := Diff(tr.Lines, res.Lines)
	if !strings.Contains(d, "  - < You said: A") || !strings.Contains(d, "  + < You said: a") {
		t.Errorf("diff = %q", d)
	}
}

func TestRunOutOfInput(t *testing.T) {
	tr := mustParse(t, "network: web\n\n> a\n< You said: a\n")
	res := Run(context.Background(), tr, Options{Bundle: map[string][]byte{"main.lua": []byte(echoApp)}})
	if res.End != "error" || res.Err != errOutOfInput {
		t.Errorf("end %s, err %v", res.End, res.Err)
	}
}

func TestRunInputLeft(t *testing.T) {
	tr := mustParse(t, "network: web\n\n> a\n> b\n")
	res := Run(context.Background(), tr, Options{Bundle: map[string][]byte{"main.lua": []byte(`say("x")`)}})
	if res.Err == nil || !strings.Contains(res.Err.Error(), "input left") {
		t.Errorf("err = %v", res.Err)
	}
}

func TestRunScriptError(t *testing.T) {
	tr := mustParse(t, "network: web\n\n> a\n")
	res := Run(context.Background(), tr, Options{Bundle: map[string][]byte{"main.lua": []byte(`io.write("x")`)}})
	if res.End != "error" || res.Err == nil {
		t.Errorf("io is absent in the spec: end %s, err %v", res.End, res.Err)
	}
}

func TestMatch(t *testing.T) {
	named, _ := parseChoices("sales(1, sales), support(2, support)")
	digits, _ := parseChoices("[5 DIGITS]")
	rng, _ := parseChoices("[1-3 DIGITS]")
	tests := []struct {
		items []item
		in    string
		voice bool
		want  string
		ok    bool
	}{
		{named, "1", false, "sales", true},
		{named, " Support! ", false, "support", true},
		{named, "2#", true, "support", true},
		{named, "3", false, "", false},
		{digits, "32801", false, "32801", true},
		{digits, "32801.", false, "32801", true},
		{digits, "32801#", true, "32801", true},
		{digits, "3280", false, "", false},
		{digits, "328 01", false, "32801", true},
		{digits, "zip 32801", false, "", false},
		{rng, "12", true, "12", true},
		{rng, "1234", true, "", false},
	}
	for _, tt := range tests {
		got, ok := match(tt.items, tt.in, tt.voice)
		if got != tt.want || ok != tt.ok {
			t.Errorf("match(%q, voice %v) = %q, %v; want %q, %v", tt.in, tt.voice, got, ok, tt.want, tt.ok)
		}
	}
	if _, err := parseChoices("[FIVE DIGITS]"); err == nil {
		t.Error("bad rule accepted")
	}
}

func FuzzParse(f *testing.F) {
	f.Add("network: sms\nconfig: A=b\n\n> 32801\n< Orlando, FL\n! timeout\n")
	f.Add("network: voice\n\n< hi\n! hangup\n")
	f.Fuzz(func(t *testing.T, src string) {
		tr, err := Parse("fuzz", strings.NewReader(src))
		if err != nil {
			return
		}
		for _, l := range tr.Lines {
			// Every parsed line prints back to a line that parses the same.
			back, err := bodyLine(l.String())
			if err != nil || back.Kind != l.Kind || back.Text != l.Text {
				t.Fatalf("%q -> %q -> %+v, %v", l.Text, l.String(), back, err)
			}
		}
	})
}
