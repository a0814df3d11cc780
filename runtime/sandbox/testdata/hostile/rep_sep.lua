-- expect: limit
local s = string.rep("abc", 1e9, ", ")
