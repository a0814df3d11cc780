package scripttest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Line is one event of a conversation.
type Line struct {
	Kind byte   // '>' the person sends, '<' the app sends, '!' timeout/hangup
	Text string // unescaped
	No   int    // line number in the file (0 for lines a run produced)
}

func (l Line) String() string { return string(l.Kind) + " " + escape(l.Text) }

// Transcript is a parsed transcript file.
type Transcript struct {
	Name    string
	Network string // REST name: web, sms, sip, ...
	Voice   bool
	From    string
	To      string
	Config  []string // NAME=value, as written ({{NWS}} not replaced)
	NWS     string   // nwsfake mode, "" for no fake
	End     string   // expected end reason, "" not checked
	Lines   []Line
}

var textNetworks = map[string]bool{"web": true, "sms": true, "xmpp": true, "twitter": true, "mastodon": true, "p2p": true}

// ParseFile reads a transcript file.
func ParseFile(path string) (*Transcript, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(filepath.Base(path), f)
}

// Parse reads a transcript.
func Parse(name string, r io.Reader) (*Transcript, error) {
	t := &Transcript{Name: name, Network: "web"}
	sc := bufio.NewScanner(r)
	no := 0
	header := true
	for sc.Scan() {
		no++
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.HasPrefix(line, "#") {
			continue
		}
		if header {
			if strings.TrimSpace(line) == "" {
				header = false
				continue
			}
			if err := t.header(line); err != nil {
				return nil, fmt.Errorf("%s:%d: %w", name, no, err)
			}
			continue
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		l, err := bodyLine(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, no, err)
		}
		l.No = no
		t.Lines = append(t.Lines, l)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if !t.Voice {
		if len(t.Lines) == 0 || t.Lines[0].Kind != '>' {
			return nil, fmt.Errorf("%s: a text conversation starts with a > line", name)
		}
	}
	return t, nil
}

func (t *Transcript) header(line string) error {
	k, v, ok := strings.Cut(line, ":")
	if !ok {
		return fmt.Errorf("header line %q is not key: value (end the header with a blank line)", line)
	}
	k, v = strings.TrimSpace(k), strings.TrimSpace(v)
	switch k {
	case "network":
		v = strings.ToLower(v)
		switch {
		case v == "voice" || v == "sip":
			t.Network, t.Voice = "sip", true
		case v == "jabber":
			t.Network = "xmpp"
		case textNetworks[v]:
			t.Network = v
		default:
			return fmt.Errorf("unknown network %q", v)
		}
	case "from":
		t.From = v
	case "to":
		t.To = v
	case "config":
		if !strings.Contains(v, "=") {
			return fmt.Errorf("config %q is not NAME=value", v)
		}
		t.Config = append(t.Config, v)
	case "nws":
		t.NWS = v
	case "end":
		switch v {
		case "completed", "hangup", "timeout", "error", "limit":
			t.End = v
		default:
			return fmt.Errorf("unknown end reason %q", v)
		}
	default:
		return fmt.Errorf("unknown header key %q", k)
	}
	return nil
}

func bodyLine(line string) (Line, error) {
	if line == ">" || line == "<" {
		return Line{Kind: line[0]}, nil // an empty message
	}
	if len(line) < 2 || line[1] != ' ' {
		return Line{}, fmt.Errorf("line %q: want \"> text\", \"< text\", \"! timeout\", \"! hangup\" or \"# comment\"", line)
	}
	kind, text := line[0], line[2:]
	switch kind {
	case '>', '<':
		return Line{Kind: kind, Text: unescape(text)}, nil
	case '!':
		if text != "timeout" && text != "hangup" {
			return Line{}, fmt.Errorf("unknown event %q (want timeout or hangup)", text)
		}
		return Line{Kind: kind, Text: text}, nil
	}
	return Line{}, fmt.Errorf("line %q: unknown kind %q", line, kind)
}

func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			switch s[i+1] {
			case 'n':
				b.WriteByte('\n')
				i++
				continue
			case '\\':
				b.WriteByte('\\')
				i++
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func escape(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}

// Diff compares the expected lines with those a run produced; "" when they
// agree.
func Diff(want, got []Line) string {
	n := max(len(want), len(got))
	var b strings.Builder
	bad := false
	for i := 0; i < n; i++ {
		var w, g string
		if i < len(want) {
			w = want[i].String()
		}
		if i < len(got) {
			g = got[i].String()
		}
		if w == g {
			fmt.Fprintf(&b, "    %s\n", w)
			continue
		}
		bad = true
		if w != "" {
			fmt.Fprintf(&b, "  - %s\n", w)
		}
		if g != "" {
			fmt.Fprintf(&b, "  + %s\n", g)
		}
	}
	if !bad {
		return ""
	}
	return "conversation differs (- want, + got):\n" + b.String()
}
