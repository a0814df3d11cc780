-- expect: limit
-- coroutine.resume returns false on error; the loop keeps resuming new ones.
while true do
  local co = coroutine.create(function() while true do end end)
  coroutine.resume(co)
end
