-- breathing — the breathing reset after the rolling: belly-lift breathing, then
-- the 90/90 hip lift; what the heart-rate variability did over it; then the
-- session ends (coach.stop("complete")).
--
-- It starts when a routine says its steps are over (the `step` event with step
-- "done"); a free session has no reset.
--
-- Source: the project guidance (docs/spec/coaching.md and the issue that specified
-- the coaching): breathing resets after rolling — belly-lift breathing, and the
-- 90/90 hip lift with the heels on the wall, a full exhale and the hamstrings on.
-- Numbers marked "project choice" are ours, with the reasoning beside them.
--
-- Keys (added to the shipped keys, docs/spec/coaching.md):
--   cue.reset.belly_lift  cue   the reset begins: belly-lift breathing (short)
--   cue.reset.hip_lift    cue   the 90/90 hip lift (short)
--   cue.reset.details     cue   how to do the one going on, once the user is in place
--   cue.breathe           cue   pace: slower breathing (with a strap)
--   info.hrv              info  what the heart-rate variability did over the reset
--                               (calmer, about the same, more tense; with a strap)
--   info.complete         info  the session is over
-- The RMSSD values are logged (coach.log, "info"), not said: a number of
-- milliseconds means nothing to most people on a mat.
--   "breathing reset: rmssd_before_ms=20.0 rmssd_after_ms=32.0 breath_rate=6.0"
-- ("none" for a value not measured).

coach.plugin{
   api = 1,
   name = "breathing",
   description = "Breathing reset after the rolling: belly-lift breathing and the 90/90 "
      .. "hip lift, guided by time and the strap's breathing rate",
}

-- Project choice: 40 s of belly-lift breathing and 40 s of the hip lift, four to
-- five slow breaths each at the 6-8 breaths a minute slow breathing settles at;
-- about 80 s keeps a beginner's whole session within 10 minutes.
local BELLY_MS, HIP_MS = 40000, 40000
-- With a strap: the core's breathing rate is estimated over a 64-s window, so it
-- is judged only once half of that window lies inside the reset (32 s), then
-- every 10 s. Above 10 breaths a minute the user hears a pacing cue (once), and
-- the hip lift goes on for up to 20 s more while the rate stays above it.
local RATE_VALID_AFTER_MS, RATE_CHECK_MS = 32000, 10000
local SLOW_ENOUGH, EXTEND_MS = 10, 20000
-- Project choice: each exercise is named in one short sentence first; how to do
-- it follows once the user has had time to get into place (put the roller aside
-- and lie down: 8 s; heels onto the wall: 6 s).
local BELLY_DETAILS_MS, HIP_DETAILS_MS = 8000, 6000
-- ... at the lowest priority, as the routine's step details: a pacing cue or the
-- next exercise cuts them, they never go stale.
local DETAILS = { priority = "info" }
-- What the change of RMSSD means. Higher RMSSD over slow breathing is the
-- parasympathetic ("rest") side taking over: calmer. Project choice: a change
-- under 15 % either way is "about the same" (short RMSSD readings vary by 10-20 %
-- from minute to minute at rest, so a smaller change says nothing).
local HRV_CHANGE = 1.15

local active = false
local began_ms = nil
local rmssd_before, rmssd_last, rate_last, rate_ms = nil, nil, nil, nil
local paced = false
local timers = {}

local function later(ms, fn)
   timers[#timers + 1] = coach.after(ms, fn)
end

local function cancel_all()
   for _, h in ipairs(timers) do h:cancel() end
   timers = {}
end

local function rate_now()
   -- a rate measured inside the reset (see above), and recent
   if not rate_last or not rate_ms then return nil end
   if rate_ms - began_ms < RATE_VALID_AFTER_MS or coach.now() - rate_ms > 5000 then
      return nil
   end
   return rate_last
end

local function finish()
   if not active then return end
   active = false
   cancel_all()
   local after = rmssd_last
   local function num(x) return x and string.format("%.1f", x) or "none" end
   coach.log("info", "breathing reset: rmssd_before_ms=" .. num(rmssd_before)
      .. " rmssd_after_ms=" .. num(after) .. " breath_rate=" .. num(rate_now()))
   if rmssd_before and after and rmssd_before > 0 then
      local text
      if after >= rmssd_before * HRV_CHANGE then
         text = "Your heart rate variability went up: you're calmer than before the "
            .. "breathing."
      elseif after * HRV_CHANGE <= rmssd_before then
         text = "Your heart rate variability went down: you're more tense than before. "
            .. "Take a few more slow breaths before you get up."
      else
         text = "Your heart rate variability is about the same as before the breathing."
      end
      coach.say("info.hrv", text)
   end
   coach.say("info.complete", "That's your session done. Well done.")
   coach.stop("complete")
end

local function check_rate(deadline_ms)
   local r = rate_now()
   if r and r > SLOW_ENOUGH and not paced then
      paced = true
      coach.say("cue.breathe", "Slow your breathing down: in through your nose for four, "
         .. "and out for six.")
   end
   local now = coach.now()
   if now >= deadline_ms then
      -- at the planned end: go on while the rate is still high, up to EXTEND_MS
      if r and r > SLOW_ENOUGH and now < deadline_ms + EXTEND_MS - RATE_CHECK_MS / 2 then
         later(RATE_CHECK_MS, function() check_rate(deadline_ms) end)
      else
         finish()
      end
      return
   end
   later(math.min(RATE_CHECK_MS, deadline_ms - now), function() check_rate(deadline_ms) end)
end

local function hip_lift()
   coach.say("cue.reset.hip_lift", "Now the hip lift. Heels on the wall, hips and knees "
      .. "at right angles.")
   later(HIP_DETAILS_MS, function()
      coach.say("cue.reset.details", "Breathe out fully, press your heels lightly into "
         .. "the wall and lift your tailbone just off the floor. Feel the backs of your "
         .. "thighs switch on. Keep breathing: in through your nose, out all the way.", DETAILS)
   end)
   check_rate(coach.now() + HIP_MS)
end

coach.on("step", function(ev)
   if ev.step ~= "done" or active then return end
   active, paced = true, false
   began_ms = coach.now()
   rmssd_before = rmssd_last
   coach.led("ok")
   coach.say("cue.reset.belly_lift", "Rolling is done. Put the roller aside and lie on "
      .. "your back, knees bent.")
   later(BELLY_DETAILS_MS, function()
      coach.say("cue.reset.details", "Feet flat, hands on your belly. Breathe in through "
         .. "your nose and let your belly lift. Then breathe out slowly, all the way.", DETAILS)
   end)
   later(BELLY_MS, hip_lift)
end)

coach.on("hr", function(ev)
   if ev.rmssd_ms then rmssd_last = ev.rmssd_ms end
   if ev.breath_rate then
      rate_last, rate_ms = ev.breath_rate, ev.t_ms
   end
end)

coach.on("session_start", function()
   cancel_all()
   active, began_ms, paced = false, nil, false
   rmssd_before, rmssd_last, rate_last, rate_ms = nil, nil, nil, nil
end)

coach.on("session_end", function()
   active = false
   cancel_all()
end)
