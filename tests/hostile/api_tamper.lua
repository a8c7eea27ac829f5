-- Reaching under the API: next/rawget on the frozen views, the string metatable.
coach.plugin{api = 1}
coach.on("motion", function()
   if pcall(next, coach) then coach.say("info.escaped", "next on coach") end
   if pcall(rawget, coach, "say") then coach.say("info.escaped", "rawget on coach") end
   if type(getmetatable("")) == "table" then coach.say("info.escaped", "string metatable") end
   if pcall(collectgarbage, "collect") then coach.say("info.escaped", "collectgarbage") end
   error("blocked")
end)
