-- expect: limit
-- pcall cannot catch the limit: once stopped, every instruction raises.
while true do
  pcall(function() while true do end end)
end
