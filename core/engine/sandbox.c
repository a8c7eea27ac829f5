#include "engine/sandbox.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "util/log.h"

/* Pattern matching runs in C, where the count hook cannot stop it: a pattern
 * with q repetition items can take about n^q steps on a subject of n bytes. */
#define PATTERN_MAX_STEPS 1e7

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
        if (nsize > old && sb->mem - old + nsize > sb->mem_limit)
                return NULL; /* growth past the cap: Lua raises "not enough memory" */
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
        if (sb->killed) {
                /* every instruction errors now, whatever pcall the plugin wraps */
                lua_sethook(L, hook, LUA_MASKCOUNT, 1);
                luaL_error(L, "plugin stopped: instruction budget exceeded");
        }
        sb->used += (uint64_t)count;
        if (sb->used > sb->budget) {
                sb->killed = true;
                lua_sethook(L, hook, LUA_MASKCOUNT, 1);
                luaL_error(L, "plugin stopped: more than %I instructions in one callback",
                           (lua_Integer)sb->budget);
        }
        if (count != RC__SANDBOX_HOOK_STEP) /* a thread left at 1 by an earlier kill */
                lua_sethook(L, hook, LUA_MASKCOUNT, RC__SANDBOX_HOOK_STEP);
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
        lua_sethook(sb->L, hook, LUA_MASKCOUNT, RC__SANDBOX_HOOK_STEP);
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

/* The repetition items of a Lua pattern (*, +, -) outside %-escapes. */
static unsigned pattern_repetitions(const char *p, size_t len) {
        unsigned q = 0;

        for (size_t i = 0; i < len; i++) {
                if (p[i] == '%')
                        i++;
                else if (p[i] == '*' || p[i] == '+' || p[i] == '-')
                        q++;
        }
        return q;
}

/* string.find/match/gmatch/gsub with a cost check, then the original (upvalue 1). */
static int guarded_pattern(lua_State *L) {
        size_t n, plen;
        const char *pat;
        unsigned q;

        luaL_checklstring(L, 1, &n);
        pat = luaL_checklstring(L, 2, &plen);
        q = pattern_repetitions(pat, plen);
        /* string.find with plain = true does no pattern matching */
        if (q > 0 && !(lua_toboolean(L, lua_upvalueindex(2)) && lua_toboolean(L, 4)) &&
            q * log((double)n + 1.0) > log(PATTERN_MAX_STEPS))
                return luaL_error(L,
                                  "pattern with %d repetitions is too costly on a subject of %I "
                                  "bytes",
                                  (int)q, (lua_Integer)n);
        lua_pushvalue(L, lua_upvalueindex(1));
        lua_insert(L, 1);
        lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
        return lua_gettop(L);
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

static void wrap_pattern_function(lua_State *L, const char *fname, bool is_find) {
        lua_getfield(L, -1, fname);
        lua_pushboolean(L, is_find);
        lua_pushcclosure(L, guarded_pattern, 2);
        lua_setfield(L, -2, fname);
}

static int readonly_newindex(lua_State *L) {
        return luaL_error(L, "%s is read-only", lua_tostring(L, lua_upvalueindex(1)));
}

static int readonly_next(lua_State *L) {
        luaL_checktype(L, 1, LUA_TTABLE);
        lua_settop(L, 2);
        if (lua_next(L, 1))
                return 2;
        lua_pushnil(L);
        return 1;
}

static int readonly_pairs(lua_State *L) {
        lua_pushcfunction(L, readonly_next);
        lua_pushvalue(L, lua_upvalueindex(1));
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

static const char *const allowed_base[] = {
        "assert",   "error",  "ipairs",   "next",     "pairs",        "pcall",
        "xpcall",   "select", "tonumber", "tostring", "type",         "getmetatable",
        "rawequal", "rawget", "rawset",   "rawlen",   "setmetatable", "_VERSION",
};

static const char *const libraries[] = {"table", "math", "utf8", "coroutine"};

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
        /* string: a copy without dump, pattern functions guarded; it is also what
         * string values index, and their metatable is hidden */
        copy_library(L, LUA_STRLIBNAME);
        lua_pushnil(L);
        lua_setfield(L, -2, "dump");
        wrap_pattern_function(L, "find", true);
        wrap_pattern_function(L, "match", false);
        wrap_pattern_function(L, "gmatch", false);
        wrap_pattern_function(L, "gsub", false);
        lua_pushliteral(L, "");
        lua_getmetatable(L, -1);
        lua_pushvalue(L, -3);
        lua_setfield(L, -2, "__index");
        lua_pushliteral(L, "string");
        lua_setfield(L, -2, "__metatable");
        lua_pop(L, 2);
        lua_setfield(L, 1, LUA_STRLIBNAME);

        lua_getglobal(L, "setmetatable");
        lua_pushcclosure(L, safe_setmetatable, 1);
        lua_setfield(L, 1, "setmetatable");
        lua_pushcfunction(L, safe_print);
        lua_setfield(L, 1, "print");
        lua_pushcfunction(L, safe_load);
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
                     void *owner) {
        lua_State *L;

        memset(sb, 0, sizeof(*sb));
        sb->name = name;
        sb->mem_limit = mem_limit;
        sb->budget = budget;
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
        lua_sethook(L, NULL, 0, 0);
        return 0;
}

void rc__sandbox_close(struct rc__sandbox *sb) {
        if (!sb->L)
                return;
        /* finalizers run now: they get a budget like any callback */
        arm(sb);
        lua_close(sb->L);
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
        lua_sethook(L, NULL, 0, 0);
        if (r == LUA_OK) {
                lua_remove(L, base);
                return 0;
        }
        /* the traceback handler made it a string (lua_tostring of anything else
         * could allocate, unprotected) */
        snprintf(err, err_len, "%s",
                 r == LUA_ERRMEM                  ? "not enough memory"
                 : lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1)
                                                  : "error (no message)");
        lua_settop(L, base - 1);
        if (sb->killed)
                return -EINTR;
        return r == LUA_ERRMEM ? -ENOMEM : -EINVAL;
}
