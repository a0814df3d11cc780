-- expect: error
return string.dump(function() end)
