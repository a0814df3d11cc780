-- expect: limit
local t = {}
for i = 1, 1000 do t[i] = i end
local s = table.concat(t, ("x"):rep(1e6))
