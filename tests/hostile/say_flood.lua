-- 480 000 messages a minute: a new text every call, so no dedupe applies. The
-- rate limit drops what is over (counted) and the budget ends the loop.
coach.plugin{api = 1}
local n = 0
coach.on("motion", function()
   while true do
      n = n + 1
      coach.say("info.flood", "flood " .. n)
      coach.led(n % 2 == 0 and "ok" or "hold")
      coach.log("info", "flood " .. n)
   end
end)
