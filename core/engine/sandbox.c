#include "engine/sandbox.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lualib.h>

#include "util/log.h"

/* Pattern matching runs in C, where the count hook cannot stop it: a call is
 * refused when a bound on its steps passes this (about 30 ms of matching). */
#define PATTERN_MAX_STEPS 1e7
/* Compiling: units a byte of source (the parser does tens of ns a byte). */
#define SOURCE_UNITS 8
/* Allocations from this size on are charged and may end a killed callback. */
#define BIG_ALLOC (64u << 10)

static int64_t clock_ns(clockid_t id) {
        struct timespec ts;

        clock_gettime(id, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Past the time limit, checked in two halves of wall time: after the first
 * (limit / 2 from the start), note the thread's CPU time; after the next half,
 * stop the callback if it was on the CPU for at least half of it, else give it
 * another half (a callback preempted on a loaded machine is not stopped for
 * that; the instruction budget still bounds its work). On an idle machine a
 * runaway stops at the limit. The CPU clock is a system call, so it is read only
 * past the first half, never in a callback that ends in time. */
static bool over_time(struct rc__sandbox *sb) {
        int64_t now = clock_ns(CLOCK_MONOTONIC), cpu, half = sb->time_limit_ns / 2;

        if (now < sb->deadline_ns)
                return false;
        cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        if (sb->cpu_mark_ns >= 0 && cpu - sb->cpu_mark_ns >= half / 2)
                return true;
        sb->cpu_mark_ns = cpu;
        sb->deadline_ns = now + half;
        return false;
}

/* Whether the running callback must stop now; sets the reason once. */
static bool must_stop(struct rc__sandbox *sb) {
        if (sb->killed)
                return true;
        if (!sb->armed)
                return false;
        if (sb->used > sb->budget)
                snprintf(sb->kill_reason, sizeof(sb->kill_reason),
                         "plugin stopped: more than %llu instructions in one callback",
                         (unsigned long long)sb->budget);
        else if (over_time(sb))
                snprintf(sb->kill_reason, sizeof(sb->kill_reason),
                         "plugin stopped: ran for more than %lld ms in one callback",
                         (long long)(sb->time_limit_ns / 1000000));
        else
                return false;
        sb->killed = true;
        return true;
}

struct rc__sandbox *rc__sandbox_of(lua_State *L) {
        return *(struct rc__sandbox **)lua_getextraspace(L);
}

/* ---- memory -------------------------------------------------------------------- */

static void *sandbox_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
        struct rc__sandbox *sb = ud;
        size_t old = ptr ? osize : 0; /* without ptr, osize is a type tag */
        void *n;

        if (nsize == 0) {
                free(ptr);
                sb->mem -= old;
                return NULL;
        }
        if (nsize > old && sb->mem - old + nsize > sb->mem_limit) {
                /* growth past the cap: Lua collects everything and tries again,
                 * then raises "not enough memory"; the collection walks the whole
                 * heap, so it is charged (a deep recursion refused again and
                 * again ran 600 ms uncharged) */
                if (sb->armed && !sb->killed)
                        sb->used += sb->mem / RC__SANDBOX_BYTES_PER_UNIT;
                return NULL;
        }
        /* copying big strings costs time without instructions (`s .. s` in a
         * loop): charge it, and refuse it to a callback that must stop */
        if (nsize >= BIG_ALLOC && nsize > old) {
                sb->used += nsize / RC__SANDBOX_BYTES_PER_UNIT;
                if (must_stop(sb))
                        return NULL;
        }
        n = realloc(ptr, nsize);
        if (!n)
                return nsize <= old ? ptr : NULL; /* never refuse a shrink */
        sb->mem = sb->mem - old + nsize;
        return n;
}

/* ---- CPU --------------------------------------------------------------------------- */

static void hook(lua_State *L, lua_Debug *ar) {
        struct rc__sandbox *sb = rc__sandbox_of(L);
        int count = lua_gethookcount(L);

        (void)ar;
        if (!sb->killed)
                sb->used += (uint64_t)count;
        if (must_stop(sb)) {
                /* every instruction errors now, whatever pcall the plugin wraps */
                lua_sethook(L, hook, LUA_MASKCOUNT, 1);
                luaL_error(L, "%s", sb->kill_reason);
        }
        if (count != RC__SANDBOX_HOOK_STEP) /* a thread left at 1 by an earlier kill */
                lua_sethook(L, hook, LUA_MASKCOUNT, RC__SANDBOX_HOOK_STEP);
}

void rc__sandbox_charge(lua_State *L, double units) {
        struct rc__sandbox *sb = rc__sandbox_of(L);

        if (!sb->armed && !sb->killed)
                return;
        if (!sb->killed)
                sb->used = units >= (double)(sb->budget + 1) ? sb->budget + 1
                                                             : sb->used + (uint64_t)units;
        if (must_stop(sb)) {
                lua_sethook(L, hook, LUA_MASKCOUNT, 1);
                luaL_error(L, "%s", sb->kill_reason);
        }
}

static int panic(lua_State *L) {
        /* every call into a plugin state is protected; reaching this is a bug */
        rc_log_error("plugin %s: unprotected Lua error: %s", rc__sandbox_of(L)->name,
                     lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?");
        abort();
}

static void arm(struct rc__sandbox *sb) {
        sb->used = 0;
        sb->killed = false;
        sb->kill_reason[0] = '\0';
        sb->cpu_mark_ns = -1;
        sb->deadline_ns = clock_ns(CLOCK_MONOTONIC) + sb->time_limit_ns / 2;
        sb->armed = true;
        lua_sethook(sb->L, hook, LUA_MASKCOUNT, RC__SANDBOX_HOOK_STEP);
}

void rc__sandbox_restart(struct rc__sandbox *sb) {
        if (!sb->armed || sb->killed)
                return;
        sb->used = 0;
        sb->cpu_mark_ns = -1;
        sb->deadline_ns = clock_ns(CLOCK_MONOTONIC) + sb->time_limit_ns / 2;
}

static void disarm(struct rc__sandbox *sb) {
        sb->armed = false;
        lua_sethook(sb->L, NULL, 0, 0);
}

/* ---- the environment ----------------------------------------------------------- */

static int safe_print(lua_State *L) {
        struct rc__sandbox *sb = rc__sandbox_of(L);
        luaL_Buffer b;
        int n = lua_gettop(L);

        /* tostring() of each argument, tab-separated, each cut at 400 bytes */
        luaL_buffinit(L, &b);
        for (int i = 1; i <= n; i++) {
                size_t len;
                const char *s = luaL_tolstring(L, i, &len);

                if (i > 1)
                        luaL_addchar(&b, '\t');
                luaL_addlstring(&b, s, len < 400 ? len : 400);
                lua_pop(L, 1);
        }
        luaL_pushresult(&b);
        rc_log_info("plugin %s: %s", sb->name, lua_tostring(L, -1));
        return 0;
}

/* load: text chunks only; the environment defaults to the sandbox's. */
static int safe_load(lua_State *L) {
        int has_env = !lua_isnone(L, 4);
        const char *mode = luaL_optstring(L, 3, "t");
        int r;

        if (strcmp(mode, "t") != 0)
                return luaL_error(L, "load: only text chunks are allowed (mode \"t\")");
        if (lua_type(L, 1) != LUA_TSTRING)
                return luaL_error(L, "load: only a string chunk is allowed");
        {
                size_t len;
                const char *s = lua_tolstring(L, 1, &len);
                const char *name = luaL_optstring(L, 2, s);

                r = luaL_loadbufferx(L, s, len, name, "t");
        }
        if (r != LUA_OK) {
                luaL_pushfail(L);
                lua_insert(L, -2);
                return 2;
        }
        if (has_env) {
                lua_pushvalue(L, 4);
                if (!lua_setupvalue(L, -2, 1))
                        lua_pop(L, 1);
        }
        return 1;
}

static int safe_collectgarbage(lua_State *L) {
        const char *opt = luaL_optstring(L, 1, "count");

        if (strcmp(opt, "count") != 0)
                return luaL_error(L, "collectgarbage: only \"count\" is allowed");
        lua_pushnumber(L, (lua_Number)lua_gc(L, LUA_GCCOUNT) +
                                  (lua_Number)lua_gc(L, LUA_GCCOUNTB) / 1024.0);
        return 1;
}

/* os.time(): Unix seconds on the session clock; os.clock(): session seconds. */
static int safe_os_time(lua_State *L) {
        struct rc__sandbox *sb = rc__sandbox_of(L);

        if (!lua_isnoneornil(L, 1))
                return luaL_error(L, "os.time: only os.time() is allowed");
        lua_pushinteger(L, (lua_Integer)(sb->wall_start_s + sb->now_ms / 1000));
        return 1;
}

static int safe_os_clock(lua_State *L) {
        lua_pushnumber(L, (lua_Number)rc__sandbox_of(L)->now_ms / 1000.0);
        return 1;
}

/* ---- library functions that loop in C ------------------------------------------ */

/* How each wrapped function's work is bounded before it runs. */
enum cost {
        COST_LEN,     /* the sum of the string arguments' lengths, and their count */
        COST_REP,     /* string.rep(s, n, sep): n copies */
        COST_PATTERN, /* string.match/gmatch/gsub: a bound on the backtracking */
        COST_UNPACK,  /* table.unpack(t, i, j): j - i + 1 steps */
        COST_CONCAT,  /* table.concat(t, sep, i, j): j - i + 1 steps */
        COST_MOVE,    /* table.move(a, f, e, t): e - f + 1 steps */
        COST_TLEN,    /* table.insert/remove: #t steps (a __len may lie) */
        COST_SORT, /* table.sort: #t log #t steps, times the longest string without a comparator */
        COST_SOURCE, /* load: the parser costs about SOURCE_UNITS a byte */
};

static double bytes_units(double bytes) {
        return bytes / RC__SANDBOX_BYTES_PER_UNIT;
}

static double string_args_units(lua_State *L) {
        double bytes = 0;
        int n = lua_gettop(L);

        for (int i = 1; i <= n; i++)
                if (lua_type(L, i) == LUA_TSTRING)
                        bytes += (double)lua_rawlen(L, i);
        return n + bytes_units(bytes);
}

/* An upper bound on the steps of a backtracking match of a pattern of plen bytes
 * on a subject of n: every start position, each trying at most (plen + 1) items
 * on each branch, a repetition (* + -), a balance (%b) or a back-reference (%1)
 * multiplying the branches by n + 1, an optional item (?) by 2. */
static double pattern_bound(const char *p, size_t plen, double n) {
        double bound = (n + 1) * ((double)plen + 1);

        for (size_t i = 0; i < plen && bound < 1e300; i++) {
                if (p[i] == '%' && i + 1 < plen) {
                        i++;
                        if (p[i] == 'b' || (p[i] >= '0' && p[i] <= '9'))
                                bound *= n + 1;
                } else if (p[i] == '*' || p[i] == '+' || p[i] == '-') {
                        bound *= n + 1;
                } else if (p[i] == '?') {
                        bound *= 2;
                }
        }
        return bound;
}

/* The work of string.match/gmatch/gsub/find(pattern): refused past
 * PATTERN_MAX_STEPS (an error, the callback goes on), else charged. gsub's
 * replacement string is copied up to once a position. */
static double pattern_units(lua_State *L) {
        size_t n, plen;
        const char *pat;
        double bound;

        luaL_checklstring(L, 1, &n);
        pat = luaL_checklstring(L, 2, &plen);
        bound = pattern_bound(pat, plen, (double)n);
        if (bound > PATTERN_MAX_STEPS)
                luaL_error(L,
                           "pattern too costly: up to %f steps on a subject of %I bytes "
                           "(the limit is %f)",
                           bound, (lua_Integer)n, PATTERN_MAX_STEPS);
        if (lua_type(L, 3) == LUA_TSTRING)
                bound += ((double)n + 1) * bytes_units((double)lua_rawlen(L, 3));
        return bound;
}

static double range_units(lua_State *L, int first, int last) {
        lua_Integer i = luaL_optinteger(L, first, 1);
        lua_Integer j = lua_isnoneornil(L, last) ? luaL_len(L, 1) : luaL_checkinteger(L, last);

        return i > j ? 1 : (double)j - (double)i + 1;
}

static double cost_units(lua_State *L, enum cost kind) {
        switch (kind) {
        case COST_LEN:
                return string_args_units(L);
        case COST_REP: {
                size_t l, sepl = 0;
                lua_Integer n;

                luaL_checklstring(L, 1, &l);
                n = luaL_checkinteger(L, 2);
                luaL_optlstring(L, 3, "", &sepl);
                return n <= 0 ? 1 : (double)n * (1 + bytes_units((double)(l + sepl)));
        }
        case COST_PATTERN:
                return pattern_units(L);
        case COST_UNPACK:
                return range_units(L, 2, 3);
        case COST_CONCAT:
                return range_units(L, 3, 4);
        case COST_MOVE: {
                lua_Integer f = luaL_checkinteger(L, 2), e = luaL_checkinteger(L, 3);

                return f > e ? 1 : (double)e - (double)f + 1;
        }
        case COST_TLEN:
                luaL_checktype(L, 1, LUA_TTABLE);
                return 1 + (double)luaL_len(L, 1);
        case COST_SORT: {
                double n, steps;
                size_t longest = 0;

                luaL_checktype(L, 1, LUA_TTABLE);
                n = (double)luaL_len(L, 1);
                if (n < 2)
                        return 1;
                steps = n * log2(n) * 4;
                if (!lua_isnoneornil(L, 2) || steps > (double)rc__sandbox_of(L)->budget)
                        return steps;
                /* without a comparator, two strings are compared in C (strcoll)
                 * over up to their length, with no instruction counted: 30 000
                 * copies of a 1 MiB string sorted for minutes */
                for (lua_Integer i = 1; i <= (lua_Integer)n; i++) {
                        if (lua_rawgeti(L, 1, i) == LUA_TSTRING && lua_rawlen(L, -1) > longest)
                                longest = lua_rawlen(L, -1);
                        lua_pop(L, 1);
                }
                return steps * (1 + bytes_units((double)longest));
        }
        case COST_SOURCE:
                return lua_type(L, 1) == LUA_TSTRING ? 1 + SOURCE_UNITS * (double)lua_rawlen(L, 1)
                                                     : 1;
        }
        return 1;
}

/* Refuse work that could never fit in one callback (an error: nothing is
 * charged, the callback goes on); else charge it, which kills the callback when
 * it passes the budget. */
static void charge_or_refuse(lua_State *L, double units) {
        struct rc__sandbox *sb = rc__sandbox_of(L);

        if (sb->armed && units > (double)sb->budget)
                luaL_error(L, "too costly: about %f steps, more than a callback may run (%I)",
                           units, (lua_Integer)sb->budget);
        rc__sandbox_charge(L, units);
}

/* A library function (upvalue 1) behind a charge for its work (upvalue 2, an enum
 * cost). */
static int charged(lua_State *L) {
        charge_or_refuse(L, cost_units(L, (enum cost)lua_tointeger(L, lua_upvalueindex(2))));
        lua_pushvalue(L, lua_upvalueindex(1));
        lua_insert(L, 1);
        lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
        return lua_gettop(L);
}

/* Replace lib[fname] (the table on top) with its charged version. */
static void charge_function(lua_State *L, const char *fname, enum cost kind) {
        lua_getfield(L, -1, fname);
        lua_pushinteger(L, kind);
        lua_pushcclosure(L, charged, 2);
        lua_setfield(L, -2, fname);
}

/* string.find: a plain search (plain = true, or a pattern without special
 * characters) through memmem, linear in glibc, where Lua's is length x length;
 * otherwise the charged pattern matcher (upvalue 1). */
static int safe_find(lua_State *L) {
        size_t n, plen;
        const char *s = luaL_checklstring(L, 1, &n);
        const char *pat = luaL_checklstring(L, 2, &plen);
        lua_Integer init = luaL_optinteger(L, 3, 1);
        bool plain = lua_toboolean(L, 4) || strcspn(pat, "^$*+?.([%-") == plen;
        const char *hit;

        if (!plain) {
                charge_or_refuse(L, pattern_units(L));
                lua_pushvalue(L, lua_upvalueindex(1));
                lua_insert(L, 1);
                lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
                return lua_gettop(L);
        }
        charge_or_refuse(L, 1 + bytes_units((double)n + (double)plen));
        /* init as Lua's str_find: negative from the end, clamped to 1 */
        if (init < 0)
                init = init < -(lua_Integer)n ? 1 : (lua_Integer)n + init + 1;
        if (init < 1)
                init = 1;
        if (init > (lua_Integer)n + 1) {
                luaL_pushfail(L);
                return 1;
        }
        hit = plen == 0 ? s + init - 1 : memmem(s + init - 1, n - (size_t)(init - 1), pat, plen);
        if (!hit) {
                luaL_pushfail(L);
                return 1;
        }
        lua_pushinteger(L, (lua_Integer)(hit - s) + 1);
        lua_pushinteger(L, (lua_Integer)(hit - s) + (lua_Integer)plen);
        return 2;
}

/* A shallow copy of the global library `lib` into a new table on the stack. */
static void copy_library(lua_State *L, const char *lib) {
        lua_getglobal(L, lib);
        lua_newtable(L);
        lua_pushnil(L);
        while (lua_next(L, -3)) {
                lua_pushvalue(L, -2);
                lua_insert(L, -2);
                lua_rawset(L, -4);
        }
        lua_remove(L, -2);
}

static int readonly_newindex(lua_State *L) {
        return luaL_error(L, "%s is read-only", lua_tostring(L, lua_upvalueindex(1)));
}

/* next over the table behind a read-only view (upvalue 1), whatever the plugin
 * passes as the state: the table itself is never handed out. */
static int readonly_next(lua_State *L) {
        lua_settop(L, 2);
        lua_pushvalue(L, lua_upvalueindex(1));
        lua_pushvalue(L, 2);
        if (lua_next(L, -2))
                return 2;
        lua_pushnil(L);
        return 1;
}

/* __pairs: (next over the hidden table, the view itself, nil) */
static int readonly_pairs(lua_State *L) {
        lua_pushvalue(L, lua_upvalueindex(1));
        lua_pushcclosure(L, readonly_next, 1);
        lua_pushvalue(L, 1);
        lua_pushnil(L);
        return 3;
}

void rc__sandbox_push_readonly(lua_State *L, int idx, const char *what) {
        idx = lua_absindex(L, idx);
        lua_newuserdatauv(L, 0, 1);
        lua_pushvalue(L, idx);
        lua_setiuservalue(L, -2, 1);
        lua_createtable(L, 0, 4);
        lua_pushvalue(L, idx);
        lua_setfield(L, -2, "__index");
        lua_pushstring(L, what);
        lua_pushcclosure(L, readonly_newindex, 1);
        lua_setfield(L, -2, "__newindex");
        lua_pushvalue(L, idx);
        lua_pushcclosure(L, readonly_pairs, 1);
        lua_setfield(L, -2, "__pairs");
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "__metatable");
        lua_setmetatable(L, -2);
}

/* setmetatable without __gc: Lua runs finalizers with hooks off (lgc.c, GCTM), so
 * a finalizer could loop forever out of the budget's reach. An object is only
 * marked for finalization if its metatable has a __gc field when it is set. */
static int safe_setmetatable(lua_State *L) {
        if (lua_type(L, 2) == LUA_TTABLE && lua_getfield(L, 2, "__gc") != LUA_TNIL)
                return luaL_error(L, "setmetatable: __gc metamethods are not allowed in plugins");
        lua_settop(L, 2);
        lua_pushvalue(L, lua_upvalueindex(1));
        lua_insert(L, 1);
        lua_call(L, 2, 1);
        return 1;
}

/* coroutine.resume (upvalue 1) that passes a kill on: a kill inside the
 * coroutine ends it, and resume would hand the caller a plain `false`. */
static int safe_resume(lua_State *L) {
        struct rc__sandbox *sb = rc__sandbox_of(L);

        lua_pushvalue(L, lua_upvalueindex(1));
        lua_insert(L, 1);
        lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
        if (sb->killed)
                rc__sandbox_charge(L, 0);
        return lua_gettop(L);
}

/* xpcall's message handler behind a guard: when the callback was killed, the
 * error came from the count hook, and Lua runs the handler with hooks off
 * (ldo.c: the hook's L->allowhook = 0 holds until the pcall unwinds), where a
 * loop would never end. Then the error goes on without the handler. */
static int guarded_msgh(lua_State *L) {
        if (rc__sandbox_of(L)->killed)
                return 1;
        lua_pushvalue(L, lua_upvalueindex(1));
        lua_insert(L, 1);
        lua_call(L, lua_gettop(L) - 1, 1);
        return 1;
}

static int finish_xpcall(lua_State *L, int status, lua_KContext extra) {
        if (status != LUA_OK && status != LUA_YIELD) {
                lua_pushboolean(L, 0);
                lua_pushvalue(L, -2);
                return 2;
        }
        return lua_gettop(L) - (int)extra;
}

/* xpcall(f, msgh, ...) as the base library's (lbaselib.c), with msgh guarded. */
static int safe_xpcall(lua_State *L) {
        int n = lua_gettop(L);

        luaL_checktype(L, 2, LUA_TFUNCTION);
        lua_pushvalue(L, 2);
        lua_pushcclosure(L, guarded_msgh, 1);
        lua_replace(L, 2);
        lua_pushboolean(L, 1);
        lua_pushvalue(L, 1);
        lua_rotate(L, 3, 2); /* 1 f, 2 msgh, 3 true, 4 f, 5... args */
        return finish_xpcall(L, lua_pcallk(L, n - 2, LUA_MULTRET, 2, 2, finish_xpcall), 2);
}

static const char *const allowed_base[] = {
        "assert", "error",    "ipairs",   "next",         "pairs",        "pcall",
        "select", "tonumber", "tostring", "type",         "getmetatable", "rawequal",
        "rawget", "rawset",   "rawlen",   "setmetatable", "_VERSION",
};

static const char *const libraries[] = {"table", "math", "utf8", "coroutine"};

struct cost_of {
        const char *name;
        enum cost kind;
};
#define N_COSTS(a) (sizeof(a) / sizeof((a)[0]))

/* Every function of these libraries that loops in C over something the plugin
 * sizes; the others are O(1) (math, coroutine, rawget, ...). Coroutines need
 * nothing more: a new thread inherits the hook (lua_newthread). */
static const struct cost_of string_costs[] = {
        {"rep", COST_REP},        {"byte", COST_LEN},     {"char", COST_LEN},
        {"format", COST_LEN},     {"lower", COST_LEN},    {"upper", COST_LEN},
        {"reverse", COST_LEN},    {"sub", COST_LEN},      {"pack", COST_LEN},
        {"packsize", COST_LEN},   {"unpack", COST_LEN},   {"match", COST_PATTERN},
        {"gmatch", COST_PATTERN}, {"gsub", COST_PATTERN},
};
static const struct cost_of table_costs[] = {
        {"concat", COST_CONCAT}, {"unpack", COST_UNPACK}, {"move", COST_MOVE},
        {"insert", COST_TLEN},   {"remove", COST_TLEN},   {"sort", COST_SORT},
        {"pack", COST_LEN},
};
static const struct cost_of utf8_costs[] = {
        {"char", COST_LEN},   {"codepoint", COST_LEN}, {"len", COST_LEN},
        {"offset", COST_LEN}, {"codes", COST_LEN},
};
static const struct cost_of base_costs[] = {
        {"select", COST_LEN},
        {"tonumber", COST_LEN},
        {"tostring", COST_LEN},
};

static void charge_functions(lua_State *L, const struct cost_of *c, size_t n) {
        for (size_t i = 0; i < n; i++)
                charge_function(L, c[i].name, c[i].kind);
}

/* Runs protected: open the allowed libraries and make the environment the state's
 * global table. */
static int setup(lua_State *L) {
        luaL_requiref(L, "_G", luaopen_base, 1);
        luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
        luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
        luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
        luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 1);
        luaL_requiref(L, LUA_COLIBNAME, luaopen_coroutine, 1);
        lua_settop(L, 0);

        lua_newtable(L); /* 1: the environment */
        for (size_t i = 0; i < sizeof(allowed_base) / sizeof(allowed_base[0]); i++) {
                lua_getglobal(L, allowed_base[i]);
                lua_setfield(L, 1, allowed_base[i]);
        }
        for (size_t i = 0; i < sizeof(libraries) / sizeof(libraries[0]); i++) {
                copy_library(L, libraries[i]);
                lua_setfield(L, 1, libraries[i]);
        }
        /* string: a copy without dump, the C loops charged; it is also what
         * string values index, and their metatable is hidden */
        copy_library(L, LUA_STRLIBNAME);
        lua_pushnil(L);
        lua_setfield(L, -2, "dump");
        charge_functions(L, string_costs, N_COSTS(string_costs));
        lua_getfield(L, -1, "find");
        lua_pushcclosure(L, safe_find, 1);
        lua_setfield(L, -2, "find");
        lua_pushliteral(L, "");
        lua_getmetatable(L, -1);
        lua_pushvalue(L, -3);
        lua_setfield(L, -2, "__index");
        lua_pushliteral(L, "string");
        lua_setfield(L, -2, "__metatable");
        lua_pop(L, 2);
        lua_setfield(L, 1, LUA_STRLIBNAME);
        lua_getfield(L, 1, LUA_TABLIBNAME);
        charge_functions(L, table_costs, N_COSTS(table_costs));
        lua_getfield(L, 1, LUA_UTF8LIBNAME);
        charge_functions(L, utf8_costs, N_COSTS(utf8_costs));
        lua_pop(L, 2);
        lua_pushvalue(L, 1);
        charge_functions(L, base_costs, N_COSTS(base_costs));
        lua_pop(L, 1);
        lua_pushcfunction(L, safe_xpcall);
        lua_setfield(L, 1, "xpcall");
        lua_getfield(L, 1, LUA_COLIBNAME);
        lua_getfield(L, -1, "resume");
        lua_pushcclosure(L, safe_resume, 1);
        lua_setfield(L, -2, "resume");
        lua_pop(L, 1);

        lua_getglobal(L, "setmetatable");
        lua_pushcclosure(L, safe_setmetatable, 1);
        lua_setfield(L, 1, "setmetatable");
        lua_pushcfunction(L, safe_print);
        lua_pushinteger(L, COST_LEN);
        lua_pushcclosure(L, charged, 2);
        lua_setfield(L, 1, "print");
        lua_pushcfunction(L, safe_load);
        lua_pushinteger(L, COST_SOURCE);
        lua_pushcclosure(L, charged, 2);
        lua_setfield(L, 1, "load");
        lua_pushcfunction(L, safe_collectgarbage);
        lua_setfield(L, 1, "collectgarbage");
        lua_createtable(L, 0, 2);
        lua_pushcfunction(L, safe_os_time);
        lua_setfield(L, -2, "time");
        lua_pushcfunction(L, safe_os_clock);
        lua_setfield(L, -2, "clock");
        lua_setfield(L, 1, "os");
        lua_pushvalue(L, 1);
        lua_setfield(L, 1, "_G");

        /* deterministic math.random: replays must give the same actions */
        lua_getfield(L, 1, "math");
        lua_getfield(L, -1, "randomseed");
        lua_pushinteger(L, 20261121);
        lua_call(L, 1, 0);
        lua_pop(L, 1);

        /* the environment becomes the global table: nothing else is reachable */
        lua_pushvalue(L, 1);
        lua_rawseti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
        return 0;
}

int rc__sandbox_open(struct rc__sandbox *sb, const char *name, size_t mem_limit, uint64_t budget,
                     unsigned time_ms, void *owner) {
        lua_State *L;

        memset(sb, 0, sizeof(*sb));
        sb->name = name;
        sb->mem_limit = mem_limit;
        sb->budget = budget;
        sb->time_limit_ns = (int64_t)time_ms * 1000000;
        sb->owner = owner;
        L = lua_newstate(sandbox_alloc, sb);
        if (!L)
                return -ENOMEM;
        *(struct rc__sandbox **)lua_getextraspace(L) = sb;
        lua_atpanic(L, panic);
        sb->L = L;
        arm(sb);
        lua_pushcfunction(L, setup);
        if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
                lua_close(L);
                sb->L = NULL;
                return -ENOMEM;
        }
        disarm(sb);
        return 0;
}

void rc__sandbox_close(struct rc__sandbox *sb) {
        if (!sb->L)
                return;
        /* finalizers run now: they get a budget like any callback */
        arm(sb);
        lua_close(sb->L);
        sb->armed = false;
        sb->L = NULL;
}

static int traceback(lua_State *L) {
        const char *msg = lua_tostring(L, 1);

        if (!msg)
                msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
        luaL_traceback(L, L, msg, 1);
        return 1;
}

int rc__sandbox_call(struct rc__sandbox *sb, int nargs, char *err, size_t err_len) {
        lua_State *L = sb->L;
        int base = lua_gettop(L) - nargs; /* the function's index */
        int r;

        lua_pushcfunction(L, traceback);
        lua_insert(L, base);
        arm(sb);
        r = lua_pcall(L, nargs, 0, base);
        disarm(sb);
        if (r == LUA_OK && !sb->killed) {
                lua_remove(L, base);
                return 0;
        }
        /* the traceback handler made it a string (lua_tostring of anything else
         * could allocate, unprotected) */
        snprintf(err, err_len, "%s",
                 sb->killed                       ? sb->kill_reason
                 : r == LUA_ERRMEM                ? "not enough memory"
                 : lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1)
                                                  : "error (no message)");
        if (r == LUA_OK)
                lua_remove(L, base);
        else
                lua_settop(L, base - 1);
        if (sb->killed)
                return -EINTR;
        return r == LUA_ERRMEM ? -ENOMEM : -EINVAL;
}
