-- table.move over 2^62 indexes of an empty table: a C loop without instructions.
coach.plugin{api = 1}
coach.on("motion", function()
   table.move({}, 1, 1 << 62, 2)
   coach.say("info.escaped", "table.move returned")
end)
