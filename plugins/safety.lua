-- safety — the messages that protect the user: the lumbar spine, the pain stop,
-- the medical-clearance notice (keys: docs/spec/coaching.md).
--
-- Sources: the project guidance (docs/spec/coaching.md and the issue that
-- specified the coaching). Never roll the lumbar spine: nothing bony protects the
-- kidneys and liver there, the roller forces the back into an arch, and it
-- presses on the discs and nerves. Sharp or radiating pain, numbness or tingling:
-- stop and see a professional. Osteoporosis, spinal stenosis, spondylolisthesis,
-- disc herniation, recent back injury or surgery, pregnancy: medical clearance
-- first. Numbers marked "project choice" are ours, with the reasoning beside them.

coach.plugin{
   api = 1,
   name = "safety",
   description = "Lumbar-spine warning, pain stop and medical-clearance notice",
}

-- ---- safety.lumbar ---------------------------------------------------------------
--
-- Where the lumbar spine is. The routine's `thoracic` step starts with the roller
-- across the mid-back at the bra-strap line and rolls toward the neck first
-- (docs/spec/coaching.md), so its travel is + toward the head and the lumbar
-- spine lies at negative travel, a body-size-dependent distance below the start.
--
-- Anatomy (project estimate): the bra-strap line runs about level with the lower
-- tip of the shoulder blades, the 7th thoracic vertebra (T7); the lumbar spine
-- begins at the thoracolumbar junction (T12/L1). The thoracic spine of an adult is
-- about 28 cm long at 170 cm of height (~0.165 of height) and its lower half,
-- T7 to T12, with the bigger vertebrae, a little over half of that: about
-- 0.085 x height, 14.5 cm at 170 cm, 12.8 cm at 150 cm, 16.6 cm at 195 cm.
local T7_TO_L1_RATIO = 0.085
-- Project choice: the roller does not touch the back along a line; a loaded
-- 5-inch roller presses a band a few centimetres wide. Its lower edge reaches
-- the lumbar spine when its centre (what travel measures) is still about 3 cm
-- above it. The same margin covers the bra-strap line being a vertebra off.
local FOOTPRINT_CM = 3
-- Project choice: warn while the user is still heading into it, early enough to
-- hear "stop" and stop: where the roller will be in 1.5 s at its present speed
-- (about 4 cm at the recommended 2.5 cm/s).
local LEAD_S = 1.5
-- Once said, it is said again only after the roller has come back up this much
-- above where it was said (and the hub does not repeat a key within the repeat
-- window, [voice] repeat_seconds).
local REARM_CM = 3
-- The analysis core's "loaded" threshold: a roller nobody lies on is no danger.
local LOADED_N = 20

-- What this relies on, as the routine's cue says it: the roller starts at the
-- bra-strap line and the user's first movement is toward the neck (the core
-- takes the first sustained movement after a track, 2 cm, as the tracked
-- direction; docs/analysis.md). If they roll toward the feet first, the sign of
-- travel is reversed and this rule cannot see the lumbar spine; the cue also
-- tells them never to roll below the ribs.
--
-- The steps whose lumbar zone we watch, and the direction their travel must have
-- been tracked in for the zone to be at negative travel. Only `thoracic`: the
-- lats are rolled side-lying from the armpit toward the hip, and where the flank
-- starts below the armpit is too uncertain a distance to warn on without
-- warning on normal lat rolling (the cue says to stop at the bottom of the ribs).
local BACK_STEPS = { thoracic = "cranial" }

-- How far below the start the roller's centre can go before its edge reaches the
-- lumbar spine. The profile is fixed for the plugin's life, so this is worked out
-- once.
local ZONE_CM = T7_TO_L1_RATIO * (coach.profile.height_cm or 170) - FOOTPRINT_CM

local back_step   -- the step id when on a back step with a known direction
local armed = true
local said_below  -- how far below the start the roller was when it was said

-- Free sessions (no routine step): NOT checked. Travel is measured from an
-- arbitrary point (where the roller was when it connected or when it was last
-- tracked), with its sign set by whichever way the roller first moved; nothing
-- tells us where the roller is on the spine, so a distance rule would fire on
-- sound upper-back rolling and miss real lumbar rolling at random, and a safety
-- message that is often wrong teaches people to ignore it. The body clip's
-- posture says the user lies on their back, not where the roller is. What we do
-- instead: when a free-session user lies on their back on a loaded roller, they
-- hear once where to keep it (cue.back_position).
local BACK_REMINDER_EVERY_MS = 5 * 60 * 1000
local supine, last_reminder_ms = false, nil
local in_routine_step = false

local function remind_back_position()
   if in_routine_step then return end
   local now = coach.now()
   if last_reminder_ms and now - last_reminder_ms < BACK_REMINDER_EVERY_MS then return end
   last_reminder_ms = now
   coach.say("cue.back_position", "On your back, keep the roller between your shoulder "
      .. "blades and the bottom of your ribs. Never roll your lower back.")
end

coach.on("step", function(ev)
   in_routine_step = ev.step ~= nil and ev.step ~= "done"
   local want = BACK_STEPS[ev.step]
   if want and ev.direction == want then
      back_step = ev.step
   else
      back_step = nil
   end
   armed = true
end)

coach.on("posture", function(ev)
   supine = ev.posture == "supine"
end)

coach.on("motion", function(ev)
   local loaded = ev.force_n == nil or ev.force_n >= LOADED_N
   if supine and loaded and ev.force_n ~= nil then remind_back_position() end
   if not back_step or ev.travel_cm == nil then return end
   -- toward the feet, past the start (cranial track: negative travel)
   local below = -ev.travel_cm
   local toward_feet = math.max(0, -(ev.speed_cm_s or 0))
   if not armed then
      if below < said_below - REARM_CM then
         armed = true
         coach.led("ok")
      end
      return
   end
   if not loaded then return end
   local text
   if below >= ZONE_CM then
      text = "Stop. The roller is on your lower back. Roll back up to your shoulder blades."
   elseif below + LEAD_S * toward_feet >= ZONE_CM then
      text = "Stop. You're heading into your lower back. Roll back up toward your shoulder "
         .. "blades."
   else
      return
   end
   armed, said_below = false, below
   coach.say("safety.lumbar", text)
   coach.led("stop")
end)

-- ---- safety.pain_stop ---------------------------------------------------------------
-- A long press means "stop, it hurts" (spec/roller-gatt.md): say it at once and
-- show the stop light. The hub ends the session right after this event and says
-- nothing more, so this is the last thing the user hears.
coach.on("button", function(ev)
   if ev.press ~= "long" then return end
   coach.say("safety.pain_stop", "Stopping now. If you felt sharp or shooting pain, "
      .. "numbness or tingling, don't roll again until you've seen a doctor or "
      .. "physiotherapist.")
   coach.led("stop")
end)

-- ---- safety.clearance ---------------------------------------------------------------
-- In this order; the profile's set is read by name (conditions.pregnancy ==
-- true), never iterated: it may be a read-only view.
local CONDITION_WORDS = {
   { "osteoporosis", "osteoporosis" },
   { "pregnancy", "pregnancy" },
   { "spinal_stenosis", "spinal stenosis" },
   { "spondylolisthesis", "spondylolisthesis" },
   { "disc_herniation", "a disc herniation" },
   { "recent_back_injury", "a recent back injury" },
   { "recent_back_surgery", "recent back surgery" },
}

-- State is reset when a session ends, not when one starts: a routine may begin
-- its first step (the step event) before this plugin sees session_start.
coach.on("session_end", function()
   back_step, armed, supine, last_reminder_ms = nil, true, false, nil
   in_routine_step = false
end)

coach.on("session_start", function(ev)
   local listed = coach.profile.conditions or {}
   local words = {}
   for _, c in ipairs(CONDITION_WORDS) do
      if listed[c[1]] then words[#words + 1] = c[2] end
   end
   if #words == 0 then return end
   local list = #words == 1 and words[1]
      or table.concat(words, ", ", 1, #words - 1) .. " and " .. words[#words]
   local text = "You listed " .. list .. ". Check with your doctor or physiotherapist "
      .. "before foam rolling, and stop if anything hurts."
   if ev.routine == "lower-back-relief" then
      text = text .. " Today's routine is adapted for you."
   end
   coach.say("safety.clearance", text)
end)
