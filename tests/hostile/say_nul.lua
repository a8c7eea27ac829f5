-- coach.say with a NUL: the text after it was silently dropped.
coach.plugin{api = 1}
coach.on("motion", function()
   coach.say("info.nul", "shown\0hidden")
   coach.say("info.escaped", "a NUL was said")
end)
