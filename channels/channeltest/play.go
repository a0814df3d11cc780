package channeltest

import (
	"fmt"
	"strings"

	"github.com/chorus-dev/chorus/channels"
)

// Recorder is a scripted conversation (Conversation or Call).
type Recorder interface {
	channels.Conversation
	Log() []Line
	Left() ([]Line, error)
}

// Start builds the scripted conversation for t between the app at local and
// the person t.From, with the given session id.
func Start(t *Transcript, id string, local channels.Address) Recorder {
	n := channels.Network(t.Network)
	info := channels.Info{ID: id, Local: local, Remote: channels.Address{Network: n, ID: t.From}}
	var inputs []Line
	for _, l := range t.Lines {
		if l.Dir != '<' {
			inputs = append(inputs, l)
		}
	}
	if t.Voice() {
		return NewCall(info, inputs)
	}
	if len(inputs) > 0 && inputs[0].Dir == '>' {
		info.InitialText = inputs[0].Text
		inputs = inputs[1:]
	}
	c := NewConversation(info, inputs)
	if info.InitialText != "" {
		c.record(Line{Dir: '>', Text: info.InitialText})
	}
	return c
}

// Check compares what happened with the transcript. It returns "" when they
// agree, or a diff of the whole conversation.
func Check(t *Transcript, r Recorder, endReason string) string {
	got := r.Log()
	var problems []string
	if !equal(got, t.Lines) {
		problems = append(problems, "the conversation went another way:\n"+diff(t.Lines, got))
	}
	left, err := r.Left()
	if err != nil {
		problems = append(problems, err.Error())
	}
	if len(left) > 0 {
		problems = append(problems, fmt.Sprintf("the app ended with %d input line(s) unread, first %q", len(left), left[0].String()))
	}
	if t.End != "" && endReason != t.End {
		problems = append(problems, fmt.Sprintf("end_reason = %q, want %q", endReason, t.End))
	}
	return strings.Join(problems, "\n")
}

func equal(a, b []Line) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// diff shows both conversations side by side, marking the first
// difference.
func diff(want, got []Line) string {
	var b strings.Builder
	n := max(len(want), len(got))
	marked := false
	for i := 0; i < n; i++ {
		var w, g string
		if i < len(want) {
			w = want[i].String()
		}
		if i < len(got) {
			g = got[i].String()
		}
		mark := "  "
		if w != g && !marked {
			mark = "=>"
			marked = true
		}
		fmt.Fprintf(&b, "%s want %-50s | got %s\n", mark, w, g)
	}
	return b.String()
}
