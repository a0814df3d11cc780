-- expect: error
os.exit(1)
