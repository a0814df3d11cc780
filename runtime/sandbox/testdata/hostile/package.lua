-- expect: error
return package.loaded
