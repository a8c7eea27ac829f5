/* The coaching engine and its sandbox (core/engine, docs/plugins.md).
 *
 * Each escape attempt runs in its own test: a hostile plugin beside a witness
 * plugin, over a short simulated session (roll, hold, roll, short press). The
 * attempt must fail; the witness must see every event and act; the session's
 * events must be the same as without the hostile plugin. Then the API itself:
 * timers on the session clock, say dedupe and the pain-stop silence, routines
 * and steps, API levels, store and history, hot reload. */
#include "rc_test.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "analysis/session.h"
#include "engine/engine.h"
#include "outputs/jsonl.h"
#include "replay/replay.h"
#include "sim/sim.h"
#include "util/log.h"

/* ---- a short session ------------------------------------------------------------- */

/* 0–3 s rest, 3–8 s roll at 2.5 cm/s, 8–14 s hold, 14–18 s roll, short press at 18 s,
 * rest to 20 s. Hold start expected at 10 s (2 s after the stop). */
static const char scenario[] = "# rollcoach-scenario 1\n"
                               "seed 5\n"
                               "roller r AA:BB:CC:00:00:01\n"
                               "r: rest 3\nr: roll 2.5 5 force=280\nr: hold 6 force=280\n"
                               "r: roll 2.5 4 force=280\nr: press short\nr: rest 2\n";

/* The same session ended by a long press (a pain stop) during the hold at 11 s. */
static const char scenario_long[] = "# rollcoach-scenario 1\n"
                                    "seed 5\n"
                                    "roller r AA:BB:CC:00:00:01\n"
                                    "r: rest 3\nr: roll 2.5 5 force=280\nr: hold 3 force=280\n"
                                    "r: press long\nr: hold 3 force=280\nr: rest 2\n";

static char *trace_text, *long_trace_text;
static size_t trace_len, long_trace_len;

static int make_trace(const char *scn, char **ret, size_t *ret_len) {
        struct rc_sim *sim;
        FILE *f = open_memstream(ret, ret_len);

        if (!f || rc_sim_new_from_string(scn, strlen(scn), "engine-test", &sim) < 0)
                return -1;
        if (rc_sim_write_trace(sim, f) < 0)
                return -1;
        rc_sim_free(sim);
        return fclose(f);
}

static int group_setup(void **state) {
        (void)state;
        if (make_trace(scenario, &trace_text, &trace_len) < 0)
                return -1;
        return make_trace(scenario_long, &long_trace_text, &long_trace_len);
}

static int group_teardown(void **state) {
        (void)state;
        free(trace_text);
        free(long_trace_text);
        return 0;
}

/* ---- plugin directories ------------------------------------------------------------- */

static char dir[64];

static void make_dir(void) {
        snprintf(dir, sizeof(dir), "/tmp/rc-engine-XXXXXX");
        assert_non_null(mkdtemp(dir));
}

static void write_plugin(const char *name, const char *src) {
        char path[256];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s.lua", dir, name);
        f = fopen(path, "w");
        assert_non_null(f);
        fputs(src, f);
        fclose(f);
}

static void remove_dir(void) {
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        assert_int_equal(system(cmd), 0);
}

/* Sees every event; at the end says how many of each kind it saw. */
static const char witness[] =
        "coach.plugin{api = 1, name = 'witness'}\n"
        "local n = {}\n"
        "for _, e in ipairs{'session_start','device','motion','hold_start','hold_end',"
        "'button','battery','session_end'} do\n"
        "  n[e] = 0\n"
        "  coach.on(e, function(ev) n[e] = n[e] + 1 end)\n"
        "end\n"
        "coach.on('hold_start', function() coach.say('cue.witness_hold', 'hold') end)\n"
        "coach.on('session_end', function()\n"
        "  coach.say('info.witness', string.format('motion=%d hold=%d button=%d', n.motion,\n"
        "    n.hold_start, n.button))\n"
        "end)\n";

/* ---- running a session ------------------------------------------------------------- */

#define MAX_ACTIONS 256
#define MAX_LOGS 256

struct run {
        struct rc_action actions[MAX_ACTIONS];
        char keys[MAX_ACTIONS][64], texts[MAX_ACTIONS][256], plugins[MAX_ACTIONS][64];
        unsigned n_actions;
        char logs[MAX_LOGS][512];
        unsigned n_logs;
        uint64_t events[RC_EV__COUNT];
        char *events_json;
        struct rc_engine_stats stats;
        struct rc_engine_plugin_info info[8];
        unsigned n_plugins;
};

static struct run run;

static void on_action(const struct rc_action *a, void *userdata) {
        struct run *r = userdata;
        unsigned i = r->n_actions;

        if (i >= MAX_ACTIONS)
                return;
        r->actions[i] = *a;
        snprintf(r->plugins[i], sizeof(r->plugins[i]), "%s", a->plugin ? a->plugin : "");
        if (a->kind == RC_ACTION_SAY) {
                snprintf(r->keys[i], sizeof(r->keys[i]), "%s", a->say.key);
                snprintf(r->texts[i], sizeof(r->texts[i]), "%s", a->say.text);
        } else if (a->kind == RC_ACTION_STEP) {
                snprintf(r->keys[i], sizeof(r->keys[i]), "step:%s", a->step.step);
        } else if (a->kind == RC_ACTION_PLUGIN) {
                snprintf(r->keys[i], sizeof(r->keys[i]), "plugin:%s", a->plugin_state.state);
                snprintf(r->texts[i], sizeof(r->texts[i]), "%s",
                         a->plugin_state.reason ? a->plugin_state.reason : "");
        }
        r->n_actions++;
}

static void on_log(enum rc_log_level level, const char *msg, void *userdata) {
        struct run *r = userdata;

        (void)level;
        if (r->n_logs < MAX_LOGS)
                snprintf(r->logs[r->n_logs++], sizeof(r->logs[0]), "%s", msg);
}

struct options {
        const char *routine, *step, *state_dir;
        int64_t wall_start_s;
        unsigned conditions;
        /* called when the session's clock passes `at_ms`, e.g. to reload a plugin */
        void (*at)(struct rc_engine *e);
        int64_t at_ms;
        bool long_press;       /* replay the session that a long press ends */
        unsigned callback_ms;  /* 0: 10 s (see run_session) */
        uint64_t instructions; /* 0: the default budget */
};

struct advance_ctx {
        struct rc_engine *e;
        const struct options *o;
        bool done;
};

static void advance(int64_t t_ms, void *userdata) {
        struct advance_ctx *c = userdata;

        if (c->o->at && !c->done && t_ms >= c->o->at_ms) {
                c->done = true;
                c->o->at(c->e);
        }
        rc_engine_advance(c->e, t_ms);
}

/* Load every plugin of `dir` (if load_dir) and replay the short session. Returns
 * what rc_engine_attach returned. */
static int run_session(const struct options *o, bool load_dir) {
        struct rc_engine_opts eo = {.n_dirs = 1, .dirs = {dir}};
        struct rc_session *s = malloc(sizeof(*s));
        struct rc_replay_opts ro = {0};
        struct advance_ctx ctx = {.o = o};
        struct rc_engine *e;
        FILE *in, *out;
        size_t len;
        struct rc_jsonl_writer w = {0};
        int r;

        free(run.events_json); /* of the previous session, if any */
        memset(&run, 0, sizeof(run));
        rc_log_set_sink(on_log, &run);
        eo.profile =
                (struct rc_profile){.height_cm = 170, .weight_kg = 70, .conditions = o->conditions};
        eo.state_dir = o->state_dir;
        eo.wall_start_s = o->wall_start_s;
        /* the time limit is a backstop (test_time_limit): here the deterministic
         * budget must stop every attack, also on a loaded machine */
        eo.callback_ms = o->callback_ms ? o->callback_ms : 10000;
        eo.instructions = o->instructions;
        assert_int_equal(rc_engine_new(&eo, &e), 0);
        if (load_dir)
                rc_engine_load_all(e);
        rc_engine_add_sink(e, on_action, &run);
        rc_session_init(s);
        w.f = out = open_memstream(&run.events_json, &len);
        rc_session_subscribe(s, rc_jsonl_write_event, &w);
        r = rc_engine_attach(e, s, o->routine, o->step);
        if (r == 0) {
                ctx.e = e;
                ro.routine = o->routine;
                ro.step = o->step;
                ro.advance = advance;
                ro.userdata = &ctx;
                in = o->long_press ? fmemopen(long_trace_text, long_trace_len, "r")
                                   : fmemopen(trace_text, trace_len, "r");
                assert_int_equal(rc_replay_run(in, "engine-test", s, &ro, NULL), 0);
                fclose(in);
        }
        memcpy(run.events, s->bus.emitted, sizeof(run.events));
        rc_engine_stats(e, &run.stats);
        for (unsigned i = 0; i < 8 && rc_engine_plugin_info(e, i, &run.info[i]) == 0; i++)
                run.n_plugins = i + 1;
        rc_engine_free(e);
        fclose(out);
        free(s);
        rc_log_set_sink(NULL, NULL);
        return r;
}

static const struct rc_engine_plugin_info *plugin(const char *name) {
        for (unsigned i = 0; i < run.n_plugins; i++)
                if (strcmp(run.info[i].name, name) == 0)
                        return &run.info[i];
        return NULL;
}

/* The index of the first action said with this key, or -1. */
static int said(const char *key) {
        for (unsigned i = 0; i < run.n_actions; i++)
                if (strcmp(run.keys[i], key) == 0)
                        return (int)i;
        return -1;
}

static unsigned count_said(const char *key) {
        unsigned n = 0;

        for (unsigned i = 0; i < run.n_actions; i++)
                n += strcmp(run.keys[i], key) == 0;
        return n;
}

static bool logged(const char *needle) {
        for (unsigned i = 0; i < run.n_logs; i++)
                if (strstr(run.logs[i], needle))
                        return true;
        return false;
}

/* The events of the session with the witness alone, to compare against. */
static char *baseline_events;

/* The witness saw everything the session emitted and said so; the events are
 * exactly those of the session without the hostile plugin. */
static void expect_witness_unharmed(void) {
        int i = said("info.witness");
        char want[128];

        assert_true(i >= 0);
        snprintf(want, sizeof(want), "motion=%llu hold=%llu button=%llu",
                 (unsigned long long)run.events[RC_EV_MOTION],
                 (unsigned long long)run.events[RC_EV_HOLD_START],
                 (unsigned long long)run.events[RC_EV_BUTTON]);
        assert_string_equal(run.texts[i], want);
        assert_true(run.events[RC_EV_MOTION] > 100);
        assert_int_equal(run.events[RC_EV_HOLD_START], 1);
        assert_int_equal(run.events[RC_EV_BUTTON], 1);
        assert_true(plugin("witness")->enabled);
        assert_int_equal(plugin("witness")->failures, 0);
        assert_string_equal(run.events_json, baseline_events);
}

static int compute_baseline(void **state) {
        (void)state;
        make_dir();
        write_plugin("witness", witness);
        if (run_session(&(struct options){0}, true) != 0)
                return -1;
        remove_dir();
        baseline_events = strdup(run.events_json);
        free(run.events_json);
        run.events_json = NULL;
        return 0;
}

/* Run the hostile plugin `src` beside the witness. */
static void hostile(const char *src) {
        make_dir();
        write_plugin("witness", witness);
        write_plugin("hostile", src);
        assert_int_equal(run_session(&(struct options){0}, true), 0);
        remove_dir();
}

static void finish(void) {
        free(run.events_json);
        run.events_json = NULL;
}

/* ---- escape attempts -------------------------------------------------------------- */

/* A hostile plugin reports each attempt's outcome with info.result: "blocked" when
 * the attempt raised an error or came back empty. */
#define ATTEMPT(code)                                                                              \
        "coach.plugin{api = 1, name = 'hostile'}\n"                                                \
        "coach.on('session_start', function()\n"                                                   \
        "  local ok, r = pcall(function() " code " end)\n"                                         \
        "  coach.say('info.result', (ok and r) and ('escaped: ' .. tostring(r)) or 'blocked')\n"   \
        "end)\n"

static void expect_blocked(void) {
        int i = said("info.result");

        assert_true(i >= 0);
        assert_string_equal(run.texts[i], "blocked");
        expect_witness_unharmed();
        finish();
}

static void test_io_open(void **state) {
        (void)state;
        unlink("/tmp/rc-escaped-io");
        hostile(ATTEMPT("return io.open('/tmp/rc-escaped-io', 'w')"));
        assert_int_equal(access("/tmp/rc-escaped-io", F_OK), -1);
        expect_blocked();
}

static void test_os_execute(void **state) {
        (void)state;
        unlink("/tmp/rc-escaped-os");
        hostile(ATTEMPT("return os.execute('touch /tmp/rc-escaped-os')"));
        assert_int_equal(access("/tmp/rc-escaped-os", F_OK), -1);
        expect_blocked();
        /* the safe os has the session clock and nothing else */
        hostile(ATTEMPT("return os.getenv or os.remove or os.exit or os.rename"));
        expect_blocked();
}

/* A real Lua 5.4 binary chunk of `src`, made here with a full Lua state. */
struct bytes {
        char *p;
        size_t n;
};

static int dump_writer(lua_State *L, const void *p, size_t sz, void *ud) {
        struct bytes *b = ud;

        (void)L;
        b->p = realloc(b->p, b->n + sz);
        memcpy(b->p + b->n, p, sz);
        b->n += sz;
        return 0;
}

static struct bytes binary_chunk(const char *src) {
        lua_State *L = luaL_newstate();
        struct bytes b = {0};

        assert_int_equal(luaL_loadstring(L, src), LUA_OK);
        lua_dump(L, dump_writer, &b, 0);
        lua_close(L);
        return b;
}

static char *binary_chunk_literal(void) {
        struct bytes b = binary_chunk("return 'escaped'");
        char *lit = malloc(b.n * 4 + 1);

        for (size_t i = 0; i < b.n; i++)
                sprintf(lit + 4 * i, "\\%03u", (unsigned char)b.p[i]);
        free(b.p);
        return lit;
}

static void test_binary_chunk(void **state) {
        char *lit = binary_chunk_literal(), src[8192];

        (void)state;
        assert_true(strlen(lit) < 4000);
        snprintf(src, sizeof(src),
                 ATTEMPT("local f = load('%s'); return f and f() or load('%s', 'x', 'b')"), lit,
                 lit);
        hostile(src);
        expect_blocked();
        free(lit);
}

static void test_binary_plugin_file(void **state) {
        struct bytes b = binary_chunk("coach.plugin{api = 1}");
        char path[256];
        FILE *f;

        (void)state;
        make_dir();
        write_plugin("witness", witness);
        snprintf(path, sizeof(path), "%s/binary.lua", dir);
        f = fopen(path, "wb");
        fwrite(b.p, 1, b.n, f);
        fclose(f);
        free(b.p);
        assert_int_equal(run_session(&(struct options){0}, true), 0);
        remove_dir();
        assert_null(plugin("binary"));
        assert_true(logged("binary chunk"));
        expect_witness_unharmed();
        finish();
}

static void test_string_dump(void **state) {
        (void)state;
        hostile(ATTEMPT("return string.dump(function() end)"));
        expect_blocked();
        hostile(ATTEMPT("return ('').dump"));
        expect_blocked();
}

static void test_debug(void **state) {
        (void)state;
        hostile(ATTEMPT("return debug.getinfo(1)"));
        expect_blocked();
        hostile(ATTEMPT("return debug.sethook()"));
        expect_blocked();
}

static void test_package_loadlib(void **state) {
        (void)state;
        hostile(ATTEMPT("return package.loadlib('/lib/x86_64-linux-gnu/libc.so.6', 'system')"));
        expect_blocked();
}

static void test_require_c_module(void **state) {
        (void)state;
        hostile(ATTEMPT("return require('lfs')"));
        expect_blocked();
        /* nor through a chunk loaded without an environment */
        hostile(ATTEMPT("return load('return require or io or dofile or loadfile')()"));
        expect_blocked();
}

static void test_change_coach(void **state) {
        (void)state;
        hostile(ATTEMPT("coach.say = function() end; return true"));
        expect_blocked();
        hostile(ATTEMPT("rawset(coach, 'say', print); return true"));
        expect_blocked();
        hostile(ATTEMPT("return getmetatable(coach)"));
        expect_blocked();
        hostile(ATTEMPT("coach.profile.weight_kg = 1; return true"));
        expect_blocked();
        hostile(ATTEMPT("coach.profile.conditions.pregnancy = true; return true"));
        expect_blocked();
        hostile(ATTEMPT("getmetatable('').__index = {}; return true"));
        expect_blocked();
        /* a plugin's globals are its own: the witness never sees them */
        hostile("coach.plugin{api = 1, name = 'hostile'}\n"
                "print = nil; pairs = nil; string.format = nil; shared = 'x'\n");
        expect_witness_unharmed();
        finish();
}

static void test_infinite_loop(void **state) {
        (void)state;
        hostile("coach.plugin{api = 1, name = 'hostile'}\n"
                "coach.on('motion', function() while true do end end)\n");
        /* a callback killed for its budget held the loop: disabled at once */
        assert_false(plugin("hostile")->enabled);
        assert_int_equal(plugin("hostile")->failures, 1);
        assert_true(logged("instructions in one callback"));
        assert_true(said("plugin:disabled") >= 0);
        expect_witness_unharmed();
        finish();
}

static void test_infinite_loop_in_pcall(void **state) {
        (void)state;
        hostile("coach.plugin{api = 1, name = 'hostile'}\n"
                "coach.on('motion', function()\n"
                "  while true do pcall(function() while true do end end) end\n"
                "end)\n");
        assert_false(plugin("hostile")->enabled);
        assert_true(logged("instruction"));
        expect_witness_unharmed();
        finish();
        /* error() cannot swallow it either, nor a coroutine */
        hostile("coach.plugin{api = 1, name = 'hostile'}\n"
                "coach.on('motion', function()\n"
                "  while true do\n"
                "    local co = coroutine.wrap(function() while true do end end)\n"
                "    pcall(co); xpcall(function() while true do end end, function() end)\n"
                "  end\n"
                "end)\n");
        assert_false(plugin("hostile")->enabled);
        expect_witness_unharmed();
        finish();
}

static void test_memory_bomb(void **state) {
        (void)state;
        hostile("coach.plugin{api = 1, name = 'hostile'}\n"
                "local t, base = {}, string.rep('x', 1000):rep(2000)\n"
                "coach.on('motion', function()\n"
                "  while true do t[#t + 1] = base .. #t end\n"
                "end)\n");
        assert_false(plugin("hostile")->enabled);
        assert_true(logged("not enough memory"));
        assert_true(plugin("hostile")->memory <= 8u << 20);
        expect_witness_unharmed();
        finish();
        hostile(ATTEMPT("return string.rep('x', 1e10)"));
        expect_blocked();
}

static void test_timer_bomb(void **state) {
        (void)state;
        hostile("coach.plugin{api = 1, name = 'hostile'}\n"
                "coach.on('session_start', function()\n"
                "  for i = 1, 1000000 do coach.after(1, function() end) end\n"
                "end)\n");
        assert_true(logged("too many timers"));
        expect_witness_unharmed();
        finish();
        /* a chain of timers that re-arm for "now", and a tight period */
        hostile("coach.plugin{api = 1, name = 'hostile'}\n"
                "local function again() coach.after(0, again) end\n"
                "coach.on('session_start', function() again(); coach.every(1, again) end)\n");
        assert_true(logged("coach.every"));
        expect_witness_unharmed();
        finish();
}

static void test_error_in_every_callback(void **state) {
        (void)state;
        hostile("coach.plugin{api = 1, name = 'hostile'}\n"
                "for _, e in ipairs{'session_start','device','motion','hold_start','hold_end',"
                "'button','battery','session_end'} do\n"
                "  coach.on(e, function() error('broken ' .. e) end)\n"
                "end\n"
                "coach.after(1, function() error('broken timer') end)\n");
        assert_false(plugin("hostile")->enabled);
        assert_int_equal(plugin("hostile")->failures, 5);
        /* with the plugin's name and a traceback */
        assert_true(logged("plugin hostile: "));
        assert_true(logged("broken session_start"));
        assert_true(logged("stack traceback"));
        expect_witness_unharmed();
        finish();
}

static void test_costly_pattern(void **state) {
        (void)state;
        hostile(ATTEMPT("return string.find(string.rep('a', 5000), string.rep('a-', 30) .. 'b')"));
        expect_blocked();
}

static void test_finalizer_loop(void **state) {
        (void)state;
        /* finalizers run under a budget too, also when the plugin is unloaded */
        hostile("coach.plugin{api = 1, name = 'hostile'}\n"
                "for i = 1, 100 do setmetatable({}, {__gc = function() while true do end end})"
                " end\n");
        expect_witness_unharmed();
        finish();
}

/* ---- tests/hostile: one attack a file ------------------------------------------------ */

static int lua_file(const struct dirent *d) {
        size_t n = strlen(d->d_name);

        return n > 4 && strcmp(d->d_name + n - 4, ".lua") == 0;
}

static char *read_all(const char *path) {
        FILE *f = fopen(path, "r");
        char *buf = NULL;
        size_t cap = 0;
        ssize_t n;

        assert_non_null(f);
        n = getdelim(&buf, &cap, '\0', f);
        assert_true(n > 0);
        fclose(f);
        return buf;
}

/* Every .lua file of tests/hostile beside the witness: the hostile plugin ends disabled,
 * never says info.escaped (what it does when its attack got through), and the
 * witness saw everything and spoke. */
static void test_hostile_folder(void **state) {
        struct dirent **list;
        int n = scandir(RC_SOURCE_DIR "/tests/hostile", &list, lua_file, alphasort);

        (void)state;
        assert_true(n >= 20);
        for (int i = 0; i < n; i++) {
                char path[512];
                char *src;

                snprintf(path, sizeof(path), RC_SOURCE_DIR "/tests/hostile/%s", list[i]->d_name);
                src = read_all(path);
                print_message("hostile: %s\n", list[i]->d_name);
                hostile(src);
                free(src);
                for (unsigned k = 0; !plugin("hostile") && k < run.n_logs; k++)
                        print_message("log: %s\n", run.logs[k]);
                assert_non_null(plugin("hostile"));
                if (plugin("hostile")->enabled || said("info.escaped") >= 0)
                        fail_msg("%s: not stopped (enabled %d, escaped %d)", list[i]->d_name,
                                 plugin("hostile")->enabled, said("info.escaped") >= 0);
                expect_witness_unharmed();
                finish();
                free(list[i]);
        }
        free(list);
}

/* The flood of tests/hostile/say_flood.lua: what passes is the burst plus the
 * rate over the session (docs/plugins.md, "Limits"); the rest is counted and
 * reported once. */
static void test_rate_limits(void **state) {
        char *src = read_all(RC_SOURCE_DIR "/tests/hostile/say_flood.lua");
        unsigned says = 0, leds = 0, warnings = 0;

        (void)state;
        hostile(src);
        free(src);
        for (unsigned i = 0; i < run.n_actions; i++) {
                if (strcmp(run.plugins[i], "hostile") != 0)
                        continue;
                says += run.actions[i].kind == RC_ACTION_SAY;
                leds += run.actions[i].kind == RC_ACTION_LED;
        }
        for (unsigned i = 0; i < run.n_logs; i++)
                warnings += strstr(run.logs[i], "dropped and counted") != NULL;
        /* the flood runs in the first motion callback (it is killed there): the
         * session clock does not move within it, so the bursts are all it gets */
        assert_int_equal(says, 10);
        assert_int_equal(leds, 20);
        assert_int_equal(warnings, 3); /* says, LEDs, log lines: once each */
        assert_true(run.stats.rate_limited > 100);
        assert_false(plugin("hostile")->enabled);
        expect_witness_unharmed();
        finish();
}

/* The time limit stops what the budget would not (a budget too big to matter):
 * an endless loop is stopped and its plugin disabled. */
static void test_time_limit(void **state) {
        (void)state;
        make_dir();
        write_plugin("witness", witness);
        write_plugin("hostile", "coach.plugin{api = 1, name = 'hostile'}\n"
                                "coach.on('motion', function() while true do end end)\n");
        assert_int_equal(
                run_session(&(struct options){.callback_ms = 50, .instructions = UINT64_MAX / 2},
                            true),
                0);
        remove_dir();
        assert_false(plugin("hostile")->enabled);
        assert_int_equal(plugin("hostile")->failures, 1);
        assert_true(logged("ran for more than 50 ms in one callback"));
        expect_witness_unharmed();
        finish();
}

/* A syntax error is reported as file:line: message, without the loader's
 * traceback. */
static void test_syntax_error(void **state) {
        (void)state;
        make_dir();
        write_plugin("witness", witness);
        write_plugin("broken", "coach.plugin{api = 1}\n\nlocal x = = 1\n");
        assert_int_equal(run_session(&(struct options){0}, true), 0);
        remove_dir();
        assert_null(plugin("broken"));
        assert_true(logged("broken.lua:3:"));
        assert_true(logged("unexpected symbol"));
        assert_false(logged("stack traceback"));
        finish();
}

/* ---- the API ----------------------------------------------------------------------- */

static void test_api_level(void **state) {
        (void)state;
        make_dir();
        write_plugin("witness", witness);
        write_plugin("future", "coach.plugin{api = 2}\n");
        write_plugin("undeclared", "coach.on('motion', function() end)\n");
        write_plugin("silent", "local x = 1\n");
        write_plugin("syntax", "coach.plugin{api = 1\n");
        assert_int_equal(run_session(&(struct options){0}, true), 0);
        remove_dir();
        assert_null(plugin("future"));
        assert_true(logged("needs plugin API level 2, but this hub offers level 1"));
        assert_null(plugin("undeclared"));
        assert_true(logged("call coach.plugin{api = 1} before anything else"));
        assert_null(plugin("silent"));
        assert_true(logged("never declared itself"));
        assert_null(plugin("syntax"));
        assert_true(logged("syntax.lua:"));
        expect_witness_unharmed();
        finish();
}

/* Timers run on the session clock: the trace's, not the wall's. */
static void test_timers(void **state) {
        (void)state;
        make_dir();
        write_plugin("timers",
                     "coach.plugin{api = 1}\n"
                     "local ticks = 0\n"
                     "coach.on('session_start', function()\n"
                     "  coach.after(2500, function() coach.say('info.after', 'a') end)\n"
                     "  local h = coach.after(3000, function() coach.say('info.x', 'x') end)\n"
                     "  h:cancel(); h:cancel()\n"
                     "  local e\n"
                     "  e = coach.every(1000, function()\n"
                     "    ticks = ticks + 1\n"
                     "    coach.say('info.tick' .. ticks, 't')\n"
                     "    if ticks == 5 then e:cancel() end\n"
                     "  end)\n"
                     "end)\n");
        assert_int_equal(run_session(&(struct options){0}, true), 0);
        remove_dir();
        assert_true(said("info.after") >= 0);
        assert_int_equal(run.actions[said("info.after")].t_ms, 2500);
        assert_int_equal(said("info.x"), -1);
        for (int k = 1; k <= 5; k++) {
                char key[32];

                snprintf(key, sizeof(key), "info.tick%d", k);
                assert_true(said(key) >= 0);
                assert_int_equal(run.actions[said(key)].t_ms, 1000 * k);
        }
        assert_int_equal(said("info.tick6"), -1);
        finish();
}

static void test_say_dedupe_and_priority(void **state) {
        (void)state;
        make_dir();
        write_plugin("talker",
                     "coach.plugin{api = 1}\n"
                     "coach.on('motion', function() coach.say('warn.test', 'again') end)\n"
                     "coach.on('session_start', function()\n"
                     "  coach.say('cue.a', 'x'); coach.say('other.b', 'y', {priority = 'safety'})\n"
                     "  coach.say('safety.c', 'z')\n"
                     "  coach.say('cue.u', 'one'); coach.say('cue.u', 'two')\n"
                     "  coach.say('cue.u', 'two')\n"
                     "end)\n");
        assert_int_equal(run_session(&(struct options){0}, true), 0);
        remove_dir();
        /* motion for ~15 s of the 20 s session, at 10 Hz: said once per 8 s window */
        assert_in_range(count_said("warn.test"), 2, 3);
        assert_true(run.stats.suppressed_says > 100);
        /* a new text under a key is an update, said; the same text again is not */
        assert_int_equal(count_said("cue.u"), 2);
        assert_int_equal(run.actions[said("cue.a")].say.priority, RC_PRIORITY_CUE);
        assert_int_equal(run.actions[said("other.b")].say.priority, RC_PRIORITY_SAFETY);
        assert_int_equal(run.actions[said("safety.c")].say.priority, RC_PRIORITY_SAFETY);
        assert_int_equal(run.actions[said("warn.test")].say.priority, RC_PRIORITY_WARNING);
        finish();
}

/* The pain stop is the hub's state, entered by a long press: a plugin saying the
 * key safety.pain_stop mutes nobody. */
static void test_pain_stop_is_not_a_key(void **state) {
        (void)state;
        make_dir();
        write_plugin("a", "coach.plugin{api = 1}\n"
                          "coach.on('hold_start', function()\n"
                          "  coach.say('safety.pain_stop', 'Stop now.'); coach.led('stop')\n"
                          "end)\n");
        write_plugin("b", "coach.plugin{api = 1}\n"
                          "coach.on('hold_end', function()\n"
                          "  coach.say('info.after', 'still here'); coach.led('ok')\n"
                          "end)\n");
        assert_int_equal(run_session(&(struct options){0}, true), 0);
        remove_dir();
        assert_true(said("safety.pain_stop") >= 0);
        assert_true(said("info.after") > said("safety.pain_stop"));
        assert_int_equal(run.stats.suppressed_says, 0);
        {
                bool ok_after = false;

                for (unsigned i = (unsigned)said("info.after"); i < run.n_actions; i++)
                        ok_after |= run.actions[i].kind == RC_ACTION_LED &&
                                    run.actions[i].led.pattern == RC_LED_OK;
                assert_true(ok_after);
        }
        finish();
}

/* A long press: the plugins hear it and only safety messages are said for it;
 * then nothing more (session_end says nothing), and the LEDs show stop only. */
static void test_pain_stop_silence(void **state) {
        (void)state;
        make_dir();
        write_plugin("a", "coach.plugin{api = 1}\n"
                          "coach.on('button', function(ev)\n"
                          "  coach.say('warn.a', 'not now'); coach.led('warn')\n"
                          "end)\n"
                          "coach.on('session_end', function()\n"
                          "  coach.say('info.bye', 'bye'); coach.led('ok')\n"
                          "end)\n");
        write_plugin("s", "coach.plugin{api = 1}\n"
                          "coach.on('button', function(ev)\n"
                          "  if ev.press ~= 'long' then return end\n"
                          "  coach.say('safety.why', 'Stopping now.'); coach.led('stop')\n"
                          "  coach.say('cue.later', 'not said')\n"
                          "end)\n");
        assert_int_equal(run_session(&(struct options){.long_press = true}, true), 0);
        remove_dir();
        assert_int_equal(run.events[RC_EV_BUTTON], 1);
        assert_true(said("safety.why") >= 0);
        assert_int_equal(said("warn.a"), -1);
        assert_int_equal(said("cue.later"), -1);
        assert_int_equal(said("info.bye"), -1);
        assert_int_equal(run.stats.suppressed_says, 3);
        for (unsigned i = 0; i < run.n_actions; i++)
                if (run.actions[i].kind == RC_ACTION_LED)
                        assert_int_equal(run.actions[i].led.pattern, RC_LED_STOP);
        finish();
}

static const char routine[] =
        "coach.plugin{api = 1, name = 'mini', routine = true, steps = {'one', 'two'}}\n"
        "local order = {'one', 'two'}\n"
        "local i\n"
        "local function start(k)\n"
        "  i = k\n"
        "  if k > #order then coach.step('done'); coach.stop('complete'); return end\n"
        "  coach.step(order[k], {direction = 'cranial'})\n"
        "end\n"
        "coach.on('session_start', function(ev)\n"
        "  start(ev.step == 'two' and 2 or 1)\n"
        "end)\n"
        "coach.on('button', function(ev) if ev.press == 'short' then start(i + 1) end end)\n"
        "coach.on('step', function(ev) coach.say('cue.seen_' .. ev.step, ev.step) end)\n";

static void test_routine_steps_and_stop(void **state) {
        (void)state;
        make_dir();
        write_plugin("mini", routine);
        write_plugin("other", "coach.plugin{api = 1}\n"
                              "coach.on('step', function(ev) coach.say('info.other_' .. ev.step,"
                              " ev.routine .. ':' .. (ev.direction or '-')) end)\n");
        assert_int_equal(run_session(&(struct options){.routine = "mini"}, true), 0);
        assert_true(said("step:one") >= 0);
        assert_true(said("cue.seen_one") >= 0); /* the routine sees its own step */
        assert_string_equal(run.texts[said("info.other_one")], "mini:cranial");
        /* the short press at 18 s advances to step two */
        assert_true(said("step:two") >= 0);
        assert_in_range(run.actions[said("step:two")].t_ms, 18000, 18200);
        assert_int_equal(said("step:done"), -1);
        /* --step starts there; a press past the last step ends the session */
        assert_int_equal(run_session(&(struct options){.routine = "mini", .step = "two"}, true), 0);
        assert_int_equal(said("step:one"), -1);
        assert_true(said("step:two") >= 0);
        assert_true(said("step:done") >= 0);
        assert_true(said("info.other_done") >= 0);
        /* coach.stop ended the session at the press, not at the end of the trace */
        assert_in_range(run.events[RC_EV_SESSION_END], 1, 1);
        assert_true(strstr(run.events_json, "\"reason\":\"complete\"") != NULL);
        /* unknown routine or step: refused, with the alternatives named */
        assert_int_equal(run_session(&(struct options){.routine = "nope"}, true), -ENOENT);
        assert_true(logged("routines: mini"));
        assert_int_equal(run_session(&(struct options){.routine = "mini", .step = "x"}, true),
                         -ENOENT);
        assert_true(logged("steps: one, two"));
        /* without --routine, a routine plugin hears nothing; the others do */
        assert_int_equal(run_session(&(struct options){0}, true), 0);
        assert_int_equal(said("step:one"), -1);
        remove_dir();
        finish();
}

static void test_profile_and_session(void **state) {
        (void)state;
        make_dir();
        write_plugin("p", "coach.plugin{api = 1}\n"
                          "coach.on('session_start', function()\n"
                          "  local c = {}\n"
                          "  for k in pairs(coach.profile.conditions) do c[#c + 1] = k end\n"
                          "  table.sort(c)\n"
                          "  coach.say('info.p', string.format('%g %g %s %g %s %s', "
                          "coach.profile.height_cm, coach.profile.weight_kg, coach.profile.level,"
                          " coach.profile.session_minutes, table.concat(c, ','), "
                          "tostring(coach.session.started)))\n"
                          "  coach.say('info.clock', os.time() .. ' ' .. os.clock() .. ' ' .. "
                          "coach.now() .. ' ' .. coach.api)\n"
                          "end)\n");
        assert_int_equal(run_session(&(struct options){.conditions = RC_COND_PREGNANCY |
                                                                     RC_COND_OSTEOPOROSIS,
                                                       .wall_start_s = 1700000000},
                                     true),
                         0);
        remove_dir();
        assert_string_equal(run.texts[said("info.p")],
                            "170 70 beginner 10 osteoporosis,pregnancy true");
        assert_string_equal(run.texts[said("info.clock")], "1700000000 0.0 0 1");
        finish();
}

static void test_store_and_history(void **state) {
        char state_dir[64] = "/tmp/rc-state-XXXXXX", cmd[128];
        const char *counter = "coach.plugin{api = 1, name = 'counter'}\n"
                              "coach.on('session_start', function()\n"
                              "  local n = (coach.store.get('sessions') or 0) + 1\n"
                              "  coach.store.set('sessions', n)\n"
                              "  coach.store.set('gone', nil)\n"
                              "  coach.say('info.count', tostring(n) .. ' ' .. "
                              "#coach.history.sessions(7) .. ' ' .. #coach.history.sessions(1))\n"
                              "end)\n";

        (void)state;
        assert_non_null(mkdtemp(state_dir));
        make_dir();
        write_plugin("counter", counter);
        /* three sessions, a day apart: the store counts them, history sees the past */
        for (int k = 0; k < 3; k++)
                assert_int_equal(
                        run_session(&(struct options){.state_dir = state_dir,
                                                      .wall_start_s = 1700000000 + k * 86400},
                                    true),
                        0);
        assert_string_equal(run.texts[said("info.count")], "3 2 1");
        /* a broken store file is reported and replaced by an empty store */
        snprintf(cmd, sizeof(cmd), "echo '[1,2' > %s/store/counter.json", state_dir);
        assert_int_equal(system(cmd), 0);
        assert_int_equal(run_session(&(struct options){.state_dir = state_dir,
                                                       .wall_start_s = 1700000000 + 3 * 86400},
                                     true),
                         0);
        assert_true(logged("not a valid store"));
        assert_string_equal(run.texts[said("info.count")], "1 3 1");
        /* the store is bounded */
        write_plugin("counter", "coach.plugin{api = 1, name = 'counter'}\n"
                                "coach.on('session_start', function()\n"
                                "  for i = 1, 100 do coach.store.set('k' .. i, i) end\n"
                                "end)\n");
        assert_int_equal(run_session(&(struct options){.state_dir = state_dir}, true), 0);
        assert_true(logged("the store is full"));
        remove_dir();
        snprintf(cmd, sizeof(cmd), "rm -rf %s", state_dir);
        assert_int_equal(system(cmd), 0);
        finish();
}

/* ---- hot reload --------------------------------------------------------------------- */

static void reload_broken(struct rc_engine *e) {
        char path[256];

        write_plugin("live", "coach.plugin{api = 1, name = 'live'\n"); /* a broken edit */
        snprintf(path, sizeof(path), "%s/live.lua", dir);
        assert_int_equal(rc_engine_reload(e, path), -EINVAL);
}

static void reload_good(struct rc_engine *e) {
        char path[256];

        write_plugin("live", "coach.plugin{api = 1, name = 'live'}\n"
                             "coach.on('session_start', function(ev)\n"
                             "  coach.say('info.v2_start', ev.step or 'none')\n"
                             "end)\n"
                             "coach.on('motion', function() coach.say('info.v2', 'v2') end)\n");
        snprintf(path, sizeof(path), "%s/live.lua", dir);
        assert_int_equal(rc_engine_reload(e, path), 0);
}

static const char live_v1[] =
        "coach.plugin{api = 1, name = 'live'}\n"
        "coach.on('motion', function() coach.say('info.v1', 'v1') end)\n"
        "coach.on('session_start', function()\n"
        "  coach.after(15000, function() coach.say('info.v1_timer', 't') end)\n"
        "end)\n";

static void test_hot_reload(void **state) {
        (void)state;
        make_dir();
        write_plugin("live", live_v1);
        write_plugin("witness", witness);
        /* a broken edit at 10 s: v1 goes on, and says why in the log */
        assert_int_equal(run_session(&(struct options){.at = reload_broken, .at_ms = 10000}, true),
                         0);
        assert_true(logged("reload failed; the running version goes on"));
        assert_true(count_said("info.v1") >= 2);
        assert_true(said("info.v1_timer") >= 0);
        /* a good one at 10 s: v2 from then on, v1's timer (due at 15 s) cancelled */
        write_plugin("live", live_v1);
        assert_int_equal(run_session(&(struct options){.at = reload_good, .at_ms = 10000}, true),
                         0);
        assert_true(said("plugin:reloaded") >= 0);
        assert_true(said("info.v2_start") >= 0);
        assert_in_range(run.actions[said("info.v2")].t_ms, 10000, 10200);
        for (unsigned i = 0; i < run.n_actions; i++)
                if (strcmp(run.keys[i], "info.v1") == 0)
                        assert_true(run.actions[i].t_ms < 10000);
        assert_int_equal(said("info.v1_timer"), -1);
        expect_witness_unharmed();
        remove_dir();
        finish();
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_io_open),
                cmocka_unit_test(test_os_execute),
                cmocka_unit_test(test_binary_chunk),
                cmocka_unit_test(test_binary_plugin_file),
                cmocka_unit_test(test_string_dump),
                cmocka_unit_test(test_debug),
                cmocka_unit_test(test_package_loadlib),
                cmocka_unit_test(test_require_c_module),
                cmocka_unit_test(test_change_coach),
                cmocka_unit_test(test_infinite_loop),
                cmocka_unit_test(test_infinite_loop_in_pcall),
                cmocka_unit_test(test_memory_bomb),
                cmocka_unit_test(test_timer_bomb),
                cmocka_unit_test(test_error_in_every_callback),
                cmocka_unit_test(test_costly_pattern),
                cmocka_unit_test(test_finalizer_loop),
                cmocka_unit_test(test_hostile_folder),
                cmocka_unit_test(test_rate_limits),
                cmocka_unit_test(test_time_limit),
                cmocka_unit_test(test_syntax_error),
                cmocka_unit_test(test_api_level),
                cmocka_unit_test(test_timers),
                cmocka_unit_test(test_say_dedupe_and_priority),
                cmocka_unit_test(test_pain_stop_is_not_a_key),
                cmocka_unit_test(test_pain_stop_silence),
                cmocka_unit_test(test_routine_steps_and_stop),
                cmocka_unit_test(test_profile_and_session),
                cmocka_unit_test(test_store_and_history),
                cmocka_unit_test(test_hot_reload),
        };
        int r;

        if (group_setup(NULL) != 0 || compute_baseline(NULL) != 0)
                return 1;
        r = cmocka_run_group_tests(tests, NULL, group_teardown);
        free(baseline_events);
        return r;
}
