-- expect: error
collectgarbage("collect")
