package sandbox

import (
	"errors"
	"fmt"

	lua "github.com/yuin/gopher-lua"
)

// Kinds of LimitError.
const (
	KindCompute    = "compute"    // Lua ran longer than Limits.Compute without a Blocking call
	KindMemory     = "memory"     // the session went over Limits.Memory, or held the most when the process ran low
	KindSession    = "session"    // the session lasted longer than Limits.SessionMax
	KindCoroutines = "coroutines" // the script created more than Limits.Coroutines coroutines
	KindPattern    = "pattern"    // one pattern-matching call took more than its step budget
)

// LimitError reports that a session was stopped because it went over one of
// its limits. A script cannot catch it: pcall, xpcall and coroutines all
// give way to it.
type LimitError struct {
	Kind   string // one of the Kind constants
	Detail string // what happened, as the end of a sentence for the app log
}

// Error returns a sentence for the app log, e.g. "limit: ran Lua for more
// than 2s without waiting for input".
func (e *LimitError) Error() string { return "limit: " + e.Detail }

// CompileError is a script that does not compile: a syntax error, or source
// that is too large or too deeply nested to be accepted.
type CompileError struct {
	Name string // chunk name, e.g. "main.lua"
	Line int    // 1-based; 0 when the error is about the whole source
	Msg  string
}

// Error returns "main.lua:3: unexpected symbol near 'x'"-like text.
func (e *CompileError) Error() string {
	if e.Line <= 0 {
		return fmt.Sprintf("%s: %s", e.Name, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.Name, e.Line, e.Msg)
}

// ScriptError is an error the script raised (or the VM raised for it) that
// reached the top of the main chunk.
type ScriptError struct {
	Msg       string     // the error message, usually with the position: "main.lua:4: attempt to call a nil value"
	Value     lua.LValue // the value given to error(), when it was not a string
	Traceback string     // the Lua stack traceback, for logs
}

func (e *ScriptError) Error() string { return e.Msg }

// ErrClosed is returned by Start after Close.
var ErrClosed = errors.New("sandbox: closed")

// ErrStopped is the cause Stop uses when given nil.
var ErrStopped = errors.New("sandbox: session stopped")

// errSessionClosed cancels a session's context when it is closed normally.
var errSessionClosed = errors.New("sandbox: session closed")
