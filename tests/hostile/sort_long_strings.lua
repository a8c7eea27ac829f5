-- table.sort without a comparator compares strings in C (strcoll over their
-- length), where the count hook never runs: 2000 copies of a 1 MiB string are
-- about 25 000 comparisons of a megabyte, seconds in one C call (30 000 copies
-- stalled a replay for minutes). The sort's charge now counts the longest
-- string.
coach.plugin{api = 1}
local t
coach.on("motion", function()
   if not t then
      local s = "a"
      for _ = 1, 20 do
         s = s .. s
      end
      t = {}
      for i = 1, 2000 do
         t[i] = s
      end
      return
   end
   table.sort(t)
   coach.say("info.escaped", "the sort returned")
end)
