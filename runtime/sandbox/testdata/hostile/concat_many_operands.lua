-- expect: limit
-- One OP_CONCAT instruction with 20 operands of 1 MB.
local s = ("x"):rep(1e6)
local y = s..s..s..s..s..s..s..s..s..s..s..s..s..s..s..s..s..s..s..s
