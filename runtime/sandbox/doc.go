// Package sandbox runs developer-uploaded Lua 5.1 scripts (gopher-lua) so
// that no script can crash, stall or spy on the server or another session.
//
// # Ownership
//
// This package and the gopher-lua fork in third_party/gopher-lua (used
// through a replace directive; every change is listed in its CHORUS.md and
// marked "CHORUS:" in the source) belong to the sandbox. The engine builds
// on the API here: it starts a Session per conversation, adds its verbs and
// modules to Session.Globals, and runs the app's precompiled main chunk.
//
// # Goroutines and ordering
//
// A Sandbox owns one goroutine, the watchdog, started by New and stopped by
// Close. A Session belongs to the goroutine that called Start: Run,
// Blocking, Charge and Close are called from it; Stop, Context and Stats
// from anywhere. Between Blocking and the resume it returns, Go code must not
// touch the session's LState: that window is when the watchdog may walk the
// session's values, and the session's run lock (held from Start to Close
// except inside Blocking) is what keeps the walk from racing the script.
//
// # What a script has
//
// Exactly the whitelist of the Lua API contract: assert, error, ipairs,
// next, pairs, pcall, xpcall, select, tonumber, tostring, type, unpack,
// rawequal, rawget, rawset, setmetatable (tables only), getmetatable (a
// string's metatable reads as false), _G; string (without dump), table,
// math, coroutine; os.time, os.date, os.clock. Everything else is absent, so
// calling it is an ordinary Lua error.
//
// # Isolation
//
// Every session gets a fresh global table and fresh copies of the library
// tables (LTable.Copy of read-only templates), a protected string metatable
// whose __index is its own string table, and no metatables on numbers,
// booleans, nil, functions or threads; setmetatable accepts tables only. A
// state goes back to the pool only when its script returned normally, and
// Close drops what the session left in it. Nothing a session changes is seen
// by a later one: TestIsolationPooledState checks it on a reused state.
//
// # What bounds CPU
//
//   - The session context is set on the LState, which checks it before
//     every VM instruction: once it is done, every instruction raises, so
//     pcall, xpcall, coroutines and Go callbacks all unwind (Run also checks
//     it after the main chunk, for a final "return pcall(f)").
//   - The watchdog, every WatchInterval, stops a session whose current
//     compute phase (time since Start or the last Blocking) is longer than
//     Limits.Compute, and one that has lived longer than Limits.SessionMax
//     (one loop over the sessions, no timer per session).
//   - Library functions that loop in Go check the context: the pattern
//     matcher every 16K steps, with a budget of 1e7 + 32 x len(subject)
//     steps per call (over it: a "pattern" limit) and a recursion cap of 200
//     (Lua 5.2's "pattern too complex"); gsub is one linear pass, gmatch is
//     lazy; table.sort checks every 4096 comparisons.
//   - Compile refuses sources over 1 MiB, more than 200 syntax levels
//     (brackets, blocks, operator chains; Lua 5.1's own limit) and syntax
//     trees deeper than 10,000, so the parser and compiler cannot overflow
//     their stacks. There is no load or loadstring at run time.
//   - Deep recursion is an ordinary "stack overflow" error (256 frames).
//
// # What bounds memory
//
//   - No string may be longer than a quarter of Limits.Memory (16 MiB by
//     default). The fork's VM concatenation reports the result's length to
//     the session before building it (a single OP_CONCAT joins up to ~190
//     operands); string.rep, format (Lua conversions only, width and
//     precision of two digits), gsub, concat, upper, lower, reverse, char
//     check the size first or as they grow.
//   - Per-session estimate: strings built by the library and the VM and
//     bytes given to Charge are counted as they are made; when the count
//     passes Limits.Memory the session's reachable values are walked (on its
//     own goroutine) and the count restarts from what is really reachable;
//     over the budget, the session is stopped with a "memory" limit.
//   - The heap watchdog reads runtime/metrics (heap objects and stacks)
//     every WatchInterval. Over 0.8 x HeapLimit it forces a GC; still over,
//     it stops the session with the longest current compute phase (if it
//     has computed for at least 20 ms: that one is growing), otherwise the
//     idle session holding the most (walking the values of sessions blocked
//     in Go), otherwise, over 0.95 x HeapLimit, the longest computing one.
//     It picks no new victim while one is unwinding (up to 1 s), and collects
//     again once it has. New also sets HeapLimit as the runtime's soft
//     memory limit unless a smaller one is set.
//   - The fork also fixes crashes of stock gopher-lua that a script could
//     reach (resuming a "normal" coroutine, yielding across Go calls, a
//     traceback of an unstarted frame, a deep-recursion panic, quadratic
//     tracebacks): see third_party/gopher-lua/CHORUS.md.
//   - Coroutines are counted per session (each has its own registry);
//     unpack and string.byte return at most 8,000 values; the registry grows
//     to 64K slots at most; the fork keeps a far integer key (t[5e7] = 1) in
//     the hash part instead of filling the array with a gigabyte of holes.
//
// # Known to leak through, and why it is acceptable
//
//   - Tables grown by VM instructions are not counted as they grow. A
//     session may hold more than its budget in tables until its next
//     measurement (the next Memory's worth of strings) or until the heap
//     watchdog sees the process's heap; the watchdog bounds the process,
//     which is what protects the other sessions.
//   - Compute is wall-clock time, measured to within WatchInterval: on a
//     starved machine a script gets less CPU than Limits.Compute before it
//     is stopped, never more than Compute plus a tick plus one bounded Go
//     step.
//   - One library call can overrun a limit by a bounded amount before it
//     checks: a copy of at most 16 MiB (memmove cannot be preempted, so such
//     a copy delays other goroutines by milliseconds), a pattern call until
//     its next check, a sort until its next 4096 comparisons.
//   - Go code added by the engine is trusted: it must check the context
//     after L.PCall and raise when it is done, must not touch the LState
//     while blocked, and pays for Go memory it holds for a script with
//     Charge. Values it stores in the LState's registry outlive the session
//     on a pooled state.
//   - The library function values are shared by all sessions (a script can
//     use one as a table key; none can be changed from Lua), and
//     math.random's generator is the process's (randomseed has no effect).
//   - Where this package differs from stock Lua 5.1 on purpose:
//     getmetatable("") is false; setmetatable takes tables only;
//     table.insert refuses positions below 1; os.clock is the session's
//     compute time; os.date formats are at most 1 KiB; error messages are
//     gopher-lua's. The replaced functions otherwise return what Lua 5.1.5
//     returns (testdata/lua51, checked against lua5.1 when installed).
package sandbox
