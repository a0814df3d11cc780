-- lua5.1 gen.lua < cases.txt > cases.golden
dofile("driver.lua")
for line in io.lines() do
  if line ~= "" and not line:find("^%-%-") then
    local f, err = loadstring("return " .. line)
    local out
    if not f then out = "compile error: " .. err else out = describe(f) end
    io.write((out:gsub("\n", "\\n")), "\n")
  end
end
