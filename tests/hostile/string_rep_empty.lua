-- string.rep of the empty string: a C loop of 2^62 turns that never meets the
-- count hook and allocates nothing (so the memory cap does not stop it either).
coach.plugin{api = 1}
coach.on("motion", function()
   string.rep("", 1 << 62)
   coach.say("info.escaped", "string.rep returned")
end)
