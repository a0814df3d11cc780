-- expect: error
_G.tostring = function() return "pwned" end
x_trap = true
getmetatable = nil
error("trap set")
