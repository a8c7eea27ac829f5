-- A million values on the stack: table.unpack, then select, string.char and
-- utf8.char over them, each a C loop, in a loop.
coach.plugin{api = 1}
local t = setmetatable({}, { __index = function() return 65 end })
coach.on("motion", function()
   while true do
      local n = select("#", table.unpack(t, 1, 999990))
      string.char(table.unpack(t, 1, 200000))
      utf8.char(table.unpack(t, 1, 200000))
      if n == 0 then break end
   end
end)
