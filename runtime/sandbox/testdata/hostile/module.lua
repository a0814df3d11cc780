-- expect: error
module("x")
