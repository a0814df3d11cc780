-- expect: error
return load("return 1")()
