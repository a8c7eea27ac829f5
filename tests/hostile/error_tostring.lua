-- An error object whose __tostring loops, raised from every callback: whoever
-- prints the error must not call it outside a budget.
coach.plugin{api = 1}
local e = setmetatable({}, { __tostring = function() while true do end end })
coach.on("motion", function() error(e) end)
