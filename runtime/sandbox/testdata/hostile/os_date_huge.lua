-- expect: error
return os.date(("%c"):rep(1e5))
