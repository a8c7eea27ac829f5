-- coach.say with bytes that are not UTF-8 wrote invalid JSON to the actions file
-- and invalid text to the voice.
coach.plugin{api = 1}
coach.on("motion", function()
   coach.say("info.bad", "caf\xe9 \xff\xfe")
   coach.say("info.escaped", "invalid UTF-8 was said")
end)
