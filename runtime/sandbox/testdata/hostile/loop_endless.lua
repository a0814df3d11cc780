-- expect: limit
-- An endless loop: the compute clock stops it.
while true do end
