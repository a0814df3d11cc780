-- expect: error
-- Resuming a coroutine that is resuming another (status "normal") re-entered it
-- in stock gopher-lua until the Go stack overflowed and the process died.
local B
B = coroutine.wrap(function()
  local A = coroutine.wrap(function() B() end)
  A()
end)
B()
