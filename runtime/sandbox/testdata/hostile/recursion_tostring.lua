-- expect: error
local t = setmetatable({}, {__tostring = function(self) return tostring(self) end})
return tostring(t)
