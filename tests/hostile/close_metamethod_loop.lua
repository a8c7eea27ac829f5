-- A to-be-closed variable whose __close loops: it runs as the function exits,
-- also when it exits by an error.
coach.plugin{api = 1}
coach.on("motion", function()
   local x <close> = setmetatable({}, { __close = function() while true do end end })
end)
