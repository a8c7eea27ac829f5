-- gsub with a function replacement that loops: the function is Lua, called from
-- C; it must still meet the hook.
coach.plugin{api = 1}
coach.on("motion", function()
   string.gsub("abc", "%w", function() while true do end end)
end)
