-- expect: limit
-- Every string is within the cap; the loop never ends.
while true do local s = ("x"):rep(1e7) end
