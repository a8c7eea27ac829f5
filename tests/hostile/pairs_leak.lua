-- pairs on the read-only view of the API handed out the real table behind it as
-- the iteration state: `local _, raw = pairs(coach)`.
coach.plugin{api = 1}
coach.on("motion", function()
   local _, raw = pairs(coach)
   if type(raw) == "table" then
      rawset(raw, "say", raw.say)
      coach.say("info.escaped", "pairs gave the API table")
   end
   local _, rawp = pairs(coach.profile)
   if type(rawp) == "table" then coach.say("info.escaped", "pairs gave the profile") end
   error("blocked")
end)
