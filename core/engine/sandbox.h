/* rollcoach — internal: one sandboxed Lua state (docs/plugins.md, "The sandbox").
 *
 * - Memory: a capped lua_Alloc that refuses growth past the cap and never
 *   refuses a shrink (Wikimedia's LuaSandbox).
 * - CPU: a count hook charges every instruction to the running callback's
 *   budget and reads CLOCK_MONOTONIC; past the budget or the time limit the
 *   callback is killed, and the hook is re-armed to fire on every instruction so
 *   that a pcall inside the plugin cannot swallow the kill (Redis). Library
 *   functions that loop in C, where the hook never fires (string.rep,
 *   table.move/concat/unpack/insert/remove/sort, pattern matching, utf8.*, load,
 *   ...), are wrapped: each is charged a bound on its work before it runs, in
 *   the same units as instructions, and refused if that bound exceeds the whole
 *   budget; large allocations are charged too. A message handler (xpcall) is not
 *   run for a killed callback (Lua runs it with hooks off when the error comes
 *   from the hook).
 * - Environment: only the allow-listed base functions and libraries; the
 *   state's global table *is* the sandbox environment, so `load` without an
 *   environment cannot reach anything else. No io, os (a safe session clock
 *   instead), debug, package/require, dofile/loadfile, binary chunks,
 *   string.dump, warn; collectgarbage("count") only.
 * - Every call in goes through rc__sandbox_call: a protected call with a
 *   traceback handler that never exits.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#define RC__SANDBOX_HOOK_STEP 1000 /* instructions between budget checks */
/* Work units: one is about one VM instruction. C loops over bytes are charged one
 * unit per RC__SANDBOX_BYTES_PER_UNIT bytes, other C loops one unit per step, a
 * call of the coach API RC__SANDBOX_API_UNITS (measured with bench_engine's
 * hostile plugins: a flood of coach.say ran 60 ms on 2M units at 1 a call). */
#define RC__SANDBOX_API_UNITS 100
#define RC__SANDBOX_BYTES_PER_UNIT 4
#define RC__SANDBOX_ERR_MAX 2048

struct rc__sandbox {
        lua_State *L;
        const char *name; /* for messages; owned by the caller */
        size_t mem, mem_limit;
        uint64_t budget, used;
        int64_t time_limit_ns;            /* per callback (wall time, see over_time) */
        int64_t deadline_ns, cpu_mark_ns; /* of the running callback (over_time) */
        bool armed, killed;
        char kill_reason[96];
        /* the session clock, for os.time/os.clock (set by the owner) */
        int64_t now_ms;
        int64_t wall_start_s;
        void *owner; /* the owner's pointer (a plugin), found from any thread */
};

/* Create the state and its environment; each callback may run `budget` work units
 * and `time_ms` of wall time (both are needed to kill it: see sandbox.c). Returns 0
 * or -ENOMEM. */
int rc__sandbox_open(struct rc__sandbox *sb, const char *name, size_t mem_limit, uint64_t budget,
                     unsigned time_ms, void *owner);
void rc__sandbox_close(struct rc__sandbox *sb);

/* The sandbox a state (or any of its threads) belongs to. */
struct rc__sandbox *rc__sandbox_of(lua_State *L);

/* Charge `units` of work to the running callback (from a C function of the
 * plugin's). Raises the kill error when the budget or the time limit is past. */
void rc__sandbox_charge(lua_State *L, double units);

/* Give the running callback a fresh budget and time (once, after compiling a
 * plugin file: the parser runs in C, bounded by the file size cap). */
void rc__sandbox_restart(struct rc__sandbox *sb);

/* Call the function below `nargs` arguments on the stack with a fresh budget, in
 * protected mode, dropping its results. Returns 0, or -EINTR (killed for the
 * budget or the time limit), -ENOMEM (out of its memory) or -EINVAL (an error), with a message and
 * traceback in err. The stack is back to what it was below the function. */
int rc__sandbox_call(struct rc__sandbox *sb, int nargs, char *err, size_t err_len);

/* Push a read-only view of the table at `idx`: a userdata whose __index reads the
 * table, whose __newindex raises an error, whose __pairs iterates the table, and
 * whose metatable is hidden. Nested tables are not wrapped (wrap them first). */
void rc__sandbox_push_readonly(lua_State *L, int idx, const char *what);
