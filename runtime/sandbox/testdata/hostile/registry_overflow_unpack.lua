-- expect: error
local t = {}
for i = 1, 7000 do t[i] = i end
local function f(n, ...) if n == 0 then return select("#", ...) end local r = f(n - 1, unpack(t)) return r end
return f(20)
