-- expect: limit
-- table.concat of 1,000 references to one 1 MB string: 1 GB.
local big = ("x"):rep(1e6)
local t = {}
for i = 1, 1000 do t[i] = big end
local s = table.concat(t)
