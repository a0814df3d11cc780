// Package luamod holds what the Go modules offered to Chorus scripts share:
// the [Host] interface through which a module reaches the session running
// the script.
//
// The modules live in sub-packages (httpmod, jsonmod). Each one is opened
// onto the environment table a sandboxed script runs in, by a function of
// the form
//
//	Open(L *lua.LState, env *lua.LTable, h luamod.Host, ...)
//
// which sets one field of env (env.http, env.json) to a fresh table, so that
// nothing one session changes in it is seen by another. The modules do not
// use gopher-lua's package library or PreloadModule: the sandbox has none.
//
// Every module follows the same rules:
//   - a runtime failure (a refused address, bad JSON, a timeout, a value too
//     large) goes back to Lua as nil plus an error string; only bad
//     arguments (wrong types, unknown options) raise a Lua error;
//   - every blocking call is bound to Host.Context and wrapped in
//     Host.Blocking;
//   - everything read from the outside world is bounded, and what is handed
//     back to the script is charged to the session with Host.Charge; an
//     error from Charge is raised.
//
// Package luamodtest has a recording fake Host for tests.
package luamod
