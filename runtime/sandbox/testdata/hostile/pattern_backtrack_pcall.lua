-- expect: limit
while true do pcall(string.find, ("a"):rep(5000), "a-a-a-a-a-a-a-a-b") end
