-- Unbounded recursion, through a metamethod too (C stack).
coach.plugin{api = 1}
local function f(n) return f(n + 1) + 1 end
local t = setmetatable({}, {})
getmetatable(t).__index = function(_, k) return t[k + 1] end
coach.on("motion", function()
   pcall(function() return t[1] end)
   f(1)
end)
