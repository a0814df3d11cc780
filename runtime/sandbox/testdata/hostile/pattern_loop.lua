-- expect: limit
while true do string.find(("a"):rep(30), "a-a-a-a-b") end
