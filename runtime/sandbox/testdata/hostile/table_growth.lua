-- expect: limit
local t = {}
while true do t[#t + 1] = "x" end
