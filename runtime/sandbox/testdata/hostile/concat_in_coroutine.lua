-- expect: limit
-- The concatenation limit applies inside coroutines too.
coroutine.wrap(function() local s = "x" while true do s = s .. s end end)()
