-- luacheck configuration for the coaching plugins (plugins/*.lua).
--
-- A plugin runs in the hub's sandbox (docs/plugins.md, "The sandbox"): only the
-- globals below exist there, so only they are allowed here. `coach` is the
-- frozen API table: plugins read it and call it, never assign to it.

local sandbox_fields = {
   string = {"byte", "char", "find", "format", "gmatch", "gsub", "len", "lower", "match",
             "pack", "packsize", "rep", "reverse", "sub", "unpack", "upper"}, -- no dump
   table = {"concat", "insert", "move", "pack", "remove", "sort", "unpack"},
   math = {"abs", "acos", "asin", "atan", "ceil", "cos", "deg", "exp", "floor", "fmod",
           "huge", "log", "max", "maxinteger", "min", "mininteger", "modf", "pi", "rad",
           "random", "randomseed", "sin", "sqrt", "tan", "tointeger", "type", "ult"},
   utf8 = {"char", "charpattern", "codepoint", "codes", "len", "offset"},
   coroutine = {"close", "create", "isyieldable", "resume", "running", "status", "wrap",
                "yield"},
   os = {"clock", "time"}, -- the safe os: session clock only
}

local read_globals = {
   "assert", "error", "ipairs", "next", "pairs", "pcall", "xpcall", "select", "tonumber",
   "tostring", "type", "getmetatable", "setmetatable", "rawequal", "rawget", "rawset",
   "rawlen", "print", "load", "collectgarbage",
   coach = {
      fields = {
         api = {}, plugin = {}, on = {}, say = {}, led = {}, after = {}, every = {},
         track = {}, step = {}, stop = {}, now = {}, log = {},
         session = {fields = {routine = {}, step = {}, started = {}}},
         profile = {fields = {height_cm = {}, weight_kg = {}, level = {},
                              session_minutes = {}, conditions = {other_fields = true}}},
         store = {fields = {get = {}, set = {}}},
         history = {fields = {sessions = {}}},
      },
   },
}
for lib, names in pairs(sandbox_fields) do
   local fields = {}
   for _, n in ipairs(names) do fields[n] = {} end
   read_globals[lib] = {fields = fields}
end

stds.rollcoach = {read_globals = read_globals}
std = "rollcoach"
max_line_length = 100
-- Long spoken messages are kept on one line so they read as said.
max_string_line_length = false
