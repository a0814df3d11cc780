-- expect: error
return string.byte(("x"):rep(1e6), 1, -1)
