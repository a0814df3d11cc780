-- expect: error
os.remove("/tmp/x")
