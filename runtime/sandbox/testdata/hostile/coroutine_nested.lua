-- expect: limit
local function f() coroutine.wrap(f)() end
f()
