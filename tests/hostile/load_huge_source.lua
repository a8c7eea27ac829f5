-- Compiling a 2.4 MB chunk is one call that runs in the C parser.
coach.plugin{api = 1}
local src
coach.on("motion", function()
   src = src or ("x = 1 "):rep(400000)
   load(src)
   coach.say("info.escaped", "load returned")
end)
