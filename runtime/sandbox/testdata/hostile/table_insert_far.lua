-- expect: error
local t = {}
table.insert(t, 5e7, 1)
table.insert(t, -1e9, 1)
