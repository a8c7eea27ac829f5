-- A plain find costs needle x haystack in Lua's own search (memchr then memcmp
-- at every 'a'): a 300 kB needle in 1 MB is 2 x 10^11 byte compares (the issue:
-- 1 MB in 3 MB). Now linear
-- (memmem) and charged, so the loop of searches meets the budget.
coach.plugin{api = 1}
local hay, needle
coach.on("motion", function()
   hay = hay or ("a"):rep(1000):rep(1000)
   needle = needle or ("a"):rep(1000):rep(300) .. "b"
   while true do
      string.find(hay, needle, 1, true)
   end
end)
