-- expect: error
-- The string metatable is protected: getmetatable("") is false.
getmetatable("").__index = {upper = function() return "pwned" end}
