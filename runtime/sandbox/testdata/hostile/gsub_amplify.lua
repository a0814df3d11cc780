-- expect: limit
local s = ("x"):rep(1e6)
local r = s:gsub("x", ("y"):rep(100))
