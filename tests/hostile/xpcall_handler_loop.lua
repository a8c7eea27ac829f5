-- xpcall whose message handler loops: when the budget kills the body, the error
-- comes from the count hook and Lua runs the handler with hooks off, so the
-- handler's loop never meets the hook.
coach.plugin{api = 1}
coach.on("motion", function()
   xpcall(function() while true do end end, function() while true do end end)
   coach.say("info.escaped", "xpcall returned")
end)
