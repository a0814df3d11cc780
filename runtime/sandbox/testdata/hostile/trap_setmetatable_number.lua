-- expect: error
setmetatable(0, {__index = function() return "pwned" end})
