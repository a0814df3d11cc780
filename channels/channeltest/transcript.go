package channeltest

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Transcript is a parsed golden file.
type Transcript struct {
	Name    string
	Network string // "web", "sms", ..., "sip" (voice)
	From    string
	To      string
	Config  map[string]string
	NWS     string
	End     string
	Lines   []Line
}

// Line is one event of the conversation.
type Line struct {
	Dir  byte   // '>' in, '<' out, '!' event
	Text string // for '!': "timeout" or "hangup"
}

func (l Line) String() string { return string(l.Dir) + " " + escape(l.Text) }

// Voice reports whether the transcript is a call.
func (t *Transcript) Voice() bool { return t.Network == "sip" }

// Parse reads a transcript.
func Parse(name string, r io.Reader) (*Transcript, error) {
	t := &Transcript{Name: name, Network: "web", Config: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	header := true
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		if header {
			if strings.TrimSpace(line) == "" {
				header = false
				continue
			}
			if line[0] == '>' || line[0] == '<' || line[0] == '!' {
				header = false
			} else {
				k, v, ok := strings.Cut(line, ":")
				if !ok {
					return nil, fmt.Errorf("%s:%d: header lines are key: value", name, n)
				}
				v = strings.TrimSpace(v)
				switch strings.TrimSpace(k) {
				case "network":
					t.Network = v
					if v == "voice" {
						t.Network = "sip"
					}
				case "from":
					t.From = v
				case "to":
					t.To = v
				case "config":
					ck, cv, ok := strings.Cut(v, "=")
					if !ok {
						return nil, fmt.Errorf("%s:%d: config: NAME=value", name, n)
					}
					t.Config[ck] = cv
				case "nws":
					t.NWS = v
				case "end":
					t.End = v
				default:
					return nil, fmt.Errorf("%s:%d: unknown header key %q", name, n, k)
				}
				continue
			}
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		if len(line) < 2 || (line[0] != '>' && line[0] != '<' && line[0] != '!') {
			return nil, fmt.Errorf("%s:%d: body lines start with '> ', '< ' or '! '", name, n)
		}
		text := strings.TrimPrefix(line[1:], " ")
		if line[0] == '!' && text != "timeout" && text != "hangup" {
			return nil, fmt.Errorf("%s:%d: events are '! timeout' and '! hangup'", name, n)
		}
		t.Lines = append(t.Lines, Line{Dir: line[0], Text: unescape(text)})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if t.From == "" {
		switch t.Network {
		case "sms", "sip":
			t.From = "+14075551111"
		case "xmpp":
			t.From = "alice@example.org"
		default:
			t.From = "alice"
		}
	}
	return t, nil
}

func escape(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}

func unescape(s string) string {
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
