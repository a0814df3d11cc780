-- expect: error
return channel.make()
