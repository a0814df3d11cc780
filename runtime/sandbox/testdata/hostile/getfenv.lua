-- expect: error
return getfenv(pcall)
