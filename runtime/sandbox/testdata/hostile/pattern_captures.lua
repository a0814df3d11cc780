-- expect: error
return string.match("x", ("(x?)"):rep(40))
