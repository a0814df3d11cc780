-- expect: error
rawset(getmetatable(""), "__index", {})
