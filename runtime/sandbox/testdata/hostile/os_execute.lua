-- expect: error
os.execute("id")
