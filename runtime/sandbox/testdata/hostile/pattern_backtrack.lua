-- expect: limit
-- Exponential backtracking: the step budget stops it.
return string.find(("a"):rep(5000), "a-a-a-a-a-a-a-a-b")
