-- Each `..` of a 1 MB string is one instruction that copies 1 MB: a thousand of
-- them pass between two count-hook checks.
coach.plugin{api = 1}
local s
coach.on("motion", function()
   s = s or ("x"):rep(1000):rep(1000)
   while true do
      local t = s .. "y"
   end
end)
