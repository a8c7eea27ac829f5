-- lower-back-relief — the default routine: foam rolling of the muscles that load
-- the low back, never the lumbar spine itself.
--
-- Sources: the project guidance (docs/spec/coaching.md and the issue that
-- specified the coaching): roll the glutes/piriformis, hip flexors, hamstrings,
-- thoracic spine, lats and calves, never the lumbar spine; about 1 inch (2.54 cm)
-- a second; stop on a tender spot and hold (~30 s); 5-10 minutes a session for a
-- beginner; a medical-clearance notice and an adapted routine for the listed
-- conditions. Numbers marked "project choice" are ours, with the reasoning beside
-- them.
--
-- How a step runs:
--   * coach.step(id, {direction = ...}) starts it: the step event tells the other
--     plugins (safety, warnings) what the user is doing, and the roller's travel
--     restarts at 0 in that direction;
--   * cue.step says which muscle and how to get into position (for the upper
--     back, which way to roll first), in a sentence or two; cue.step.details
--     (how to roll, where to stop, the hold) follow 3 s after the user gets on
--     the roller (at the lowest priority: anything else cuts them); a double
--     press says both again (cue.step.again);
--   * the step's time counts from when the user is on the roller (the load cell
--     shows a load after the cue), since moving the roller and getting into
--     position takes anyone a different time; without a load cell, or if no
--     load is seen, it counts from 20 s after the cue. A short press on the
--     roller's button moves on at once (one within 3 s of a timed move is taken
--     as agreeing with it);
--   * when the user gets on the roller, the travel reference is taken again
--     (coach.track), so the step's start is where the roller first takes the
--     body's weight, not where it lay when the previous step ended: the roller
--     is usually lifted and moved between steps, and that movement must not be
--     counted as travel nor taken as the step's first sustained movement.
-- After the last step, coach.step("done"): the breathing reset (breathing.lua)
-- follows and ends the session.

local STEPS = {
   "glutes_left", "glutes_right", "hip_flexor_left", "hip_flexor_right",
   "hamstrings", "thoracic", "lats_left", "lats_right", "calves",
}

coach.plugin{
   api = 1,
   name = "lower-back-relief",
   description = "Foam rolling for low-back relief: glutes, hip flexors, hamstrings, "
      .. "upper back, lats and calves; never the lumbar spine.",
   routine = true,
   steps = STEPS,
}

-- Time on the roller per step. Project guidance: 5-10 minutes a session for a
-- beginner. Project choice: 45 s a step is a few slow passes (12 cm up and back
-- at 2.5 cm/s is about 10 s) plus one ~30 s hold on a tender spot; 9 steps of
-- 45 s plus getting into position (~5-10 s each) and the ~80 s breathing reset
-- come to about 9 minutes. A regular gets 75 s a step (about 13 minutes, within
-- the regular's 20-minute session).
local STEP_S = { beginner = 45, regular = 75 }
-- Project choice: if the roller never shows a load (no load cell, or the user
-- does not get on), the step's time starts this long after its cue.
local POSITION_MS = 20000
-- Project choice: a short press this soon after the step's time moved the
-- routine on is taken as the user agreeing with it (they pressed to finish the
-- step that just ended), not as a request to skip the new step too.
local PRESS_AFTER_TIMEOUT_MS = 3000
-- Project choice: a step's details are said this long after the user gets on
-- the roller (time to sit or lie down and settle after the short cue); without a
-- load cell, which cannot tell when that is, this long after the cue (the first
-- cue is at most ~6 s, and getting into position takes some 5-10 s).
local DETAILS_AFTER_LOAD_MS = 3000
local DETAILS_NO_LOAD_CELL_MS = 10000
-- ... and never sooner than this after the cue, so the cue (at most ~6 s) has
-- been said (project choice: 6 s and a 1-s pause).
local DETAILS_AFTER_CUE_MS = 7000
-- The details are said at the lowest priority (info): anything else interrupts
-- them, above all the next step's cue when the user presses on while they are
-- being read (at the same priority the cue would wait behind 10-20 s of details
-- and be dropped as stale after 6 s); they wait behind everything, and never go
-- stale. "Say that again" (a double press) is asked for: a cue.
local DETAILS = { priority = "info" }
-- A motion event at or above this force means the body is on the roller. The
-- analysis core enters "loaded" at 20 N (docs/analysis.md).
local LOADED_N = 20
-- With a clearance notice to say first (safety.lua, a safety message), the note
-- on what was adapted (an info, so it waits behind the notice in the voice queue
-- and is never dropped as stale) is said at once, and the first step waits until
-- both have been heard: a step cue outranks an info and would cut the note.
-- How long they take: espeak-ng at the hub's default 145 words a minute speaks
-- these texts at 13-14.5 characters a second (measured: the notice 11.1 s for
-- one condition, 19.9 s for all seven; the note 6.3-9.6 s). Project choice: the
-- notice is estimated at 9.5 s + 1.5 s a condition named, the note at 12
-- characters a second (10 % slower than measured), and 1 s of pause after each.
local NOTICE_S, NOTICE_PER_CONDITION_S = 9.5, 1.5
local CHARS_PER_S, PAUSE_S = 12, 1

-- The steps: the direction the user rolls first (the tracked direction, + travel)
-- and the cue. Directions are of the roller's contact line along the body.
-- What the user hears, in two parts (project choice, from listening as someone
-- getting onto a roller would): `cue` is the essentials, said as the step starts
-- (which muscle, how to lie on the roller, and for the upper back which way to
-- roll first), at most about 6 s of speech at the hub's default 145 words a
-- minute (tests/test_voice_texts.c renders it); `details` (how to roll, where to
-- stop, the hold) follow once the user is on the roller and settled, and a
-- double press says both again.
local STEP = {
   glutes_left = {
      direction = "caudal", muscle = "glutes",
      cue = "Left glute. Sit on the roller, left ankle on your right knee.",
      details = "Lean onto your left side and roll slowly toward your thigh, then back "
         .. "up, about an inch a second. Stay below the top of your hip bone. When you "
         .. "find a tender spot, stop there and hold it for about 30 seconds.",
   },
   glutes_right = {
      direction = "caudal", muscle = "glutes",
      cue = "Right glute. Right ankle on your left knee, and lean right.",
      details = "Roll slowly toward your thigh and back. Hold a tender spot.",
   },
   hip_flexor_left = {
      direction = "caudal", muscle = "hip flexors",
      cue = "Left hip flexor. Face down on your forearms, the roller under your left hip.",
      details = "Just below the hip bone. Keep the pressure light: leave weight on your "
         .. "arms and your other leg. Roll slowly toward your knee and back, a few inches "
         .. "only.",
   },
   hip_flexor_right = {
      direction = "caudal", muscle = "hip flexors",
      cue = "Right hip flexor. Move the roller under your right hip. Light pressure.",
      details = "Roll slowly toward your knee and back.",
   },
   hamstrings = {
      direction = "caudal", muscle = "hamstrings",
      cue = "Hamstrings. Sit with the roller under your thighs, hands behind you.",
      details = "Start just below your seat. Roll slowly toward your knees, then back. "
         .. "Stop before the back of the knee.",
   },
   thoracic = {
      direction = "cranial", muscle = "upper back",
      cue = "Upper back. Roller at the bra-strap line. Roll toward your neck first.",
      details = "Hands behind your head, hips on the floor. Roll slowly up toward your "
         .. "neck, then back down to where you started. Never roll below your ribs onto "
         .. "your lower back.",
   },
   lats_left = {
      direction = "caudal", muscle = "lats",
      cue = "Left side. Lie on your left side, roller below your armpit.",
      details = "Stretch your left arm overhead. Roll slowly toward your hip, a few "
         .. "inches, and stop at the bottom of your ribs. Then roll back.",
   },
   lats_right = {
      direction = "caudal", muscle = "lats",
      cue = "Right side. Turn onto your right side, roller below the armpit.",
      details = "Arm overhead. Roll slowly toward your hip and back. Stop at your ribs.",
   },
   calves = {
      direction = "caudal", muscle = "calves",
      cue = "Calves. Sit with the roller under your calves, hands behind you.",
      details = "Start just below the knees, and lift your hips if you like. Roll slowly "
         .. "toward your ankles and back. Stop above the ankle.",
   },
}

-- Adaptations for the conditions of the profile (docs/spec/coaching.md).
-- Project guidance: every listed condition needs medical clearance first and an
-- adapted routine; the choices below are ours (project choice), with the reason
-- for each. `drop` leaves steps out; `soften` adds a caution to a step, said first
-- in its details (the notes at the session's start have already said which
-- muscles are done gently; the warnings plugin also lowers the pressure limit for
-- anyone with a condition).
local GENTLE_BACK = "Go gently today: keep your hips on the floor and your lower back "
   .. "flat. Don't arch."
local ADAPT = {
   -- Fragile bone: a point load or a slip over the spine or the ribs can break
   -- them, so nothing is rolled with bone on the roller (no upper back, no
   -- lats over the ribs); the rest with lighter pressure.
   osteoporosis = {
      drop = { "thoracic", "lats_left", "lats_right" },
      soften = { glutes_left = "Use light pressure: keep weight on your hands and feet.",
                 glutes_right = "Light pressure.",
                 hip_flexor_left = "Very light pressure.",
                 hip_flexor_right = "Very light pressure.",
                 hamstrings = "Light pressure.",
                 calves = "Light pressure." },
   },
   -- Lying face down on the forearms presses on the belly and arches the lower
   -- back: no prone hip-flexor work. Lying on the back is kept short and gentle
   -- (lying flat on the back can make someone pregnant dizzy); calves get light
   -- pressure only, and are skipped if a calf is swollen, warm or painful, the
   -- signs of a clot, which is more likely in pregnancy.
   pregnancy = {
      drop = { "hip_flexor_left", "hip_flexor_right" },
      soften = { thoracic = "Keep it short and your hips on the floor. If you feel dizzy "
                    .. "or short of breath, roll onto your side and stop.",
                 calves = "Light pressure only. Skip this if a calf is swollen, warm or "
                    .. "painful." },
   },
   -- Extension of the lumbar spine narrows the spinal canal and loads a slipped
   -- vertebra: no prone work on the forearms (it arches the lower back), and the
   -- upper back only with the hips down and the lower back flat.
   spinal_stenosis = {
      drop = { "hip_flexor_left", "hip_flexor_right" },
      soften = { thoracic = GENTLE_BACK },
   },
   spondylolisthesis = {
      drop = { "hip_flexor_left", "hip_flexor_right" },
      soften = { thoracic = GENTLE_BACK },
   },
   -- An irritated nerve root: long sitting with a rounded back (hamstrings) and
   -- deep pressure near the sciatic nerve (glutes) can provoke leg symptoms, so
   -- both are softened with a clear stop rule; the upper back without arching.
   disc_herniation = {
      drop = {},
      soften = { hamstrings = "Sit tall, don't round your back, and stop if pain runs "
                    .. "down your leg.",
                 glutes_left = "Light pressure. Stop if you feel pain, tingling or "
                    .. "numbness down your leg.",
                 glutes_right = "Light pressure. Stop if anything runs down your leg.",
                 thoracic = GENTLE_BACK },
   },
   -- A recent injury or operation: nothing that loads or arches the back until it
   -- is cleared (no upper back, no lats, no prone work); legs and glutes gently.
   recent_back_injury = {
      drop = { "thoracic", "lats_left", "lats_right", "hip_flexor_left",
               "hip_flexor_right" },
      soften = { glutes_left = "Gently. Stop at any back pain.",
                 glutes_right = "Gently.", hamstrings = "Gently.", calves = "Gently." },
   },
}
ADAPT.recent_back_surgery = ADAPT.recent_back_injury
-- The conditions, in a fixed order. The profile's set is read by name
-- (conditions.pregnancy == true), never iterated: it may be a read-only view.
local CONDITIONS = { "disc_herniation", "osteoporosis", "pregnancy", "recent_back_injury",
                     "recent_back_surgery", "spinal_stenosis", "spondylolisthesis" }

-- What the user hears about the adaptation, by muscle (in the order of STEPS).
local function list_words(words)
   if #words == 1 then return words[1] end
   return table.concat(words, ", ", 1, #words - 1) .. " and " .. words[#words]
end

-- ---- state (reset at every session start) --------------------------------------

local plan          -- the steps of this session: { id, cue, details, direction } in order
local first_index   -- where the session begins in plan
local current       -- index into plan of the running step, nil before/after
local step_timer    -- the step's time, or the position allowance
local lead_timer    -- the lead-in before the first step (adapted sessions)
local details_timer -- the running step's details, once the user is on the roller
local load_cell     -- the roller reports force (a motion event had force_n)
local on_roller     -- the step's time is running (the user is on the roller)
local step_began_ms -- when the running step's cue was said
local last_loaded_ms -- the last motion event under load
local unloaded_seen -- a motion event without load since then
local finished = false

local function cancel(h)
   if h then h:cancel() end
   return nil
end

local function step_ms()
   local level = coach.profile.level
   return (STEP_S[level] or STEP_S.beginner) * 1000
end

-- The plan: the steps in order, without the dropped ones, with their cautions.
local function make_plan()
   local drop, soften, conditions = {}, {}, {}
   local listed = coach.profile.conditions or {}
   for _, name in ipairs(CONDITIONS) do
      local a = listed[name] and ADAPT[name]
      if a then
         conditions[#conditions + 1] = name
         for _, id in ipairs(a.drop) do drop[id] = true end
         for id, text in pairs(a.soften) do
            soften[id] = soften[id] or {}
            soften[id][#soften[id] + 1] = text
         end
      end
   end
   local p, dropped, softened, seen_d, seen_s = {}, {}, {}, {}, {}
   for _, id in ipairs(STEPS) do
      local s = STEP[id]
      if drop[id] then
         if not seen_d[s.muscle] then
            dropped[#dropped + 1] = s.muscle
            seen_d[s.muscle] = true
         end
      else
         local details = s.details
         if soften[id] then
            -- the cautions first; the same caution for two conditions is said once
            local said, cautions = {}, {}
            for _, text in ipairs(soften[id]) do
               if not said[text] then cautions[#cautions + 1] = text end
               said[text] = true
            end
            details = table.concat(cautions, " ") .. " " .. details
            if not seen_s[s.muscle] then
               softened[#softened + 1] = s.muscle
               seen_s[s.muscle] = true
            end
         end
         p[#p + 1] = { id = id, cue = s.cue, details = details, direction = s.direction }
      end
   end
   return p, conditions, dropped, softened
end

local function index_of(id)
   for i, s in ipairs(plan) do
      if s.id == id then return i end
   end
   return nil
end

local start_step -- forward

local timed_advance_ms -- when the step's time last moved the routine on

local function next_step()
   if not current then return end
   start_step(current + 1)
end

local details_said  -- the running step's details have been said

local function say_details()
   details_timer = cancel(details_timer)
   if current and not details_said then
      details_said = true
      coach.say("cue.step.details", plan[current].details, DETAILS)
   end
end

local function details_in(ms)
   ms = math.max(ms, step_began_ms + DETAILS_AFTER_CUE_MS - coach.now())
   details_timer = cancel(details_timer)
   details_timer = coach.after(ms, function()
      details_timer = nil
      say_details()
   end)
end

local function step_time_up()
   step_timer = nil
   timed_advance_ms = coach.now()
   next_step()
end

-- The step's time runs from now.
local function run_step_clock()
   step_timer = cancel(step_timer)
   step_timer = coach.after(step_ms(), step_time_up)
end

function start_step(i)
   step_timer = cancel(step_timer)
   lead_timer = cancel(lead_timer)
   details_timer = cancel(details_timer)
   if i > #plan then
      current = nil
      finished = true
      coach.step("done")
      return
   end
   current = i
   local s = plan[i]
   coach.step(s.id, { direction = s.direction })
   coach.say("cue.step", s.cue)
   coach.led("ok")
   step_began_ms = coach.now()
   on_roller, details_said = false, false
   if load_cell == false then details_in(DETAILS_NO_LOAD_CELL_MS) end
   step_timer = coach.after(POSITION_MS, function()
      step_timer = nil
      on_roller = true -- no load seen: assume so, the time runs from here
      run_step_clock()
      if not details_timer then say_details() end -- no load seen: now
   end)
end

coach.on("session_start", function(ev)
   step_timer = cancel(step_timer)
   lead_timer = cancel(lead_timer)
   details_timer = cancel(details_timer)
   current, on_roller, last_loaded_ms, unloaded_seen = nil, false, nil, false
   load_cell = nil
   finished, timed_advance_ms = false, nil
   local conditions, dropped, softened
   plan, conditions, dropped, softened = make_plan()

   -- where to begin: the session's step (--step), or the first; a step the
   -- adaptation dropped begins at the next one that is kept
   local first = 1
   if ev.step then
      local k
      for j, id in ipairs(STEPS) do
         if id == ev.step then k = j end
      end
      first = #plan + 1
      for j = (k or 1), #STEPS do
         local at = index_of(STEPS[j])
         if at then
            first = at
            break
         end
      end
      if first <= #plan and plan[first].id ~= ev.step then
         coach.log("info", ev.step .. " is left out for this profile; starting at "
            .. plan[first].id)
      end
   end

   if #conditions == 0 then
      start_step(first)
      return
   end
   -- Adapted: the safety plugin says the clearance notice now; we say what was
   -- adapted after it, then begin.
   local parts = {}
   if #dropped > 0 then parts[#parts + 1] = "we leave out the " .. list_words(dropped) end
   if #softened > 0 then
      parts[#parts + 1] = "we go gently on the " .. list_words(softened)
   end
   local note = "Your routine is adapted: " .. table.concat(parts, ", and ") .. "."
   coach.log("info", "adapted for " .. table.concat(conditions, ", ") .. ": "
      .. #plan .. " of " .. #STEPS .. " steps")
   coach.say("info.adapted", note)
   local notes_s = NOTICE_S + NOTICE_PER_CONDITION_S * #conditions + PAUSE_S
      + #note / CHARS_PER_S + PAUSE_S
   lead_timer = coach.after(math.floor(notes_s * 1000 + 0.5), function()
      lead_timer = nil
      start_step(first)
   end)
   first_index = first
end)

coach.on("button", function(ev)
   -- a double press: "say that again" (the running step's cue and details)
   if ev.press == "double" and current then
      coach.say("cue.step.again", plan[current].cue .. " " .. plan[current].details)
      return
   end
   if ev.press ~= "short" or finished or not plan then return end
   if timed_advance_ms and coach.now() - timed_advance_ms <= PRESS_AFTER_TIMEOUT_MS then
      timed_advance_ms = nil
      return
   end
   if current then
      next_step()
   elseif lead_timer then
      start_step(first_index)
   end
end)

-- When does the user get on the roller? Only a load cell can tell a body on the
-- roller from hands lifting it, so without one (force_n nil) the step's time
-- runs from POSITION_MS after the cue. With one: at a load onset after the cue
-- (loaded again after being unloaded, or after a second without a loaded motion
-- event), and the travel reference is taken again there; if the roller simply
-- stays loaded for 3 s after the cue (the user stayed on it), the step's own
-- reference stands and its time runs from then.
local STAYED_ON_MS = 3000
coach.on("motion", function(ev)
   if ev.force_n == nil then
      -- no load cell: the details cannot wait for a load
      if load_cell == nil then
         load_cell = false
         if current and not on_roller and not details_timer then
            details_in(math.max(0, step_began_ms + DETAILS_NO_LOAD_CELL_MS - coach.now()))
         end
      end
      return
   end
   load_cell = true
   if ev.force_n < LOADED_N then
      unloaded_seen = true
      return
   end
   local onset = unloaded_seen or not last_loaded_ms or ev.t_ms - last_loaded_ms > 1000
   last_loaded_ms, unloaded_seen = ev.t_ms, false
   if not current or on_roller then return end
   if onset then
      on_roller = true
      coach.track{ direction = plan[current].direction }
      run_step_clock()
      details_in(DETAILS_AFTER_LOAD_MS)
   elseif ev.t_ms - step_began_ms >= STAYED_ON_MS then
      on_roller = true
      run_step_clock()
      details_in(DETAILS_AFTER_LOAD_MS)
   end
end)

coach.on("session_end", function()
   step_timer = cancel(step_timer)
   lead_timer = cancel(lead_timer)
   details_timer = cancel(details_timer)
   current = nil
end)
