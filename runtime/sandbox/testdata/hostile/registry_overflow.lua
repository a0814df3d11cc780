-- expect: error
-- Varargs that outgrow the registry: an error, not a crash (stock gopher-lua
-- panicked building the traceback of a frame that had not started).
local function f(...) local x = f(1, 2, 3, 4, 5, 6, 7, 8, ...) return x end
f()
