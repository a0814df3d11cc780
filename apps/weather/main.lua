-- Chorus weather sample: text or call it with a US ZIP code, get the
-- forecast from the National Weather Service.
--
--   text "32801"  -> "Orlando, FL: This Afternoon: Sunny, 84°F. Tonight: ..."
--   text "hi"     -> it asks for a ZIP code (three tries), then answers
--   call it       -> it asks for the ZIP code on the keypad and speaks the forecast
--
-- Assumptions about the runtime (spec/lua-api.md):
-- * lookup("zips.csv.gz", "32801") returns the matching row's fields, the
--   key first: {"32801", "Orlando", "FL", "28.5399", "-81.3727"} (rows are
--   "zip,place,state,lat,lon"). The runtime decompresses .gz assets. The
--   data is GeoNames' (CC BY 4.0, see NOTICE).
-- * require("zips") loads zips.lua from this bundle.
-- * http.get's timeout is in seconds, like every other timeout in the API.
--
-- Configuration (config.NAME, all optional):
--   NWS_BASE_URL    the NWS API, default https://api.weather.gov
--   NWS_USER_AGENT  the User-Agent sent to it, default names this sample

local zips = require("zips")
local nws = require("nws")

-- Replies stay under 300 bytes so that a forecast fits an SMS conversation.
local MAX_REPLY = 299
-- How many ZIP codes a caller may try (unknown ones count).
local ZIP_TRIES = 3
-- How many times ask prompts for a well-formed ZIP code.
local ASK_ATTEMPTS = 3

-- What the app says, by channel. Voice wording is written to be spoken.
local WORDS = {
  TEXT = {
    prompt = "Which 5-digit US ZIP code would you like the forecast for?",
    badChoice = "Sorry, that doesn't look like a 5-digit ZIP code.",
    giveUp = "I still don't have a ZIP code, so I'll stop here. Text a 5-digit ZIP code any time for the forecast.",
    unknown = "Sorry, I don't know the ZIP code %s.",
    unknownEnd = "Sorry, I don't know the ZIP code %s. Please check it and send it again.",
    tooMany = "Sorry, I couldn't find those ZIP codes. Please check the ZIP code and try again later.",
    unavailable = "%s: Sorry, I can't reach the National Weather Service right now. Please try again in a few minutes.",
    noData = "%s: Sorry, the National Weather Service has no forecast for this location.",
  },
  VOICE = {
    welcome = "Welcome to Chorus weather.",
    prompt = "Please enter the five digit ZIP code for your forecast.",
    badChoice = "Sorry, that was not a five digit ZIP code.",
    timeout = "Sorry, I didn't get that.",
    giveUp = "I still don't have a ZIP code. Goodbye.",
    unknown = "Sorry, I don't know the ZIP code %s.",
    tooMany = "Sorry, I couldn't find those ZIP codes. Goodbye.",
    lookingUp = "One moment while I get the forecast for %s.",
    unavailable = "%s. Sorry, I can't reach the National Weather Service right now. Please try again in a few minutes.",
    noData = "%s. Sorry, the National Weather Service has no forecast for this location.",
    goodbye = "Thanks for calling Chorus weather. Goodbye.",
  },
}

local function isVoice()
  return currentCall.channel == "VOICE"
end

local function words()
  if isVoice() then
    return WORDS.VOICE
  end
  return WORDS.TEXT
end

-- fill puts s into a template's one %s; plain substitution, so a "%" in s
-- is safe.
local function fill(template, s)
  local i = string.find(template, "%s", 1, true)
  return string.sub(template, 1, i - 1) .. s .. string.sub(template, i + 2)
end

-- spoken spells a ZIP code digit by digit for speech: "0 0 0 0 0".
local function spoken(zip)
  return (string.gsub(string.gsub(zip, "(%d)", "%1 "), " $", ""))
end

-- zipForReply is the ZIP as it appears in a reply on this channel.
local function zipForReply(zip)
  if isVoice() then
    return spoken(zip)
  end
  return zip
end

-- temperature reads a period's temperature: a number, or (in the API's
-- newer shape) {value = n}; nil when missing.
local function temperature(p)
  local t = p.temperature
  if type(t) == "table" then
    t = t.value
  end
  t = tonumber(t)
  if not t then
    return nil
  end
  return tostring(math.floor(t + 0.5))
end

-- periodText words one forecast period: "This Afternoon: Sunny, 84°F."
-- (spoken: "This Afternoon: Sunny, 84 degrees.").
local function periodText(p)
  local name = tostring(p.name or "Now")
  local short = tostring(p.shortForecast or "")
  local t = temperature(p)
  local unit = tostring(p.temperatureUnit or "F")
  local temp = ""
  if t then
    if isVoice() then
      temp = t .. " degrees"
      if unit ~= "F" then
        temp = temp .. " Celsius"
      end
    else
      temp = t .. "°" .. unit
    end
  end
  if short ~= "" and temp ~= "" then
    return name .. ": " .. short .. ", " .. temp .. "."
  end
  return name .. ": " .. short .. temp .. "."
end

-- cut shortens s to at most n bytes without splitting a UTF-8 character.
local function cut(s, n)
  if #s <= n then
    return s
  end
  local i = n
  local b = string.byte(s, i + 1)
  while i > 0 and b >= 128 and b < 192 do -- b continues a character
    i = i - 1
    b = string.byte(s, i + 1)
  end
  return string.sub(s, 1, i)
end

-- forecastReply words the first two periods after the place name, dropping
-- the second (then cutting the first) when the reply would be too long.
local function forecastReply(loc, periods)
  local head = loc.label .. ":"
  if isVoice() then
    head = loc.label .. "."
  end
  local one = head .. " " .. periodText(periods[1])
  if type(periods[2]) == "table" then
    local two = one .. " " .. periodText(periods[2])
    if #two <= MAX_REPLY then
      return two
    end
  end
  if #one <= MAX_REPLY then
    return one
  end
  return cut(one, MAX_REPLY - 3) .. "..."
end

-- weatherReply is the whole answer for a known ZIP: the forecast, or an
-- apology that still names the place.
local function weatherReply(loc)
  local periods, why = nws.forecast(loc.lat, loc.lon)
  if periods then
    return forecastReply(loc, periods)
  end
  log("weather: no forecast for " .. loc.zip .. " (" .. loc.label .. "): " .. why)
  if why == nws.NO_DATA then
    return fill(words().noData, loc.label)
  end
  return fill(words().unavailable, loc.label)
end

-- answerZip replies to a ZIP the caller gave. It returns false when the ZIP
-- is unknown (the caller is told so).
local function answerZip(zip, unknownWords)
  local loc = zips.lookup(zip)
  if not loc then
    log("weather: unknown ZIP " .. zip)
    say(fill(unknownWords, zipForReply(zip)))
    return false
  end
  if isVoice() then
    say(fill(words().lookingUp, loc.label))
  end
  say(weatherReply(loc))
  return true
end

-- askZip prompts for a ZIP code until one is well formed. It returns the
-- ZIP, or nil when the caller gave up, timed out or hung up (already said).
local function askZip()
  local w = words()
  local opts = {
    choices = "[5 DIGITS]",
    attempts = ASK_ATTEMPTS,
    onBadChoice = function(event)
      say(w.badChoice)
    end,
    onTimeout = function(event)
      if w.timeout then
        say(w.timeout)
      end
    end,
    onHangup = function(event)
      log("weather: the caller left")
    end,
  }
  if isVoice() then
    opts.mode = "dtmf"
    opts.timeout = 10
  end
  local event = ask(w.prompt, opts)
  if event.name == "choice" then
    return zips.find(event.value)
  end
  log("weather: no ZIP code (" .. tostring(event.name) .. ")")
  if event.name == "badChoice" or (event.name == "timeout" and isVoice()) then
    say(w.giveUp)
  end
  return nil
end

-- converse asks for ZIP codes until one is known and answered.
local function converse()
  for _ = 1, ZIP_TRIES do
    local zip = askZip()
    if not zip then
      return
    end
    if answerZip(zip, words().unknown) then
      if isVoice() then
        say(words().goodbye)
      end
      return
    end
  end
  say(words().tooMany)
end

local function main()
  if not currentCall then
    log("weather: no conversation (launched through the API without a call); nothing to do")
    return
  end
  if isVoice() then
    answer()
    say(WORDS.VOICE.welcome)
    return converse()
  end
  local zip = zips.find(currentCall.initialText)
  if zip then
    -- The usual SMS case: one message with a ZIP, one reply.
    answerZip(zip, WORDS.TEXT.unknownEnd)
    return
  end
  converse()
end

main()
