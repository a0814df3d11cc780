-- expect: error
setmetatable("", {__index = {upper = function() return "pwned" end}})
