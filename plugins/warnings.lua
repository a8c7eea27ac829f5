-- warnings — how the user rolls: speed, jerkiness, pressure, holds, session
-- length, and the week's sessions (keys: docs/spec/coaching.md). Runs in every
-- session, free or with a routine.
--
-- Sources: the project guidance (docs/spec/coaching.md and the issue that
-- specified the coaching): roll slowly, about 1 inch (2.54 cm) a second; stop on
-- a tender spot and hold sustained pressure, 30 s as the target, 20-90 s as the
-- bounds; relax and keep breathing; 5-10 minutes a session for a beginner, 3-5
-- sessions a week; the measured mean force on the thighs and calves is about a
-- third of body weight, and lighter pressure gives the same range-of-motion gain.
-- Numbers marked "project choice" are ours, with the reasoning beside them.

coach.plugin{
   api = 1,
   name = "warnings",
   description = "Rolling speed, jerkiness, pressure, holds, session length and "
      .. "weekly consistency",
}

local G = 9.81
-- The analysis core's "loaded" threshold (docs/analysis.md): speed, jerk and
-- pressure only matter while someone is on the roller.
local LOADED_N = 20

-- ---- a condition that must last ------------------------------------------------------
-- true from `since` while the condition holds; a dip shorter than `grace_ms`
-- (a lost or rejected packet, one noisy block) does not restart it.
local function sustained(grace_ms)
   return { since = nil, last_true = nil, grace = grace_ms }
end

-- Forget what was observed (a new session).
local function clear(s)
   s.since, s.last_true = nil, nil
end

-- Feed one observation; returns how long the condition has held (ms) or nil.
local function feed(s, t, ok)
   if ok then
      if not s.since or (s.last_true and t - s.last_true > s.grace) then s.since = t end
      s.last_true = t
      return t - s.since
   end
   if s.last_true and t - s.last_true > s.grace then s.since, s.last_true = nil, nil end
   return nil
end

-- ---- warn.too_fast ---------------------------------------------------------------------
-- Judged within passes, not on the core's 1-s mean speed: short strokes of about
-- a second at 9 cm/s (3.5 x the goal, the most common mistake on a roller) never
-- bring a 1-s mean much over 7 cm/s, because nearly every second holds a reversal.
--
-- A pass is the motion between two reversals (or stops), from the motion events'
-- travel_cm. Its speed is |travel| / time over a window of its last 0.5-0.6 s
-- that never reaches back past its start (so a reversal never averages fast
-- rolling away, and a change of pace inside a pass is seen too); the time of
-- every fast window counts as fast rolling.
--   * Time is counted in the core's analysis blocks: a loaded roller sends one
--     motion event per 0.1 s block of its own clock (docs/analysis.md), so a
--     window of n events is n x 0.1 s of rolling, exactly. t_ms is when a packet
--     arrived (late by up to a packet, 80 ms, and the blocks of one packet share
--     it) and follows the hub's clock, which need not be the roller's (a trace
--     streamed 4 times faster); a lost block brings neither time nor travel.
--   * Project guidance: about 1 inch (2.54 cm) a second. Project choice: fast is
--     2.5 inches a second, 6.35 cm/s, or more. Rolling at 1-2 x the goal (up to
--     5.1 cm/s) is normal, and a window can never measure faster than the roller
--     rolled; 1-s strokes at 9 cm/s measure about 8.1 cm/s over a whole pass and
--     9 cm/s inside it. 6.35 leaves about a quarter of margin both ways.
--   * Project choice: a window is at least 5 blocks; a shorter one (at the start
--     of a pass) is fast only if it covered what fast rolling covers in 5 blocks
--     (3.2 cm), so a fast pass counts from its start, and one block carrying more
--     than its share (the travel of a lost packet bridged into it) cannot make a
--     window at 5 cm/s read fast.
--   * Project choice: a reversal is the travel turning back 1 cm from its farthest
--     point (the roller rocks about 1-2 mm with breathing; a stroke under 1 cm is
--     no stroke); a stop is two consecutive blocks moving under 0.05 cm each
--     (0.5 cm/s, the core's hold speed, docs/analysis.md).
--   * Project choice: warned when fast rolling adds up to 2 s in one episode: a
--     long fast pass is warned 2 s in, 1-s fast strokes after two of them, well
--     within the 5 s asked for; one quick out-and-back flick (two passes of
--     about half a second) is not.
--   * Project choice: an episode ends after 3 s without fast rolling; it is said
--     once an episode, and again every 30 s if the fast rolling goes on.
local FAST_CM_S = 2.5 * 2.54
local FAST_FOR_MS = 2000
local BLOCK_MS = 100
local MIN_WINDOW_MS, WINDOW_MS = 500, 600
local REVERSAL_CM = 1.0
local STILL_CM, STILL_BLOCKS = 0.05, 2
-- the farthest point of a pass is where the roller was last within this of it
-- (a pause at the turn is not part of the next pass)
local TURN_CM = 0.3
-- A new travel reference (coach.track) makes travel jump: the routine takes one
-- at a step and when the user gets on the roller (its first loaded motion event
-- after being unloaded or after a second without one), so a pass starts afresh
-- at the second event after either, or after a jump of travel no roller makes in
-- one block (project choice: 3 cm in 0.1 s is 30 cm/s, twice the fastest rolling
-- seen); a silence longer than GAP_MS (no motion events) ends the pass.
local JUMP_CM, GAP_MS, FRESH_EVENTS = 3, 1000, 2
local EPISODE_GAP_MS, FAST_REMIND_MS = 3000, 30000
-- motion events kept for the window (more than 1 s of blocks)
local HISTORY = 16

-- Is `dist` cm in `dur` ms fast?
local function is_fast(dist, dur)
   return dist * 1000 >= FAST_CM_S * math.max(dur, MIN_WINDOW_MS)
end

-- The roller's clock in blocks (ms), one block a loaded motion event.
local rolled_ms = 0
-- The pass going on: where and when (rolled_ms) it started, its direction (nil
-- until it has moved REVERSAL_CM), its farthest point and when the roller was
-- last there, and its last motion events ({rolled_ms, x}, oldest first).
local pass = nil
local last_x, last_t, still_n, fresh = nil, nil, 0, 0
-- The episode: the fast time banked, the fast stretch going on [sec_s, sec_e]
-- (rolled_ms), the t_ms of its last fast window, when it was said (t_ms).
local fast_ms, sec_s, sec_e, fast_last_t, fast_said_ms = 0, nil, nil, nil, nil

local function pass_begin(x, d)
   pass = { x0 = x, d0 = d, dir = nil, ext = x, ext_d = d, hist = {} }
end

-- The motion event at travel x, t_ms t: the pass's reversals and stops.
local function pass_feed(x, t)
   rolled_ms = rolled_ms + BLOCK_MS
   local d = rolled_ms
   if last_t == nil or t - last_t > GAP_MS or math.abs(x - last_x) > JUMP_CM then
      fresh = FRESH_EVENTS
   end
   if fresh > 0 then
      fresh = fresh - 1
      pass_begin(x, d)
      last_x, last_t, still_n = x, t, 0
      return
   end
   still_n = math.abs(x - last_x) < STILL_CM and still_n + 1 or 0
   last_x, last_t = x, t
   if still_n >= STILL_BLOCKS then
      pass_begin(x, d)
      return
   end
   if not pass.dir then
      if math.abs(x - pass.x0) >= REVERSAL_CM then
         pass.dir = x > pass.x0 and 1 or -1
         pass.ext, pass.ext_d = x, d
      end
   elseif pass.dir * (x - pass.ext) > -TURN_CM then
      if pass.dir * (x - pass.ext) > 0 then pass.ext = x end
      pass.ext_d = d
   elseif pass.dir * (pass.ext - x) >= REVERSAL_CM then
      -- turned back: the pass ended at its farthest point; the next began there
      local old = pass
      pass = { x0 = old.ext, d0 = old.ext_d, dir = -old.dir, ext = x, ext_d = d, hist = {} }
      for _, e in ipairs(old.hist) do
         if e[1] > old.ext_d then pass.hist[#pass.hist + 1] = e end
      end
   end
   local h = pass.hist
   h[#h + 1] = { d, x }
   if #h > HISTORY then table.remove(h, 1) end
end

-- The fast window ending at the pass's farthest point (a roller slowing down to
-- turn back has not rolled further): its start and end (rolled_ms), or nil.
local function fast_window()
   if not pass or not pass.dir then return nil end
   local from = pass.ext_d - WINDOW_MS
   local ps, px = pass.d0, pass.x0
   if ps < from then
      ps = nil
      for _, e in ipairs(pass.hist) do
         if e[1] >= from and e[1] <= pass.ext_d then
            ps, px = e[1], e[2]
            break
         end
      end
      if not ps then return nil end
   end
   if is_fast(math.abs(pass.ext - px), pass.ext_d - ps) then return ps, pass.ext_d end
   return nil
end

-- Fast rolling in this episode (ms of the roller's clock), with the window of
-- this event (at t_ms t).
local function fast_total(t)
   local s, e = fast_window()
   if s then
      if sec_s and s <= sec_e then
         sec_s, sec_e = math.min(sec_s, s), math.max(sec_e, e)
      else
         if sec_s then fast_ms = fast_ms + (sec_e - sec_s) end
         sec_s, sec_e = s, e
      end
      fast_last_t = t
   end
   return fast_ms + (sec_s and sec_e - sec_s or 0)
end

-- Forget the pass (the roller is unloaded, a new step or session).
local function pass_clear()
   pass, last_x, last_t, still_n, fresh = nil, nil, nil, 0, 0
end

-- Forget the episode.
local function episode_clear()
   fast_ms, sec_s, sec_e, fast_last_t, fast_said_ms = 0, nil, nil, nil, nil
end

-- ---- warn.jerky -------------------------------------------------------------------------
-- Project choice, on the simulator's physics (no recording of a real roller yet):
-- the core's jerk (RMS over 0.5 s, m/s^3). Strokes of 1-30 cm at 2.5-5 cm/s with
-- 0.2-s turns (scripts/scenarios/slow-strokes.scn) read 0 on the straight and
-- spike to 3-3.8 for about 0.5 s at each turn at 5 cm/s (99th percentile 3.0);
-- a stretch of jerky back-and-forth (6 cm/s swings at 1.5 Hz,
-- long-free-session.scn) reads 5.0-6.4 throughout. Jerky is 3 m/s^3 or more for
-- 1.5 s: three times as long as a turn's spike, so no single turn or change of
-- pace is warned, and a sustained swing is, within 1.5 s. Not said during a fast
-- episode (warn.too_fast covers it: fast strokes jerk at every turn).
local JERK, JERK_HOLD_MS, JERK_REARM_MS = 3.0, 1500, 5000
local jerky = sustained(500)
local jerk_said, jerk_calm_since = false, nil

-- ---- warn.pressure ----------------------------------------------------------------------
-- Force on the roller as a share of body weight, by body region. Project guidance:
-- the mean force measured on the thighs and calves is about a third of body
-- weight, and lighter pressure gains the same range of motion; sitting on the
-- roller for the glutes puts about half of the body weight on it. Project choice:
-- the limit is 1.5-1.8 times the usual share for the region (the other usual
-- shares are our estimates), held 2 s, so a normal hold never reaches it and
-- leaning the whole body on the roller does.
local LIMIT = {
   glutes = 0.75,       -- seated: usually ~0.5 of body weight
   hip_flexors = 0.55,  -- prone on the forearms: ~0.3, and light pressure is wanted
   hamstrings = 0.6,    -- thighs: ~1/3
   calves = 0.6,        -- ~1/3
   upper_back = 0.7,    -- supine, hips down: the upper body, ~0.45
   lats = 0.6,          -- side lying, on the ribs: ~0.4
}
local STEP_REGION = {
   glutes_left = "glutes", glutes_right = "glutes",
   hip_flexor_left = "hip_flexors", hip_flexor_right = "hip_flexors",
   hamstrings = "hamstrings", thoracic = "upper_back",
   lats_left = "lats", lats_right = "lats", calves = "calves",
}
-- Free session: the region is not known; the posture narrows it down, and we
-- take the most lenient region for it (no false alarms on a normal hold).
local POSTURE_LIMIT = {
   seated = LIMIT.glutes, prone = LIMIT.hip_flexors, supine = LIMIT.upper_back,
   side_left = LIMIT.lats, side_right = LIMIT.lats,
}
local DEFAULT_LIMIT = LIMIT.glutes
-- Project choice: anyone with a listed condition gets three quarters of the limit
-- (the routine softens their steps to lighter pressure too).
local CONDITION_FACTOR = 0.75
local PRESSURE_HOLD_MS, PRESSURE_REARM_MS, PRESSURE_REMIND_MS = 2000, 5000, 30000
local pressure = sustained(500)
local pressure_said_ms, pressure_ok_since = nil, nil

-- ---- holds: cue.hold_target, warn.hold_long, cue.breathe ------------------------------------
-- Project guidance: hold a tender spot, 30 s as the target, 20-90 s bounds; keep
-- breathing and relax. Times run from when the roller came to rest (hold_start's
-- since_ms), not from the event, which the core sends 2 s later.
local HOLD_TARGET_MS, HOLD_LONG_MS = 30000, 90000
-- Project choice: a reminder to breathe 10 s into a hold (the spot is felt by
-- then), not more often than every 45 s; and when the heart rate rises 10 bpm
-- over its level at the start of the hold (mean of the last 5 readings), a sign
-- of bracing against the pressure, once a hold.
local BREATHE_AFTER_MS, BREATHE_EVERY_MS, HR_RISE_BPM = 10000, 45000, 10
local BREATHE_TEXTS = {
   "Relax into it and keep breathing slowly.",
   "Breathe out slowly and let the muscle soften.",
   "Keep breathing. Let your weight sink into the roller.",
}
local hold = nil            -- { since_ms, target, long, breathe, base_bpm, hr_cued }
local last_breathe_ms, breathe_n = nil, 0
local recent_bpm = {}       -- the last 5 heart-rate readings

-- ---- warn.session_long, info.consistency --------------------------------------------------
-- Project guidance: 5-10 minutes a session for a beginner (the profile's
-- session_minutes: 10 for a beginner, 20 for a regular, unless set); 3-5 sessions a
-- week.
local WEEK_MIN, WEEK_MAX = 3, 5
local session_timer = nil

-- ---- state ---------------------------------------------------------------------------------
local region_limit = DEFAULT_LIMIT
local step_region = nil    -- region of the routine's step, if any
local posture = nil

local function cancel(h)
   if h then h:cancel() end
   return nil
end

-- The profile is fixed for the plugin's life: what the pressure limit needs from
-- it is worked out once.
local BODY_WEIGHT_N = (coach.profile.weight_kg or 70) * G

-- The profile's set is read by name, never iterated (it may be a read-only view).
local CONDITIONS = { "osteoporosis", "pregnancy", "spondylolisthesis", "spinal_stenosis",
                     "disc_herniation", "recent_back_injury", "recent_back_surgery" }
local function has_condition()
   local listed = coach.profile.conditions or {}
   for _, name in ipairs(CONDITIONS) do
      if listed[name] then return true end
   end
   return false
end
local HAS_CONDITION = has_condition()

local function update_limit()
   if step_region then
      region_limit = LIMIT[step_region]
   else
      region_limit = POSTURE_LIMIT[posture] or DEFAULT_LIMIT
   end
end

local function say_breathe(text)
   last_breathe_ms = coach.now()
   coach.say("cue.breathe", text)
end

local function end_hold()
   if not hold then return end
   hold.target = cancel(hold.target)
   hold.long = cancel(hold.long)
   hold.breathe = cancel(hold.breathe)
   hold = nil
end

local function mean_bpm()
   if #recent_bpm == 0 then return nil end
   local s = 0
   for _, b in ipairs(recent_bpm) do s = s + b end
   return s / #recent_bpm
end

-- The week's sessions: said when the session ends, the one sure pause. Said at
-- the start it waited behind the first cues (a cue outranks an info) and was
-- heard in the middle of a hold; a count of sessions is a summary, and belongs
-- with the goodbye. Not after a pain stop (nothing is said after it anyway).
local function say_consistency()
   -- this session counts too; an empty history may also mean the hub keeps none,
   -- so with no past sessions only the goal is said
   local past = coach.history.sessions(7) or {}
   local n = #past + 1
   local text
   if #past == 0 then
      text = "Aim for three to five sessions a week."
   elseif n < WEEK_MIN then
      text = string.format("This is session %d this week. Aim for three to five.", n)
   elseif n <= WEEK_MAX then
      text = string.format("This is session %d this week. Right on target.", n)
   else
      text = string.format("This is session %d this week. Three to five is plenty: "
         .. "give your body a rest day.", n)
   end
   coach.say("info.consistency", text)
end

-- ---- events ----------------------------------------------------------------------------------

-- State is reset when a session ends, not when one starts: a routine may begin
-- its first step (the step event) before this plugin sees session_start.
local function reset()
   end_hold()
   session_timer = cancel(session_timer)
   pass_clear()
   episode_clear()
   clear(jerky)
   clear(pressure)
   jerk_said, jerk_calm_since = false, nil
   pressure_said_ms, pressure_ok_since = nil, nil
   step_region, posture, last_breathe_ms, breathe_n = nil, nil, nil, 0
   recent_bpm = {}
   update_limit()
end

coach.on("session_start", function()
   local minutes = coach.profile.session_minutes
      or (coach.profile.level == "regular" and 20 or 10)
   session_timer = coach.after(math.floor(minutes * 60000 + 0.5), function()
      session_timer = nil
      coach.say("warn.session_long", string.format("That's %d minutes. Finish the "
         .. "muscle you're on, then call it a day.", math.floor(minutes + 0.5)))
      coach.led("warn")
   end)
end)

coach.on("step", function(ev)
   pass_clear() -- a new travel reference
   step_region = STEP_REGION[ev.step]
   update_limit()
   -- the user has moved on: the hold's target and breathing cues no longer apply
   -- (a hold that really goes on past 90 s is still warned)
   if hold then
      hold.target = cancel(hold.target)
      hold.breathe = cancel(hold.breathe)
   end
end)

coach.on("posture", function(ev)
   posture = ev.posture
   update_limit()
end)

coach.on("motion", function(ev)
   local t = ev.t_ms
   local loaded = ev.loaded
   if loaded == nil then loaded = ev.force_n == nil or ev.force_n >= LOADED_N end

   -- too fast
   if loaded and ev.travel_cm then
      pass_feed(ev.travel_cm, t)
      local total = fast_total(t)
      if fast_last_t and t - fast_last_t >= EPISODE_GAP_MS then
         episode_clear()
         total = 0
      end
      if total >= FAST_FOR_MS and (not fast_said_ms or t - fast_said_ms >= FAST_REMIND_MS) then
         fast_said_ms = t
         coach.say("warn.too_fast", "Too fast. Slow down to about an inch a second.")
         coach.led("warn")
      end
   else
      pass_clear()
   end
   local fast_episode = fast_last_t ~= nil

   -- jerky
   local jerk = ev.jerk or 0
   local jheld = feed(jerky, t, loaded and jerk >= JERK)
   if jheld then
      jerk_calm_since = nil
      if jheld >= JERK_HOLD_MS and not jerk_said and not fast_episode then
         jerk_said = true
         coach.say("warn.jerky", "Smooth and slow. Ease off the jerky movements.")
         coach.led("warn")
      end
   else
      jerk_calm_since = jerk_calm_since or t
      if t - jerk_calm_since >= JERK_REARM_MS then jerk_said = false end
   end

   -- pressure
   if ev.force_n then
      local limit = region_limit * BODY_WEIGHT_N
      if HAS_CONDITION then limit = limit * CONDITION_FACTOR end
      local pheld = feed(pressure, t, ev.force_n >= limit)
      if pheld then
         pressure_ok_since = nil
         if pheld >= PRESSURE_HOLD_MS
            and (not pressure_said_ms or t - pressure_said_ms >= PRESSURE_REMIND_MS) then
            pressure_said_ms = t
            coach.say("warn.pressure", "That's a lot of pressure. Take some weight onto "
               .. "your hands and feet. Lighter works just as well.")
            coach.led("warn")
         end
      elseif ev.force_n < 0.9 * limit then
         pressure_ok_since = pressure_ok_since or t
         if pressure_said_ms and t - pressure_ok_since >= PRESSURE_REARM_MS then
            pressure_said_ms = nil
         end
      end
   end
end)

coach.on("hold_start", function(ev)
   end_hold()
   local now = coach.now()
   local since = ev.since_ms or (ev.t_ms - 2000)
   local function at(ms) return math.max(0, since + ms - now) end
   local h = { since_ms = since, base_bpm = mean_bpm(), hr_cued = false }
   hold = h
   coach.led("hold")
   h.target = coach.after(at(HOLD_TARGET_MS), function()
      h.target = nil
      coach.say("cue.hold_target", "That's 30 seconds. Release, and move on to the next "
         .. "spot.")
      coach.led("ok")
   end)
   h.long = coach.after(at(HOLD_LONG_MS), function()
      h.long = nil
      coach.say("warn.hold_long", "You've held this spot for a minute and a half. "
         .. "That's enough: roll off it now.")
      coach.led("warn")
   end)
   h.breathe = coach.after(at(BREATHE_AFTER_MS), function()
      h.breathe = nil
      if last_breathe_ms and coach.now() - last_breathe_ms < BREATHE_EVERY_MS then return end
      breathe_n = breathe_n % #BREATHE_TEXTS + 1
      say_breathe(BREATHE_TEXTS[breathe_n])
   end)
end)

coach.on("hold_end", function()
   end_hold()
end)

coach.on("hr", function(ev)
   if not ev.bpm or ev.bpm <= 0 or ev.contact == false then return end
   recent_bpm[#recent_bpm + 1] = ev.bpm
   if #recent_bpm > 5 then table.remove(recent_bpm, 1) end
   if hold and not hold.hr_cued then
      if not hold.base_bpm then
         hold.base_bpm = mean_bpm()
      elseif #recent_bpm == 5 and mean_bpm() >= hold.base_bpm + HR_RISE_BPM then
         hold.hr_cued = true
         say_breathe("Ease off a little and breathe slowly. Let the muscle relax.")
      end
   end
end)

coach.on("session_end", function(ev)
   if ev.reason ~= "long_press" then say_consistency() end
   reset()
end)
