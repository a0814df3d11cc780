-- expect: error
return debug.getregistry()
