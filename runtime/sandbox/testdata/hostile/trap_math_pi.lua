-- expect: error
math.pi = 3
math.floor = function() return 42 end
error("trap set")
