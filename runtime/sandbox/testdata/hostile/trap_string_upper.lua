-- expect: error
-- Changes the library tables of this session only.
string.upper = function() return "pwned" end
string.len = function() return 0 end
table.insert = nil
error("trap set")
