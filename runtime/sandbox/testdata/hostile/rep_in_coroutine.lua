-- expect: limit
local co = coroutine.wrap(function() return string.rep("x", 2^40) end)
co()
