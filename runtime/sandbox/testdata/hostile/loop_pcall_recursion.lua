-- expect: limit
-- Recursion through pcall: each level catches the stack overflow below it.
local function f() while true do pcall(f) end end
f()
