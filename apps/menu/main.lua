-- Chorus menu sample: a two-department menu that works the same on a call
-- (press 1 or 2) and in a text conversation (reply 1, 2, "sales" or
-- "support").
--
-- It shows named choices, whose event.value is the choice's name whatever
-- synonym matched, and ask's event handlers.
--
-- Configuration (config.NAME, all optional):
--   SALES_TRANSFER, SUPPORT_TRANSFER  on a call, transfer() to this address
--                                     (sip:..., tel:...) instead of reading
--                                     out the contact
--   SALES_CONTACT, SUPPORT_CONTACT    the contact given, default
--                                     sales@example.com / support@example.com

local CHOICES = "sales(1, sales), support(2, support)"
local ATTEMPTS = 3

local DEPARTMENTS = {
  sales = {
    title = "Sales",
    transferKey = "SALES_TRANSFER",
    contactKey = "SALES_CONTACT",
    contact = "sales@example.com",
  },
  support = {
    title = "Support",
    transferKey = "SUPPORT_TRANSFER",
    contactKey = "SUPPORT_CONTACT",
    contact = "support@example.com",
  },
}

local WORDS = {
  TEXT = {
    prompt = "Reply 1 for sales or 2 for support.",
    badChoice = "Sorry, that isn't one of the options.",
    giveUp = "Sorry, I couldn't tell which department you want. Text us again any time.",
  },
  VOICE = {
    welcome = "Thanks for calling Chorus.",
    prompt = "For sales, press 1. For support, press 2.",
    badChoice = "Sorry, that isn't one of the options.",
    timeout = "Sorry, I didn't hear a choice.",
    giveUp = "Sorry, I couldn't tell which department you want. Goodbye.",
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

-- setting reads a config value, or def when it is unset or empty.
local function setting(key, def)
  local v = config and config[key]
  if type(v) == "string" and v ~= "" then
    return v
  end
  return def
end

-- contactText tells the person how to reach a department.
local function contactText(dept)
  return dept.title .. ": please write to " .. setting(dept.contactKey, dept.contact) ..
    " and we'll answer within one business day."
end

-- route connects the person with the department they chose: a transfer on
-- a call when one is configured, otherwise the department's contact.
local function route(name)
  local dept = DEPARTMENTS[name]
  local to = setting(dept.transferKey, nil)
  if isVoice() and to then
    say("Connecting you to " .. name .. ".")
    local event = transfer(to, { timeout = 30 })
    log("menu: transfer to " .. to .. ": " .. tostring(event.name))
    if event.name == "error" or event.name == "timeout" or event.name == "callFailure" then
      say("Sorry, " .. name .. " can't take your call right now. " .. contactText(dept) .. " Goodbye.")
    end
    return
  end
  if isVoice() then
    say(contactText(dept) .. " Goodbye.")
  else
    say(contactText(dept))
  end
end

local function main()
  if not currentCall then
    log("menu: no conversation; nothing to do")
    return
  end
  local w = words()
  local chosen = nil
  local left = false
  if isVoice() then
    answer()
    say(w.welcome)
  end
  local event = ask(w.prompt, {
    choices = CHOICES,
    attempts = ATTEMPTS,
    timeout = isVoice() and 10 or nil,
    onChoice = function(e)
      -- e.value is the choice's name; e.choice.interpretation what was typed.
      chosen = e.value
      log("menu: chose " .. e.value .. " (" .. tostring(e.choice and e.choice.interpretation) .. ")")
    end,
    onBadChoice = function(e)
      say(w.badChoice)
    end,
    onTimeout = function(e)
      if w.timeout then
        say(w.timeout)
      end
    end,
    onHangup = function(e)
      left = true
      log("menu: the caller left")
    end,
  })
  if chosen and DEPARTMENTS[chosen] then
    return route(chosen)
  end
  if left or event.name == "hangup" then
    return
  end
  log("menu: no choice (" .. tostring(event.name) .. ")")
  if event.name == "badChoice" or isVoice() then
    say(w.giveUp)
  end
end

main()
