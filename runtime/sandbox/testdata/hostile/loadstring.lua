-- expect: error
return loadstring("return 1")()
