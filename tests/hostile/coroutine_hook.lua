-- A coroutine made at load time and resumed in a callback: the hook is per
-- thread (lua_sethook), so a thread without one would loop freely.
coach.plugin{api = 1}
local co = coroutine.create(function() while true do end end)
local wrapped = coroutine.wrap(function() while true do coroutine.yield() end end)
coach.on("motion", function()
   wrapped()
   coroutine.resume(co)
   coach.say("info.escaped", "the coroutine returned")
end)
