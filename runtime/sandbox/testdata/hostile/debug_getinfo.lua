-- expect: error
return debug.getinfo(1)
