package verbs

import (
	"strings"

	lua "github.com/yuin/gopher-lua"
)

const maxLogLine = 4096

// log(...) / print(...) write one line to the app's log; values are joined
// with tabs as print does. Lines are capped at 4 KiB and MaxLogLines per
// session.
func (r *Runtime) log(L *lua.LState) int {
	n := r.logLines.Add(1)
	if n > int64(r.MaxLogLines) {
		if n == int64(r.MaxLogLines)+1 {
			r.Log("warn", "log: this session wrote more than its limit of lines; the rest are dropped")
		}
		return 0
	}
	var b strings.Builder
	for i := 1; i <= L.GetTop(); i++ {
		if i > 1 {
			b.WriteByte('\t')
		}
		v := L.Get(i)
		switch v.(type) {
		case lua.LString, lua.LNumber:
			b.WriteString(lua.LVAsString(v))
		default:
			b.WriteString(v.String())
		}
		if b.Len() > maxLogLine {
			break
		}
	}
	s := b.String()
	if len(s) > maxLogLine {
		s = s[:maxLogLine] + "…"
	}
	r.Log("info", s)
	return 0
}
