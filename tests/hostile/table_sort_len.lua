-- table.sort of a table whose __len claims two billion elements.
coach.plugin{api = 1}
local t = setmetatable({}, { __len = function() return 2000000000 end,
   __index = function() return 1 end })
coach.on("motion", function()
   table.sort(t)
   coach.say("info.escaped", "table.sort returned")
end)
