-- expect: error
return newproxy(true)
