-- expect: error
return getfenv(0).string
