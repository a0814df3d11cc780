-- Runs one case (the function f) and describes its results: strings are
-- quoted with %q, other values with tostring; an error is "error: " and its
-- message without the position.
local function ser(...)
  local out = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    if type(v) == "string" then
      out[#out + 1] = string.format("%q", v)
    elseif type(v) == "table" or type(v) == "function" or type(v) == "thread" then
      out[#out + 1] = type(v)
    else
      out[#out + 1] = tostring(v)
    end
  end
  return table.concat(out, ", ")
end
local function pack(...) return {n = select("#", ...), ...} end
function describe(f)
  local r = pack(pcall(f))
  if r[1] then
    return ser(unpack(r, 2, r.n))
  end
  local e = tostring(r[2])
  local s, n = string.gsub(e, "^[^\n]-:%d+: ", "")
  return "error: " .. s
end
