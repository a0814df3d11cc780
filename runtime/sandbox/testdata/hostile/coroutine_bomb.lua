-- expect: limit
local t = {}
for i = 1, 10000 do t[i] = coroutine.create(function() end) end
