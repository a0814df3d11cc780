-- Chorus echo sample: repeats every message back ("You said: ...") until
-- the person says "bye". On a call it reads back the keys pressed.
--
-- It shows the basic shape of a text conversation: the first message is
-- currentCall.initialText, and ask() both sends the reply (its prompt) and
-- waits for the next message.

-- A conversation ends after this many echoes, however chatty.
local MAX_TURNS = 100
-- Seconds to wait for the next message (text) or key presses (voice).
local TEXT_TIMEOUT = 300
local VOICE_TIMEOUT = 10

-- isBye: "bye", "Bye!", " BYE. " all end the conversation.
local function isBye(text)
  local word = string.lower((string.gsub(text, "[%s%p]", "")))
  return word == "bye"
end

-- rawInput is what the person typed, from an ask event.
local function rawInput(event)
  if type(event.choice) == "table" and type(event.choice.interpretation) == "string" then
    return event.choice.interpretation
  end
  return tostring(event.value or "")
end

local function echoText()
  local text = currentCall.initialText or ""
  for _ = 1, MAX_TURNS do
    if isBye(text) then
      say("Goodbye!")
      return
    end
    -- The echo is the prompt of the next ask.
    local event = ask("You said: " .. text, { choices = "[ANY]", timeout = TEXT_TIMEOUT })
    if event.name ~= "choice" then
      log("echo: conversation over (" .. tostring(event.name) .. ")")
      return
    end
    text = rawInput(event)
  end
  say("That's enough echoing for now. Goodbye!")
end

-- spaced reads digits one by one: "123" -> "1 2 3".
local function spaced(digits)
  return (string.gsub(string.gsub(digits, "(.)", "%1 "), " $", ""))
end

local function echoVoice()
  answer()
  say("Welcome to the Chorus echo app.")
  for _ = 1, MAX_TURNS do
    local event = ask("Press some keys, then the pound key.", {
      choices = "[DIGITS]",
      mode = "dtmf",
      timeout = VOICE_TIMEOUT,
    })
    if event.name == "hangup" then
      return
    end
    if event.name ~= "choice" then
      say("Goodbye!")
      return
    end
    say("You pressed " .. spaced(tostring(event.value)) .. ".")
  end
  say("That's enough echoing for now. Goodbye!")
end

if not currentCall then
  log("echo: no conversation; nothing to do")
elseif currentCall.channel == "VOICE" then
  echoVoice()
else
  echoText()
end
