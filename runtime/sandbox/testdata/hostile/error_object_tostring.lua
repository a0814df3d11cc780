-- expect: error
-- The error value is a table whose __tostring loops: nothing calls it.
error(setmetatable({}, {__tostring = function() while true do end end}))
