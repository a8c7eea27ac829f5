-- Compiling a 1.8 MB chunk is one call that runs in the C parser.
coach.plugin{api = 1}
local src
coach.on("motion", function()
   src = src or ("x = 1 "):rep(1000):rep(300)
   load(src)
   coach.say("info.escaped", "load returned")
end)
