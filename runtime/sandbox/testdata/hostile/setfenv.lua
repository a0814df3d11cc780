-- expect: error
setfenv(1, {})
