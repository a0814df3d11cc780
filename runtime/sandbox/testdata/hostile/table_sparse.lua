-- expect: limit
-- Far keys go to the hash part, not to a ~1 GiB array of holes.
local t = {}
t[5e7] = 1
t[6.5e7] = 2
local i = 0
while true do i = i + 1; t[i * 4096] = i end
