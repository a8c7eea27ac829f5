/* The hub object (hub/hub.h) against the BlueZ stand-in on a private bus
 * (tests/rc_standin.h, tests/bluez-standin/README.md).
 *
 * The hub runs in this process on its own libuv loop, as `rollcoach run` runs it:
 * a simulated roller is streamed "over the air" by the stand-in, and the session
 * rules of docs/headless.md ("Sessions") are checked against each scenario's own
 * timeline: a session starts when the roller takes a load (not when it connects),
 * ends after idle_minutes without rolling, on a long press, when the roller is
 * gone for roller_grace_seconds, on a plugin's coach.stop (completion) or when
 * the hub stops; a load starts the next session only after 10 s off the roller.
 * Faults: a roller that refuses its first connections, a link that drops.
 *
 * The hub's own words are read back from its actions output (plugin "hub", the
 * keys docs/headless.md lists), with their times on the session clock, which
 * follows the data's device time (the stand-in plays the trace faster than real
 * time), so the scenario's timeline is the ground truth. Every wait is on a
 * condition, with a generous timeout. */
#include "rc_test.h"

#include <signal.h>
#include <errno.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <uv.h>

#include "hub/hub.h"
#include "rc_standin.h"
#include "sim/sim.h"
#include "util/log.h"

#define ROLLER "C4:7F:51:0A:20:01"

/* ---- scenarios ----------------------------------------------------------------- */

/* rests 2 s, then rolls loaded 2–5 s, then rests (unloaded) */
static const char scn_load[] = "# rollcoach-scenario 1\n"
                               "seed 5\n"
                               "roller r " ROLLER "\n"
                               "r: rest 2\nr: roll 2.5 3 force=280\nr: rest 40\n";

/* session 1 from the load at 2 s, idle after 5 s (idle_minutes 0.05 = 3 s: ends
 * by ~10 s); a load at 14–16 s, under 10 s after that end: no session; 12 s off
 * the roller; a load at 28 s starts session 2 */
static const char scn_rearm[] = "# rollcoach-scenario 1\n"
                                "seed 6\n"
                                "roller r " ROLLER "\n"
                                "r: rest 2\nr: roll 2.5 3 force=280\nr: rest 9\n"
                                "r: roll 2.5 2 force=280\nr: rest 12\n"
                                "r: roll 2.5 3 force=280\nr: rest 30\n";

/* a load at 2 s, then a long press of the roller's button at 4 s */
static const char scn_long_press[] = "# rollcoach-scenario 1\n"
                                     "seed 7\n"
                                     "roller r " ROLLER "\n"
                                     "r: rest 2\nr: roll 2.5 2 force=280\nr: press long\n"
                                     "r: roll 2.5 2 force=280\nr: rest 30\n";

/* a load at 2 s, then a 4 s hold (the plugin below stops the session at it) */
static const char scn_hold[] = "# rollcoach-scenario 1\n"
                               "seed 8\n"
                               "roller r " ROLLER "\n"
                               "r: rest 2\nr: roll 2.5 3 force=280\nr: hold 4 force=280\n"
                               "r: rest 30\n";

static const char stopper_lua[] = "coach.plugin{ api = 1, name = \"stopper\" }\n"
                                  "coach.on(\"hold_start\", function(ev)\n"
                                  "  coach.stop(\"complete\")\n"
                                  "end)\n";

static char tmpdir[64];

static void write_file(const char *path, const char *text) {
        FILE *f = fopen(path, "w");

        assert_non_null(f);
        assert_int_equal(fputs(text, f) >= 0, 1);
        assert_int_equal(fclose(f), 0);
}

/* The scenario's trace into tmpdir/NAME.trace. */
static void write_trace(const char *scn, const char *name, char *path, size_t len) {
        struct rc_sim *sim;
        FILE *f;

        snprintf(path, len, "%s/%s.trace", tmpdir, name);
        f = fopen(path, "w");
        assert_non_null(f);
        assert_int_equal(rc_sim_new_from_string(scn, strlen(scn), name, &sim), 0);
        assert_int_equal(rc_sim_write_trace(sim, f), 0);
        rc_sim_free(sim);
        assert_int_equal(fclose(f), 0);
}

static int group_setup(void **state) {
        (void)state;
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/rc-hub-XXXXXX");
        return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state) {
        char cmd[128];

        (void)state;
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        return system(cmd) == 0 ? 0 : -1;
}

/* ---- the hub on a loop ------------------------------------------------------------ */

struct run {
        uv_loop_t loop;
        struct rc_hub *h;
        struct rc_standin si;
        bool stopped; /* on_stop was called */
        bool (*until)(struct run *);
        uint64_t deadline;
        char actions[128];
};

static uint64_t now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void on_stop(void *userdata) {
        ((struct run *)userdata)->stopped = true;
}

/* The options every test starts from: the stand-in's bus, no voice, no LEDs, no
 * button, no plugins, the hub's actions to a file, nothing from the user's home. */
static void default_opts(struct run *R, struct rc_hub_opts *o, const char *name) {
        memset(o, 0, sizeof(*o));
        o->loop = &R->loop;
        o->command = "test";
        rc_config_defaults(&o->config);
        o->config.voice.output = RC_VOICE_OFF;
        o->config.leds.backend = RC_LEDS_OFF;
        o->config.button.enabled = false;
        o->config.plugins.state_dir[0] = '\0';
        snprintf(o->config.session.routine, sizeof(o->config.session.routine), "none");
        rc_session_cli_init(&o->cli);
        o->cli.no_plugins = true;
        o->cli.quiet = true;
        snprintf(R->actions, sizeof(R->actions), "%s/%s.actions", tmpdir, name);
        o->cli.actions_path = R->actions;
        o->gateway.bus_address = R->si.address;
        o->on_stop = on_stop;
        o->userdata = R;
}

/* The bus, the stand-in playing `trace` with these extra arguments (NULL-ended). */
#define standin_up(R, trace, ...)                                                                  \
        do {                                                                                       \
                assert_int_equal(rc_standin_bus_start(&(R)->si), 0);                               \
                assert_int_equal(rc_standin_start(&(R)->si, trace, __VA_ARGS__), 0);               \
        } while (0)

static void hub_start(struct run *R, const struct rc_hub_opts *o) {
        assert_int_equal(uv_loop_init(&R->loop), 0);
        assert_int_equal(rc_hub_new(o, &R->h), 0);
        assert_non_null(R->h);
}

static void on_check(uv_timer_t *t) {
        struct run *R = t->data;

        if ((R->until && R->until(R)) || now_ms() > R->deadline)
                uv_stop(&R->loop);
}

/* Run the loop until `until` says so; false on a timeout. */
static bool run_until(struct run *R, bool (*until)(struct run *), unsigned timeout_ms) {
        uv_timer_t t;
        bool ok;

        R->until = until;
        R->deadline = now_ms() + timeout_ms;
        uv_timer_init(&R->loop, &t);
        t.data = R;
        uv_timer_start(&t, on_check, 20, 20);
        uv_run(&R->loop, UV_RUN_DEFAULT);
        ok = until(R);
        uv_close((uv_handle_t *)&t, NULL);
        uv_run(&R->loop, UV_RUN_NOWAIT);
        if (!ok)
                rc_standin_dump_log(&R->si);
        return ok;
}

static struct rc_hub_stats stats(struct run *R) {
        struct rc_hub_stats st;

        rc_hub_stats(R->h, &st);
        return st;
}

static bool roller_connected(struct run *R) {
        return stats(R).devices_connected >= 1;
}

static bool in_session(struct run *R) {
        return stats(R).in_session;
}

static bool session_over(struct run *R) {
        struct rc_hub_stats st = stats(R);

        return st.sessions >= 1 && !st.in_session;
}

static bool two_sessions(struct run *R) {
        return stats(R).sessions >= 2;
}

static bool stopped(struct run *R) {
        return R->stopped;
}

/* Stop the hub, let the loop run out (everything the hub has is closed), check
 * why the last session ended, free it (its outputs written), the stand-in down. */
static void hub_end(struct run *R, const char *last_end) {
        struct rc_hub_stats st;

        rc_hub_stop(R->h, "the test is over");
        assert_true(run_until(R, stopped, 15000));
        uv_run(&R->loop, UV_RUN_DEFAULT); /* returns once every handle is closed */
        rc_hub_stats(R->h, &st);
        assert_true(st.stopping);
        assert_false(st.in_session);
        assert_string_equal(st.last_end, last_end);
        assert_int_equal(rc_hub_free(R->h), 0);
        R->h = NULL;
        assert_int_equal(uv_loop_close(&R->loop), 0);
        rc_standin_stop(&R->si);
}

/* ---- what the hub said (its actions output) -------------------------------------------- */

#define MAX_SAID 32

struct said {
        unsigned n;
        char key[MAX_SAID][64];
        int64_t t_ms[MAX_SAID];
};

/* The hub's own say actions, in order. */
static void read_said(const struct run *R, struct said *s) {
        FILE *f = fopen(R->actions, "r");
        char line[2048];

        memset(s, 0, sizeof(*s));
        assert_non_null(f);
        while (fgets(line, sizeof(line), f)) {
                cJSON *j = cJSON_Parse(line);
                const cJSON *plugin = cJSON_GetObjectItem(j, "plugin");
                const cJSON *key = cJSON_GetObjectItem(j, "key");
                const cJSON *t = cJSON_GetObjectItem(j, "t_ms");

                assert_non_null(j);
                if (cJSON_IsString(plugin) && !strcmp(plugin->valuestring, "hub") &&
                    cJSON_IsString(key) && cJSON_IsNumber(t) && s->n < MAX_SAID) {
                        snprintf(s->key[s->n], sizeof(s->key[0]), "%s", key->valuestring);
                        s->t_ms[s->n++] = (int64_t)t->valuedouble;
                }
                cJSON_Delete(j);
        }
        fclose(f);
}

/* The i-th time (0-based) the hub said `key`, its session-clock ms; -1 if not. */
static int64_t said_at(const struct said *s, const char *key, unsigned i) {
        for (unsigned k = 0; k < s->n; k++)
                if (!strcmp(s->key[k], key) && i-- == 0)
                        return s->t_ms[k];
        return -1;
}

static unsigned said_count(const struct said *s, const char *key) {
        unsigned n = 0;

        for (unsigned k = 0; k < s->n; k++)
                n += !strcmp(s->key[k], key);
        return n;
}

/* ---- lifecycle ----------------------------------------------------------------------- */

/* new → the roller connects → a session starts when it takes a load (at 2 s of the
 * trace, not at the connection) → the hub stops: the session ends ("stopped",
 * goodbye said) → everything closed and freed (ASan: no leaks). */
static void test_lifecycle(void **state) {
        struct run R = {0};
        struct rc_hub_opts o;
        struct rc_hub_stats st;
        struct said said;
        char trace[128];

        (void)state;
        write_trace(scn_load, "lifecycle", trace, sizeof(trace));
        standin_up(&R, trace, "--speed", "2", "--disconnect-delay", "0", NULL);
        default_opts(&R, &o, "lifecycle");
        hub_start(&R, &o);
        st = stats(&R);
        assert_int_equal(st.sessions, 0);
        assert_true(st.armed); /* a first load may start one */
        assert_true(run_until(&R, roller_connected, 15000));
        assert_true(run_until(&R, in_session, 30000));
        st = stats(&R);
        assert_int_equal(st.sessions, 1);
        assert_int_equal(st.gateway.connects, 1);
        hub_end(&R, "stopped");

        read_said(&R, &said);
        assert_int_equal(said_count(&said, "cue.hub.session_start"), 1);
        /* the load begins at 2 s of the trace, played at 2× from the subscription
         * (after the hub's start): at least 1 s after it, on a clock never slower
         * than real time; a start on the connection would be well before */
        assert_true(said_at(&said, "cue.hub.session_start", 0) >= 1000);
        assert_int_equal(said_count(&said, "info.hub.stopping"), 1);
}

/* A hub that cannot start (no bus there) says so and leaves nothing behind. */
static void test_no_bus(void **state) {
        struct run R = {0};
        struct rc_hub_opts o;
        char bus[160];

        (void)state;
        snprintf(bus, sizeof(bus), "unix:path=%s/no-such-bus", tmpdir);
        default_opts(&R, &o, "nobus");
        o.gateway.bus_address = bus;
        assert_int_equal(uv_loop_init(&R.loop), 0);
        R.h = (struct rc_hub *)&R; /* must be cleared */
        assert_int_equal(rc_hub_new(&o, &R.h), RC_EXIT_FAILURE);
        assert_null(R.h);
        assert_int_equal(uv_loop_close(&R.loop), 0); /* nothing left on the loop */
}

/* ---- the session state machine ----------------------------------------------------------- */

/* idle_minutes without rolling ends the session; back in standby a load starts
 * the next one only after 10 s off the roller (docs/headless.md). */
static void test_idle_then_rearm(void **state) {
        struct run R = {0};
        struct rc_hub_opts o;
        struct said said;
        char trace[128];
        int64_t first, idle, second;

        (void)state;
        write_trace(scn_rearm, "rearm", trace, sizeof(trace));
        standin_up(&R, trace, "--speed", "2", "--disconnect-delay", "0", NULL);
        default_opts(&R, &o, "rearm");
        o.config.session.idle_minutes = 0.05; /* 3 s */
        hub_start(&R, &o);
        assert_true(run_until(&R, session_over, 60000));
        assert_string_equal(stats(&R).last_end, "idle");
        assert_false(stats(&R).armed); /* just off the roller */
        assert_true(run_until(&R, two_sessions, 90000));
        hub_end(&R, "stopped");

        read_said(&R, &said);
        first = said_at(&said, "cue.hub.session_start", 0);
        idle = said_at(&said, "info.hub.session_idle", 0);
        second = said_at(&said, "cue.hub.session_start", 1);
        assert_true(first >= 1000);
        /* idle: at least idle_minutes after the last activity, itself after the start */
        assert_true(idle - first >= 3000);
        /* the load at 14–16 s came under 10 s after that end: it did not start a
         * session; the one at 28 s (12 s off the roller) did. Either way the next
         * start is 10 s off the roller after a load that came after the idle end. */
        assert_true(second - idle >= 10000);
        assert_int_equal(said_count(&said, "cue.hub.session_start"), 2);
}

/* With a shorter re-arm time (an option), the load at 14 s starts session 2. */
static void test_rearm_option(void **state) {
        struct run R = {0};
        struct rc_hub_opts o;
        struct said said;
        char trace[128];
        int64_t second;

        (void)state;
        write_trace(scn_rearm, "rearm2", trace, sizeof(trace));
        standin_up(&R, trace, "--speed", "2", "--disconnect-delay", "0", NULL);
        default_opts(&R, &o, "rearm2");
        o.config.session.idle_minutes = 0.05;
        o.rearm_ms = 1000;
        hub_start(&R, &o);
        assert_true(run_until(&R, two_sessions, 90000));
        hub_end(&R, "stopped");
        read_said(&R, &said);
        /* the load at 14 s of the trace, under 10 s after the idle end */
        second = said_at(&said, "cue.hub.session_start", 1);
        assert_true(second - said_at(&said, "info.hub.session_idle", 0) < 10000);
        assert_true(second - said_at(&said, "info.hub.session_idle", 0) >= 1000);
}

/* A long press of the roller's button ends the session (a pain stop): the hub
 * adds nothing to it (docs/headless.md: safety.pain_stop is the last word). */
static void test_long_press(void **state) {
        struct run R = {0};
        struct rc_hub_opts o;
        struct said said;
        char trace[128];

        (void)state;
        write_trace(scn_long_press, "press", trace, sizeof(trace));
        standin_up(&R, trace, "--speed", "2", "--disconnect-delay", "0", NULL);
        default_opts(&R, &o, "press");
        hub_start(&R, &o);
        assert_true(run_until(&R, session_over, 60000));
        assert_string_equal(stats(&R).last_end, "long_press");
        assert_int_equal(stats(&R).sessions, 1);
        hub_end(&R, "long_press"); /* no session to stop */
        read_said(&R, &said);
        assert_int_equal(said_count(&said, "cue.hub.session_start"), 1);
        assert_int_equal(said_count(&said, "info.hub.session_idle"), 0);
        assert_int_equal(said_count(&said, "warn.hub.roller_left"), 0);
}

/* [session] auto = no: a load does not start a session, a short press of the
 * hub's button does; a long press of it ends it. */
static void test_presses_without_auto(void **state) {
        struct run R = {0};
        struct rc_hub_opts o;
        char trace[128];

        (void)state;
        write_trace(scn_load, "noauto", trace, sizeof(trace));
        standin_up(&R, trace, "--speed", "2", "--disconnect-delay", "0", NULL);
        default_opts(&R, &o, "noauto");
        o.config.session.auto_start = false;
        hub_start(&R, &o);
        assert_true(run_until(&R, roller_connected, 15000));
        rc_hub_press(R.h, RC_PRESS_SHORT);
        assert_true(stats(&R).in_session);
        assert_int_equal(stats(&R).sessions, 1);
        rc_hub_press(R.h, RC_PRESS_LONG);
        assert_false(stats(&R).in_session);
        assert_string_equal(stats(&R).last_end, "long_press");
        hub_end(&R, "long_press");
}

/* A plugin's coach.stop("complete") ends the session (completion). */
static void test_completion(void **state) {
        struct run R = {0};
        struct rc_hub_opts o;
        char trace[128], dir[128], lua[192];

        (void)state;
        write_trace(scn_hold, "complete", trace, sizeof(trace));
        snprintf(dir, sizeof(dir), "%s/plugins", tmpdir);
        assert_int_equal(mkdir(dir, 0755), 0);
        snprintf(lua, sizeof(lua), "%s/stopper.lua", dir);
        write_file(lua, stopper_lua);
        standin_up(&R, trace, "--speed", "2", "--disconnect-delay", "0", NULL);
        default_opts(&R, &o, "complete");
        o.cli.no_plugins = false;
        o.cli.dirs[0] = dir;
        o.cli.n_dirs = 1;
        hub_start(&R, &o);
        assert_true(run_until(&R, session_over, 60000));
        assert_string_equal(stats(&R).last_end, "complete");
        hub_end(&R, "complete");
}

/* ---- faults ------------------------------------------------------------------------ */

/* The roller's link drops in a session and it does not come back (its connects
 * refused): after roller_grace_seconds the session ends, the hub says so. */
static void test_roller_left(void **state) {
        struct run R = {0};
        struct rc_hub_opts o;
        struct said said;
        char trace[128];

        (void)state;
        write_trace(scn_load, "left", trace, sizeof(trace));
        standin_up(&R, trace, "--speed", "2", "--disconnect-delay", "0", NULL);
        default_opts(&R, &o, "left");
        o.config.session.roller_grace_seconds = 0.5;
        hub_start(&R, &o);
        assert_true(run_until(&R, in_session, 30000));
        assert_int_equal(rc_standin_call(&R.si, "RefuseConnects", "su", ROLLER, 1000), 0);
        assert_int_equal(rc_standin_call(&R.si, "DropLink", "s", ROLLER), 0);
        assert_true(run_until(&R, session_over, 15000));
        assert_string_equal(stats(&R).last_end, "roller_left");
        assert_int_equal(stats(&R).devices_connected, 0);
        hub_end(&R, "roller_left");
        read_said(&R, &said);
        assert_int_equal(said_count(&said, "warn.hub.roller_left"), 1);
}

/* The link drops and the roller comes back within the grace: the session goes on. */
static bool reconnected(struct run *R) {
        struct rc_hub_stats st = stats(R);

        return st.gateway.connects >= 2 && st.devices_connected == 1;
}

static void test_roller_back_in_grace(void **state) {
        struct run R = {0};
        struct rc_hub_opts o;
        char trace[128];

        (void)state;
        write_trace(scn_load, "back", trace, sizeof(trace));
        standin_up(&R, trace, "--speed", "2", "--disconnect-delay", "0", NULL);
        default_opts(&R, &o, "back");
        o.config.session.roller_grace_seconds = 600; /* far more than any reconnection */
        hub_start(&R, &o);
        assert_true(run_until(&R, in_session, 30000));
        assert_int_equal(rc_standin_call(&R.si, "DropLink", "s", ROLLER), 0);
        assert_true(run_until(&R, reconnected, 15000));
        assert_true(stats(&R).in_session);
        assert_int_equal(stats(&R).sessions, 1);
        hub_end(&R, "stopped");
}

/* A roller that refuses its first two connections: the hub keeps trying, and the
 * session starts on its load once it is connected. */
static void test_refused_connects(void **state) {
        struct run R = {0};
        struct rc_hub_opts o;
        char trace[128];

        (void)state;
        write_trace(scn_load, "refused", trace, sizeof(trace));
        standin_up(&R, trace, "--speed", "2", "--disconnect-delay", "0", NULL);
        assert_int_equal(rc_standin_call(&R.si, "RefuseConnects", "su", ROLLER, 2), 0);
        default_opts(&R, &o, "refused");
        hub_start(&R, &o);
        assert_true(run_until(&R, in_session, 30000));
        assert_int_equal(stats(&R).gateway.connect_failures, 2);
        assert_int_equal(stats(&R).gateway.connects, 1);
        hub_end(&R, "stopped");
}

int main(int argc, char **argv) {
        signal(SIGPIPE, SIG_IGN); /* as rollcoach run does (the voice's aplay pipe) */
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_lifecycle),
                cmocka_unit_test(test_no_bus),
                cmocka_unit_test(test_idle_then_rearm),
                cmocka_unit_test(test_rearm_option),
                cmocka_unit_test(test_long_press),
                cmocka_unit_test(test_presses_without_auto),
                cmocka_unit_test(test_completion),
                cmocka_unit_test(test_roller_left),
                cmocka_unit_test(test_roller_back_in_grace),
                cmocka_unit_test(test_refused_connects),
        };

        if (argc > 1)
                cmocka_set_test_filter(argv[1]);
        rc_log_set_max_level(getenv("RC_TEST_VERBOSE") ? RC_LOG_DEBUG : RC_LOG_ERR);
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
