package luamod

import "context"

// Host is what a module needs from the session running the script.
//
// A module calls the Host only from the goroutine running the script's
// *lua.LState, while one of its Lua functions runs.
type Host interface {
	// Context is the session's context: it is cancelled on hangup and when a
	// limit stops the session. Every blocking call a module makes is bound
	// to it.
	Context() context.Context

	// Blocking is called before any blocking I/O; the module calls resume
	// once the I/O is over. The session's compute clock stops in between.
	Blocking() (resume func())

	// Charge counts n bytes handed back to the script against the session's
	// memory budget. A module raises the error it returns (the session is
	// being stopped) instead of handing the value to the script.
	Charge(n int64) error
}
