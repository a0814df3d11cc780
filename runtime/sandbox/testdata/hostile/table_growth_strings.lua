-- expect: limit
local t = {}
local i = 0
while true do i = i + 1; t[i] = "x" .. i end
