-- Backtracking on optional items: ("a?"):rep(40) .. ("a"):rep(40) against 40
-- a's tries about 2^40 paths in C. The old guard did not count '?'.
coach.plugin{api = 1}
coach.on("motion", function()
   string.match(("a"):rep(40), ("a?"):rep(40) .. ("a"):rep(40))
   coach.say("info.escaped", "the match returned")
end)
