-- zips.lua: ZIP code handling for the weather app.
--
-- Relies on the runtime's lookup(name, key) (spec/lua-api.md): it returns the
-- fields of the first row of the CSV asset whose first field equals key, as a
-- Lua array of every field, the key first. zips.csv.gz rows are
-- "zip,place,state,lat,lon", so lookup("zips.csv.gz", "32801") gives
-- {"32801", "Orlando", "FL", "28.5399", "-81.3727"}. The runtime decompresses
-- .gz assets itself. (The contract first read "the fields after the key",
-- {"Orlando", "FL", ...}; M.lookup accepts both shapes: a place name is never
-- the 5-digit key, so the first field tells which one it got.)

local M = {}

-- The bundle asset holding the ZIP table.
M.ASSET = "zips.csv.gz"

-- find returns the one ZIP code in text, or nil. A ZIP is a run of exactly
-- five digits; other numbers are ignored. So "32801", " 32801. ",
-- "zip 32801", "32801-1234" (ZIP+4) and "123 Main St 32801" give "32801",
-- while "hi", "123", "328011" and "32801 or 32803" (two ZIPs) give nil.
function M.find(text)
  if type(text) ~= "string" then
    return nil
  end
  local found = nil
  local pos = 1
  while true do
    local s, e = string.find(text, "%d+", pos)
    if not s then
      return found
    end
    if e - s + 1 == 5 then
      if found then
        return nil -- two ZIPs: ambiguous
      end
      found = string.sub(text, s, e)
    end
    pos = e + 1
  end
end

-- coord normalises a decimal degree string to at most 4 decimals without
-- trailing zeros ("28.5399", "7.6"), the form api.weather.gov serves without
-- a redirect. It returns nil for anything that is not a number.
local function coord(s)
  local n = tonumber(s)
  if not n then
    return nil
  end
  local out = string.format("%.4f", n)
  out = string.gsub(out, "0+$", "")
  out = string.gsub(out, "%.$", "")
  if out == "-0" then
    out = "0"
  end
  return out
end
M.coord = coord

-- label is how a place is named in replies: "Orlando, FL".
local function label(place, state)
  if state and state ~= "" then
    return place .. ", " .. state
  end
  return place
end

-- M.lookup returns {zip=, place=, state=, label=, lat=, lon=} for a known
-- ZIP, or nil. lat/lon are strings ready for the /points URL.
function M.lookup(zip)
  local row = lookup(M.ASSET, zip)
  if type(row) ~= "table" then
    return nil
  end
  local i = 1 -- where the place is: 2 when the row starts with the key
  if row[1] == zip then
    i = 2
  end
  local place, state = row[i], row[i + 1] or ""
  local lat, lon = coord(row[i + 2]), coord(row[i + 3])
  if type(place) ~= "string" or place == "" or not lat or not lon then
    log("weather: bad row for ZIP " .. zip)
    return nil
  end
  return {
    zip = zip,
    place = place,
    state = state,
    label = label(place, state),
    lat = lat,
    lon = lon,
  }
end

return M
