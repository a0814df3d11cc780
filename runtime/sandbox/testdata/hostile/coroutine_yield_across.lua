-- expect: error
-- Yielding from Lua called by Go (here a sort comparator) corrupted the state.
local co = coroutine.wrap(function()
  table.sort({3, 2, 1}, function(a, b) coroutine.yield() return a < b end)
end)
co()
co()
