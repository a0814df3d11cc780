-- expect: error
return string.find(("a"):rep(300), ("a?"):rep(300) .. ("a"):rep(300))
