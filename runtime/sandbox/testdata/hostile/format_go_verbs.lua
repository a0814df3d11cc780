-- expect: error
-- No Go verbs: %v would dump Go structures.
return string.format("%v", {})
