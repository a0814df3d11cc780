-- expect: limit
local r = (("a"):rep(1e5)):gsub("a", function() return ("b"):rep(1000) end)
