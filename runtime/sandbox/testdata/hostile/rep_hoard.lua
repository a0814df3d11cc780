-- expect: limit
-- 1,000 distinct 1 MB strings kept alive: over the 64 MiB budget.
local t = {}
for i = 1, 1000 do t[i] = ("x"):rep(1e6) .. i end
