-- expect: error
return string.find("x", "[a")
