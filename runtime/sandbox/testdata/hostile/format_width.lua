-- expect: error
return string.format("%99999s", "x")
