-- expect: limit
-- The error handler itself loops.
xpcall(function() error("x") end, function(e) while true do end end)
