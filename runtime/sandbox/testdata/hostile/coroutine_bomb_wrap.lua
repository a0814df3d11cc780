-- expect: limit
local t = {}
for i = 1, 10000 do t[i] = coroutine.wrap(function() end) end
