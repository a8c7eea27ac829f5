-- table.concat over 2^40 indexes of a table whose __index answers every key
-- with a string from C (no instructions).
coach.plugin{api = 1}
local t = setmetatable({}, { __index = function() return "" end })
coach.on("motion", function()
   table.concat(t, "", 1, 1 << 40)
   coach.say("info.escaped", "table.concat returned")
end)
