-- expect: limit
local s = "x"
for i = 1, 100 do s = s:gsub(".", "%0%0") end
