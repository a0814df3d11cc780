-- nws.lua: a small client for the National Weather Service API
-- (api.weather.gov), as the weather app uses it:
--
--   GET {base}/points/{lat},{lon}   -> properties.forecast (a URL)
--   GET that URL                    -> properties.periods[]
--
-- The API wants a User-Agent that identifies the app (403 without one) and
-- at most 4 decimals in a point (more gives a 301 redirect; zips.coord
-- rounds). Errors are RFC 7807 problem+json documents; a point outside the
-- NWS's area gives 404; 500 and 503 happen now and then and usually pass,
-- so a failed request is retried once.

local M = {}

M.DEFAULT_BASE_URL = "https://api.weather.gov"
M.USER_AGENT = "(Chorus weather sample, https://github.com/chorus-dev/chorus)"
M.TIMEOUT = 5 -- seconds for each request
M.RETRY_DELAY_MS = 500 -- pause before the one retry

-- Failure reasons returned by M.forecast.
M.UNAVAILABLE = "unavailable" -- unreachable, failing or answering nonsense
M.NO_DATA = "nodata" -- the point is outside the NWS's forecast area

-- baseURL is config.NWS_BASE_URL (tests point it at a fake) or the real API,
-- without a trailing slash.
local function baseURL()
  local base = config and config.NWS_BASE_URL
  if type(base) ~= "string" or base == "" then
    base = M.DEFAULT_BASE_URL
  end
  return (string.gsub(base, "/+$", ""))
end

local function userAgent()
  local ua = config and config.NWS_USER_AGENT
  if type(ua) == "string" and ua ~= "" then
    return ua
  end
  return M.USER_AGENT
end

-- decode parses a JSON body; nil when it is not a JSON object. json.decode
-- may raise or return nil, err on bad input: pcall covers both.
local function decode(body)
  if type(body) ~= "string" or body == "" then
    return nil
  end
  local ok, doc = pcall(json.decode, body)
  if ok and type(doc) == "table" then
    return doc
  end
  return nil
end

-- problem describes an error response for the log: the problem+json title
-- and detail when there are some.
local function problem(resp)
  local doc = decode(resp.body)
  if doc and type(doc.title) == "string" then
    return doc.title .. ": " .. tostring(doc.detail)
  end
  return "no problem document"
end

-- get does one GET; it returns the response and its status as a number, or
-- nil and the transport error.
local function get(url)
  local resp, err = http.get(url, {
    headers = {
      ["User-Agent"] = userAgent(),
      ["Accept"] = "application/geo+json",
    },
    timeout = M.TIMEOUT,
  })
  if not resp then
    return nil, tostring(err)
  end
  return resp, tonumber(resp.status) or 0
end

-- worthRetry: no response at all, or a server error (500, 502, 503, 504).
local function worthRetry(resp, status)
  return resp == nil or status >= 500
end

-- getJSON fetches url as JSON, retrying once. It returns the document, or
-- nil and the HTTP status (0 when there was no response).
local function getJSON(url)
  local resp, status = get(url)
  if worthRetry(resp, status) then
    log("weather: GET " .. url .. " failed (" .. (resp and tostring(status) or status) .. "), retrying once")
    wait(M.RETRY_DELAY_MS)
    resp, status = get(url)
  end
  if not resp then
    log("weather: GET " .. url .. " failed: " .. status)
    return nil, 0
  end
  if status ~= 200 then
    log("weather: GET " .. url .. " -> " .. status .. " (" .. problem(resp) .. ")")
    return nil, status
  end
  local doc = decode(resp.body)
  if not doc then
    log("weather: GET " .. url .. " -> 200 but the body is not a JSON object")
    return nil, status
  end
  return doc
end

-- forecast returns the forecast periods (properties.periods, a non-empty
-- array) for a point, or nil and M.UNAVAILABLE / M.NO_DATA. lat and lon are
-- strings with at most 4 decimals.
function M.forecast(lat, lon)
  local points, status = getJSON(baseURL() .. "/points/" .. lat .. "," .. lon)
  if not points then
    if status == 404 then
      return nil, M.NO_DATA
    end
    return nil, M.UNAVAILABLE
  end
  local props = points.properties
  local url = type(props) == "table" and props.forecast
  if type(url) ~= "string" or url == "" then
    log("weather: /points answer has no properties.forecast")
    return nil, M.NO_DATA
  end
  local fc = getJSON(url)
  if not fc then
    return nil, M.UNAVAILABLE
  end
  local periods = type(fc.properties) == "table" and fc.properties.periods
  if type(periods) ~= "table" or type(periods[1]) ~= "table" then
    log("weather: forecast answer has no properties.periods")
    return nil, M.UNAVAILABLE
  end
  return periods
end

return M
