-- expect: limit
-- A top-level "return pcall(f)" returns no error from the VM: Run checks the context.
return pcall(function() while true do end end)
