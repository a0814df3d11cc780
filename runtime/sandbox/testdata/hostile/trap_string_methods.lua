-- expect: error
-- Adding string methods is allowed; they belong to this session.
function string.upper(s) return "pwned" end
local mt = getmetatable("")
error("trap set")
