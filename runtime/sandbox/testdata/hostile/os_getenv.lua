-- expect: error
return os.getenv("HOME")
