-- string.format with a huge %s argument and a wide field, in a loop.
coach.plugin{api = 1}
local big
coach.on("motion", function()
   big = big or ("x"):rep(1000):rep(1000)
   while true do
      string.format("%99s%s%s", "a", big, big)
   end
end)
