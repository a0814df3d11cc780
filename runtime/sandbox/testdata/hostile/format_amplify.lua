-- expect: limit
-- Width 99 is allowed; repeated formatting still doubles the string.
local s = "x"
for i = 1, 100 do s = string.format("%99s%99s", s, s) end
