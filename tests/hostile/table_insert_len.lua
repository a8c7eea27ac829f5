-- table.insert at position 1 shifts #t elements, and __len says #t = 2^62.
coach.plugin{api = 1}
local t = setmetatable({}, { __len = function() return 1 << 62 end })
coach.on("motion", function()
   table.insert(t, 1, "x")
   coach.say("info.escaped", "table.insert returned")
end)
