/* The shipped coaching plugins (plugins/) over simulated sessions.
 *
 * Each test simulates a scenario of scripts/scenarios/ into a trace in memory,
 * loads the shipped plugins into an engine, attaches it to a session and replays
 * the trace on virtual time (as `rollcoach replay` does), collecting every
 * action. Expected keys and times are worked out here from the scenario's
 * timeline and physics and from the guidance the plugins follow
 * (docs/spec/coaching.md), not read off the program's output:
 *
 * - the lumbar drift of the thoracic step fires safety.lumbar before the roller
 *   reaches the lumbar spine, later for a taller user; the control session that
 *   stays above the start never does;
 * - warn.too_fast: the demo's one 15 cm/s pass and fast rolling do, slow rolling
 *   at 2.5 cm/s never;
 * - holds: cue.hold_target 30 s after the roller came to rest, warn.hold_long at
 *   90 s, cue.breathe during a hold and when the heart rate rises;
 * - a long press: safety.pain_stop, then silence; the session ends there;
 * - a beginner's 12-minute free session: warn.session_long at 10 minutes;
 * - a profile with contraindications: safety.clearance and an adapted routine;
 * - pressure by region and body weight;
 * - the same results over a bad link (5 % corrupted, 2 % lost packets);
 * - byte-identical replays; --step; short presses and the step time; a
 *   roller without a load cell;
 * - the breathing reset and its HRV report; the week's sessions;
 * - the example plugin of docs/plugins.md, loaded as it is printed there. */
#include "rc_test.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analysis/session.h"
#include "config/config.h"
#include "engine/engine.h"
#include "replay/replay.h"
#include "sim/sim.h"
#include "util/log.h"

#define PLUGIN_DIR RC_SOURCE_DIR "/plugins"

/* ---- collected actions ----------------------------------------------------------------- */

struct act {
        enum rc_action_kind kind;
        int64_t t_ms;
        char plugin[RC_ENGINE_NAME_MAX + 1];
        char key[64];   /* say */
        char text[600]; /* say */
        enum rc_priority priority;
        enum rc_led_pattern led;
        char step[64];   /* step: the step id; session: the routine */
        char reason[32]; /* session end */
        bool started;    /* session */
};

struct acts {
        struct act *a;
        size_t n, cap;
        struct rc_engine_stats stats;
        unsigned plugins_loaded;
};

static void copy(char *dst, size_t len, const char *src) {
        snprintf(dst, len, "%s", src ? src : "");
}

static void collect(const struct rc_action *a, void *userdata) {
        struct acts *L = userdata;
        struct act *x;

        if (L->n == L->cap) {
                L->cap = L->cap ? 2 * L->cap : 256;
                L->a = realloc(L->a, L->cap * sizeof(*L->a));
                assert_non_null(L->a);
        }
        x = &L->a[L->n++];
        memset(x, 0, sizeof(*x));
        x->kind = a->kind;
        x->t_ms = a->t_ms;
        copy(x->plugin, sizeof(x->plugin), a->plugin);
        switch (a->kind) {
        case RC_ACTION_SAY:
                copy(x->key, sizeof(x->key), a->say.key);
                copy(x->text, sizeof(x->text), a->say.text);
                x->priority = a->say.priority;
                break;
        case RC_ACTION_LED:
                x->led = a->led.pattern;
                break;
        case RC_ACTION_STEP:
                copy(x->step, sizeof(x->step), a->step.step);
                break;
        case RC_ACTION_SESSION:
                x->started = a->session.started;
                copy(x->step, sizeof(x->step), a->session.routine);
                copy(x->reason, sizeof(x->reason), a->session.reason);
                break;
        case RC_ACTION_PLUGIN:
                copy(x->reason, sizeof(x->reason), a->plugin_state.state);
                break;
        }
}

static void acts_free(struct acts *L) {
        free(L->a);
        memset(L, 0, sizeof(*L));
}

/* Every action as one line of text, for byte-for-byte comparisons. */
static char *acts_dump(const struct acts *L) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        assert_non_null(f);
        for (size_t i = 0; i < L->n; i++) {
                const struct act *x = &L->a[i];

                fprintf(f, "%lld %d %s|%s|%s|%d|%d|%s|%s|%d\n", (long long)x->t_ms, x->kind,
                        x->plugin, x->key, x->text, x->priority, x->led, x->step, x->reason,
                        x->started);
        }
        fclose(f);
        return buf;
}

/* The says of `key`: how many, and the time of the first (or -1). */
static size_t count_key(const struct acts *L, const char *key) {
        size_t n = 0;

        for (size_t i = 0; i < L->n; i++)
                n += L->a[i].kind == RC_ACTION_SAY && strcmp(L->a[i].key, key) == 0;
        return n;
}

static const struct act *nth_key(const struct acts *L, const char *key, size_t nth) {
        for (size_t i = 0; i < L->n; i++)
                if (L->a[i].kind == RC_ACTION_SAY && strcmp(L->a[i].key, key) == 0 && nth-- == 0)
                        return &L->a[i];
        return NULL;
}

/* The text of the nth say of `key` ("" if there is none: the caller's checks fail). */
static const char *text_of(const struct acts *L, const char *key, size_t nth) {
        const struct act *x = nth_key(L, key, nth);

        if (!x)
                print_message("no %s number %zu\n", key, nth);
        return x ? x->text : "";
}

/* The time (s) of the nth say of `key`, or -1 if there is none. */
static double nth_s(const struct acts *L, const char *key, size_t nth) {
        const struct act *x = nth_key(L, key, nth);

        return x ? (double)x->t_ms / 1000.0 : -1.0;
}

static double first_s(const struct acts *L, const char *key) {
        return nth_s(L, key, 0);
}

/* The routine's steps, in order (RC_ACTION_STEP). */
static size_t steps_of(const struct acts *L, const struct act *out[], size_t max) {
        size_t n = 0;

        for (size_t i = 0; i < L->n && n < max; i++)
                if (L->a[i].kind == RC_ACTION_STEP)
                        out[n++] = &L->a[i];
        return n;
}

static const struct act *session_end_of(const struct acts *L) {
        for (size_t i = 0; i < L->n; i++)
                if (L->a[i].kind == RC_ACTION_SESSION && !L->a[i].started)
                        return &L->a[i];
        return NULL;
}

static void print_says(const struct acts *L) {
        for (size_t i = 0; i < L->n; i++)
                if (L->a[i].kind == RC_ACTION_SAY || L->a[i].kind == RC_ACTION_STEP)
                        print_message("  %9.3f %-20s %s\n", (double)L->a[i].t_ms / 1000.0,
                                      L->a[i].kind == RC_ACTION_STEP ? "(step)" : L->a[i].key,
                                      L->a[i].kind == RC_ACTION_STEP ? L->a[i].step : L->a[i].text);
}

/* ---- scenarios and runs ----------------------------------------------------------------- */

static char *read_file(const char *path, size_t *ret_len) {
        FILE *f = fopen(path, "r");
        char *buf;
        long n;

        assert_non_null(f);
        assert_int_equal(fseek(f, 0, SEEK_END), 0);
        n = ftell(f);
        assert_true(n >= 0);
        rewind(f);
        buf = malloc((size_t)n + 1);
        assert_non_null(buf);
        assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
        buf[n] = '\0';
        fclose(f);
        if (ret_len)
                *ret_len = (size_t)n;
        return buf;
}

static char *scenario_text(const char *name) {
        char path[512];

        snprintf(path, sizeof(path), "%s/scripts/scenarios/%s.scn", RC_SOURCE_DIR, name);
        return read_file(path, NULL);
}

/* Replace the first `from` in `s` by `to` (a new string; `from` must be there). */
static char *replace(const char *s, const char *from, const char *to) {
        const char *p = strstr(s, from);
        size_t a, b, c;
        char *out;

        assert_non_null(p);
        a = (size_t)(p - s);
        b = strlen(to);
        c = strlen(p + strlen(from));
        out = malloc(a + b + c + 1);
        assert_non_null(out);
        memcpy(out, s, a);
        memcpy(out + a, to, b);
        memcpy(out + a + b, p + strlen(from), c + 1);
        return out;
}

/* The scenario (its text) as a trace in memory. */
static char *simulate(const char *text, size_t *ret_len) {
        struct rc_sim *sim;
        char *buf = NULL;
        FILE *f = open_memstream(&buf, ret_len);

        assert_non_null(f);
        assert_int_equal(rc_sim_new_from_string(text, strlen(text), "test.scn", &sim), 0);
        assert_int_equal(rc_sim_write_trace(sim, f), 0);
        rc_sim_free(sim);
        assert_int_equal(fclose(f), 0);
        return buf;
}

struct run {
        const char *routine, *step;
        struct rc_profile profile;
        const char *extra_dir; /* a second plugin directory, or NULL */
        const char *state_dir;
        int64_t wall_start_s;
};

static struct rc_profile profile_default(void) {
        struct rc_config c;

        rc_config_defaults(&c); /* 170 cm, 70 kg, beginner, no conditions */
        return c.profile;
}

static struct run run_default(const char *routine, const char *step) {
        struct run r = {.routine = routine, .step = step, .profile = profile_default()};

        return r;
}

/* Replay a trace through the shipped plugins; every action collected. */
static struct acts replay_trace(const char *trace, size_t len, const struct run *r) {
        struct rc_engine_opts eo = {.dirs = {PLUGIN_DIR}, .n_dirs = 1};
        struct rc_replay_opts ro = {
                .routine = r->routine, .step = r->step, .advance = rc_engine_advance_hook};
        struct rc_session *s = malloc(sizeof(*s));
        struct rc_replay_stats st;
        struct rc_engine *e;
        struct acts L = {0};
        FILE *in;
        int n;

        assert_non_null(s);
        eo.profile = r->profile;
        eo.state_dir = r->state_dir;
        eo.wall_start_s = r->wall_start_s;
        if (r->extra_dir)
                eo.dirs[eo.n_dirs++] = r->extra_dir;
        assert_int_equal(rc_engine_new(&eo, &e), 0);
        assert_int_equal(rc_engine_add_sink(e, collect, &L), 0);
        n = rc_engine_load_all(e);
        assert_true(n >= 4);
        L.plugins_loaded = (unsigned)n;
        rc_session_init(s);
        assert_int_equal(rc_engine_attach(e, s, r->routine, r->step), 0);
        ro.userdata = e;
        in = fmemopen((void *)trace, len, "r");
        assert_non_null(in);
        assert_int_equal(rc_replay_run(in, "test.trace", s, &ro, &st), 0);
        assert_int_equal(st.malformed, 0);
        fclose(in);
        rc_engine_stats(e, &L.stats);
        for (unsigned i = 0; i < rc_engine_plugin_count(e); i++) {
                struct rc_engine_plugin_info info;

                assert_int_equal(rc_engine_plugin_info(e, i, &info), 0);
                if (!info.enabled || info.failures)
                        fail_msg("plugin %s: %u failures%s", info.name, info.failures,
                                 info.enabled ? "" : ", disabled");
        }
        assert_int_equal(L.stats.errors, 0);
        rc_engine_free(e);
        free(s);
        return L;
}

/* Simulate the named scenario and replay it. */
static struct acts run_scenario(const char *name, const struct run *r) {
        char *text = scenario_text(name), *trace;
        size_t len;
        struct acts L;

        trace = simulate(text, &len);
        L = replay_trace(trace, len, r);
        free(trace);
        free(text);
        return L;
}

/* The demo trace is used by many tests: simulated once. */
static char *demo_trace;
static size_t demo_len;

static int group_setup(void **state) {
        char *text = scenario_text("demo-lower-back");

        (void)state;
        rc_log_set_max_level(RC_LOG_ERR); /* the demo's malformed packets are expected */
        demo_trace = simulate(text, &demo_len);
        free(text);
        return 0;
}

static int group_teardown(void **state) {
        (void)state;
        free(demo_trace);
        return 0;
}

static struct acts run_demo(const struct run *r) {
        return replay_trace(demo_trace, demo_len, r);
}

/* ---- the demo, step by step ----------------------------------------------------------- */

/* The demo's short presses (scripts/scenarios/demo-lower-back.scn, its comments),
 * in session seconds, to 0.1 s; each arrives 15-20 ms later (latency + jitter). */
static const double demo_press_s[9] = {54.5,  102.1, 145.5, 187.5, 235.7,
                                       282.9, 322.3, 358.3, 400.5};
static const char *const routine_steps[9] = {"glutes_left",      "glutes_right", "hip_flexor_left",
                                             "hip_flexor_right", "hamstrings",   "thoracic",
                                             "lats_left",        "lats_right",   "calves"};

static void test_shipped_plugins_load(void **state) {
        struct rc_engine_opts eo = {.dirs = {PLUGIN_DIR}, .n_dirs = 1};
        const char *const want[] = {"breathing", "lower-back-relief", "safety", "warnings"};
        struct rc_engine *e;

        (void)state;
        eo.profile = profile_default();
        assert_int_equal(rc_engine_new(&eo, &e), 0);
        assert_int_equal(rc_engine_load_all(e), 4);
        for (size_t i = 0; i < 4; i++) {
                struct rc_engine_plugin_info info;
                int k = rc_engine_find(e, want[i]);

                assert_true(k >= 0);
                assert_int_equal(rc_engine_plugin_info(e, (unsigned)k, &info), 0);
                assert_true(info.enabled);
                assert_int_equal(info.routine, strcmp(want[i], "lower-back-relief") == 0);
        }
        rc_engine_free(e);
}

/* Short presses advance the routine: a step at the session start, then one at
 * every press, "done" at the last; every step has its cue. */
static void test_demo_steps_follow_presses(void **state) {
        struct run r = run_default("lower-back-relief", NULL);
        struct acts L = run_demo(&r);
        const struct act *st[16];
        size_t n = steps_of(&L, st, 16);

        (void)state;
        if (n != 10)
                print_says(&L);
        assert_int_equal(n, 10);
        assert_string_equal(st[0]->step, "glutes_left");
        assert_int_equal(st[0]->t_ms, 0);
        for (size_t i = 1; i < 10; i++) {
                assert_string_equal(st[i]->step, i < 9 ? routine_steps[i] : "done");
                assert_near((double)st[i]->t_ms / 1000.0, demo_press_s[i - 1], 0.1);
        }
        /* a cue for each of the nine steps, said when the step starts */
        assert_int_equal(count_key(&L, "cue.step"), 9);
        for (size_t i = 0; i < 9; i++)
                assert_near(nth_s(&L, "cue.step", i), (double)st[i]->t_ms / 1000.0, 0);
        /* the thoracic cue says where to start and which way to roll */
        assert_non_null(strstr(text_of(&L, "cue.step", 5), "bra-strap"));
        assert_non_null(strstr(text_of(&L, "cue.step", 5), "neck first"));
        acts_free(&L);
}

/* The demo's warnings, from its physics:
 * - the hamstring pass at 15 cm/s runs 205.3..207.8 s; the core's 1-s mean speed
 *   passes 3 x 2.54 cm/s about 0.6 s in, so warn.too_fast falls inside the pass,
 *   once; all the other rolling is at 2-3 cm/s;
 * - thoracic: the roller, 13 cm up toward the neck, is back at the start at
 *   254.7 s and goes on toward the feet at 2.5 cm/s, 20 cm past the start at
 *   262.7 s. For 170 cm the lumbar spine begins about 0.085 x 170 = 14.5 cm below
 *   the bra-strap line (safety.lua), reached at 254.7 + 14.5 / 2.5 = 260.5 s:
 *   the warning must come after the start is passed and before then; warned 3 cm
 *   (the roller's footprint) and 1.5 s of travel (3.75 cm) ahead, it is due when
 *   the roller is 7.7 cm below the start, at about 257.8 s;
 * - the loads are 0.22-0.51 of body weight, normal for each region: no
 *   warn.pressure; the session lasts 8 minutes: no warn.session_long; no hold
 *   passes 30 s before its step is moved on. */
static void test_demo_warnings(void **state) {
        struct run r = run_default("lower-back-relief", NULL);
        struct acts L = run_demo(&r);
        double t;

        (void)state;
        assert_int_equal(count_key(&L, "warn.too_fast"), 1);
        t = first_s(&L, "warn.too_fast");
        assert_true(t > 205.3 + 0.5 && t < 207.8);

        assert_int_equal(count_key(&L, "safety.lumbar"), 1);
        t = first_s(&L, "safety.lumbar");
        assert_true(t > 254.7 && t < 260.5);
        assert_near(t, 257.8, 0.8);
        assert_int_equal(nth_key(&L, "safety.lumbar", 0)->priority, RC_PRIORITY_SAFETY);

        assert_int_equal(count_key(&L, "warn.pressure"), 0);
        assert_int_equal(count_key(&L, "warn.jerky"), 0);
        assert_int_equal(count_key(&L, "warn.session_long"), 0);
        assert_int_equal(count_key(&L, "warn.hold_long"), 0);
        assert_int_equal(count_key(&L, "safety.clearance"), 0);
        assert_int_equal(count_key(&L, "safety.pain_stop"), 0);
        /* a breathing cue in the holds (10 s in), at most one every 45 s */
        assert_true(count_key(&L, "cue.breathe") >= 4);
        assert_near(first_s(&L, "cue.breathe"), 24.7 + 10, 0.5);
        acts_free(&L);
}

/* The breathing reset after the last step (400.5 s): belly-lift breathing, then
 * the 90/90 hip lift 40 s later, the HRV report and the end ("complete") 80 s in,
 * before the trace ends (483 s). The strap's breathing slows to 6 a minute with a
 * deeper RSA (25 -> 70 ms) from 403 s: RMSSD after the reset is higher. */
static void test_demo_breathing_reset(void **state) {
        struct run r = run_default("lower-back-relief", NULL);
        struct acts L = run_demo(&r);
        const struct act *end = session_end_of(&L), *hrv;
        const struct act *st[16];
        size_t n = steps_of(&L, st, 16);
        double done;
        int before, after;

        (void)state;
        assert_int_equal(n, 10);
        assert_string_equal(st[9]->step, "done");
        done = (double)st[9]->t_ms / 1000.0;
        assert_near(done, demo_press_s[8], 0.1);
        assert_near(first_s(&L, "cue.reset.belly_lift"), done, 0.05);
        assert_near(first_s(&L, "cue.reset.hip_lift"), done + 40, 0.05);
        assert_near(first_s(&L, "info.complete"), done + 80, 0.05);
        hrv = nth_key(&L, "info.hrv", 0);
        assert_non_null(hrv);
        assert_int_equal(sscanf(text_of(&L, "info.hrv", 0),
                                "Your heart-rate variability went from %d to %d", &before, &after),
                         2);
        assert_true(after > before);
        /* no pacing cue: the measured rate is about 6 a minute */
        assert_true(nth_s(&L, "cue.breathe", count_key(&L, "cue.breathe") - 1) < done);
        assert_non_null(end);
        assert_string_equal(end->reason, "complete");
        assert_near((double)end->t_ms / 1000.0, done + 80, 0.05);
        acts_free(&L);
}

/* ---- the lumbar spine -------------------------------------------------------------------- */

/* lumbar-drift.scn, started at the thoracic step: back at the start at 18.7 s,
 * then 20 cm on toward the feet at 2.5 cm/s. safety.lumbar must come after the
 * start is passed and before the roller reaches the lumbar spine, 0.085 x height
 * below the start; for a taller user, later by the extra distance at 2.5 cm/s.
 * The control session (control-above-start.scn) never goes below the start. */
static double lumbar_time(double height_cm) {
        struct run r = run_default("lower-back-relief", "thoracic");
        struct acts L;
        double t;

        r.profile.height_cm = height_cm;
        L = run_scenario("lumbar-drift", &r);
        assert_int_equal(count_key(&L, "safety.lumbar"), 1);
        t = first_s(&L, "safety.lumbar");
        assert_true(t > 18.7 && t < 18.7 + 0.085 * height_cm / 2.5);
        acts_free(&L);
        return t;
}

static void test_lumbar_drift(void **state) {
        double t170 = lumbar_time(170), t195 = lumbar_time(195), t150 = lumbar_time(150);

        (void)state;
        /* 3 cm footprint + 1.5 s x 2.5 cm/s ahead of 14.45 cm: 7.7 cm, at 21.8 s */
        assert_near(t170, 18.7 + (0.085 * 170 - 3 - 1.5 * 2.5) / 2.5, 0.5);
        /* 25 cm taller: 2.1 cm further, 0.85 s later; 20 cm shorter: 0.68 s earlier */
        assert_near(t195 - t170, 0.085 * 25 / 2.5, 0.3);
        assert_near(t170 - t150, 0.085 * 20 / 2.5, 0.3);
}

static void test_lumbar_control(void **state) {
        struct run r = run_default("lower-back-relief", "thoracic");
        struct acts L = run_scenario("control-above-start", &r);
        const struct act *st[4];

        (void)state;
        assert_int_equal(count_key(&L, "safety.lumbar"), 0);
        /* it was the thoracic step, ended by the press at 34.7 s */
        assert_int_equal(steps_of(&L, st, 4), 2);
        assert_string_equal(st[0]->step, "thoracic");
        assert_near((double)st[1]->t_ms / 1000.0, 34.7, 0.1);
        acts_free(&L);
        /* a short user too (the zone starts 12.8 cm below the start at 150 cm) */
        r.profile.height_cm = 150;
        L = run_scenario("control-above-start", &r);
        assert_int_equal(count_key(&L, "safety.lumbar"), 0);
        acts_free(&L);
}

/* A free session (no steps): no lumbar rule on travel (the roller's place on the
 * spine is unknown), a reminder when the user lies back on a loaded roller. */
static void test_lumbar_free_session(void **state) {
        struct run r = run_default(NULL, NULL);
        struct acts L = run_scenario("lumbar-drift", &r);

        (void)state;
        assert_int_equal(count_key(&L, "safety.lumbar"), 0);
        assert_int_equal(count_key(&L, "cue.back_position"), 1);
        /* supine from the start; the roller takes the load at 8 s */
        assert_near(first_s(&L, "cue.back_position"), 8.0, 0.6);
        acts_free(&L);
}

/* ---- speed -------------------------------------------------------------------------- */

static void test_slow_rolling_is_quiet(void **state) {
        struct run r = run_default(NULL, NULL);
        struct acts L = run_scenario("slow-rolling", &r);

        (void)state;
        assert_int_equal(count_key(&L, "warn.too_fast"), 0);
        assert_int_equal(count_key(&L, "warn.jerky"), 0);
        acts_free(&L);
}

/* fast-rolling.scn: 15 cm/s from 6 s (ramp 0.2 s) for 30 cm, then back and forth
 * at 12-15 cm/s. The 1-s mean passes 7.5 cm/s about 0.6 s in: one warning in the
 * first pass (6..8.1 s), not repeated while the rolling stays fast (under 30 s). */
static void test_fast_rolling_warns(void **state) {
        struct run r = run_default(NULL, NULL);
        struct acts L = run_scenario("fast-rolling", &r);
        double t = first_s(&L, "warn.too_fast");

        (void)state;
        assert_int_equal(count_key(&L, "warn.too_fast"), 1);
        assert_true(t > 6.5 && t < 8.1);
        acts_free(&L);
}

/* ---- holds ---------------------------------------------------------------------------- */

/* hold-long.scn: the roller comes to rest at about 10.3 s under 300 N and stays
 * 100 s. cue.hold_target at 30 s of rest (40.3 s), warn.hold_long at 90 s
 * (100.3 s), each once; cue.breathe 10 s in (20.3 s), and again when the heart
 * rate has risen 10 bpm over its level at the start of the hold (70 -> 88 bpm
 * from 40 s over 10 s: 80 bpm at 45.6 s, seen in the mean of the last 5 readings
 * 2-3 s later). */
static void test_hold_cues(void **state) {
        struct run r = run_default(NULL, NULL);
        struct acts L = run_scenario("hold-long", &r);

        (void)state;
        assert_int_equal(count_key(&L, "cue.hold_target"), 1);
        assert_near(first_s(&L, "cue.hold_target"), 10.3 + 30, 0.3);
        assert_int_equal(count_key(&L, "warn.hold_long"), 1);
        assert_near(first_s(&L, "warn.hold_long"), 10.3 + 90, 0.3);
        assert_int_equal(count_key(&L, "cue.breathe"), 2);
        assert_near(first_s(&L, "cue.breathe"), 10.3 + 10, 0.3);
        assert_true(nth_s(&L, "cue.breathe", 1) > 45.6 && nth_s(&L, "cue.breathe", 1) < 52);
        acts_free(&L);
}

/* No target cue for a hold that ends before 30 s, or whose step the user has
 * moved on from: the demo's holds last 12-25 s, or 30 s with the press just
 * before the 30 s mark (glutes). */
static void test_short_hold_no_target(void **state) {
        struct run r = run_default("lower-back-relief", NULL);
        struct acts L = run_demo(&r);

        (void)state;
        assert_int_equal(count_key(&L, "cue.hold_target"), 0);
        acts_free(&L);
}

/* ---- pain stop ------------------------------------------------------------------------- */

/* pain-stop.scn: a long press at 20.9 s, 10 s into a glute hold, with the step
 * time, the hold target and a breathing cue pending and 20 s of data to come:
 * safety.pain_stop at the press with the stop light, the session ends there
 * (long_press) and nothing is said after it. */
static void test_pain_stop(void **state) {
        struct run r = run_default("lower-back-relief", NULL);
        struct acts L = run_scenario("pain-stop", &r);
        const struct act *stop = nth_key(&L, "safety.pain_stop", 0), *end = session_end_of(&L);
        bool led_stop = false;

        (void)state;
        assert_non_null(stop);
        assert_int_equal(count_key(&L, "safety.pain_stop"), 1);
        assert_near((double)stop->t_ms / 1000.0, 20.9, 0.1);
        assert_int_equal(stop->priority, RC_PRIORITY_SAFETY);
        for (size_t i = 0; i < L.n; i++) {
                const struct act *x = &L.a[i];

                if (x->kind == RC_ACTION_LED && x->led == RC_LED_STOP && x->t_ms == stop->t_ms)
                        led_stop = true;
                if (x > stop)
                        assert_true(x->kind != RC_ACTION_SAY && x->kind != RC_ACTION_STEP);
                if (x > stop && x->kind == RC_ACTION_LED)
                        assert_int_equal(x->led, RC_LED_STOP);
        }
        assert_true(led_stop);
        assert_non_null(end);
        assert_string_equal(end->reason, "long_press");
        assert_int_equal(end->t_ms, stop->t_ms);
        acts_free(&L);
}

/* ---- session length --------------------------------------------------------------------- */

/* long-free-session.scn: a beginner (10 minutes) in a 12-minute free session:
 * warn.session_long at 600 s, once; the jerky stretch (140..150 s) is warned;
 * nothing too fast (all rolling 2-3 cm/s, the jerky stretch averages 1 cm/s). */
static void test_session_long(void **state) {
        struct run r = run_default(NULL, NULL);
        struct acts L = run_scenario("long-free-session", &r);
        double t;

        (void)state;
        assert_int_equal(count_key(&L, "warn.session_long"), 1);
        assert_near(first_s(&L, "warn.session_long"), 600, 0.2);
        assert_int_equal(count_key(&L, "warn.jerky"), 1);
        t = first_s(&L, "warn.jerky");
        assert_true(t > 140 && t < 150);
        assert_int_equal(count_key(&L, "warn.too_fast"), 0);
        assert_int_equal(count_key(&L, "safety.lumbar"), 0);
        assert_int_equal(count_key(&L, "warn.pressure"), 0);
        acts_free(&L);
        /* a regular's 20 minutes, or the profile's own length */
        r.profile.level = RC_LEVEL_REGULAR;
        L = run_scenario("long-free-session", &r);
        assert_int_equal(count_key(&L, "warn.session_long"), 0);
        acts_free(&L);
        r.profile.session_minutes = 5;
        L = run_scenario("long-free-session", &r);
        assert_near(first_s(&L, "warn.session_long"), 300, 0.2);
        acts_free(&L);
}

/* ---- contraindications ------------------------------------------------------------------ */

static bool has_step(const struct acts *L, const char *id) {
        for (size_t i = 0; i < L->n; i++)
                if (L->a[i].kind == RC_ACTION_STEP && strcmp(L->a[i].step, id) == 0)
                        return true;
        return false;
}

/* Pregnancy: the clearance notice at the start; prone hip-flexor work left out
 * (lying face down presses on the belly); the upper back and calves softened;
 * what was adapted is said before the first step. */
static void test_clearance_pregnancy(void **state) {
        struct run r = run_default("lower-back-relief", NULL);
        struct acts L;
        const struct act *st[16] = {0};
        size_t n;

        (void)state;
        r.profile.conditions = RC_COND_PREGNANCY;
        L = run_demo(&r);
        assert_int_equal(count_key(&L, "safety.clearance"), 1);
        assert_near(first_s(&L, "safety.clearance"), 0, 0);
        assert_non_null(strstr(text_of(&L, "safety.clearance", 0), "pregnancy"));
        assert_int_equal(count_key(&L, "info.adapted"), 1);
        assert_non_null(strstr(text_of(&L, "info.adapted", 0), "hip flexors"));
        assert_false(has_step(&L, "hip_flexor_left"));
        assert_false(has_step(&L, "hip_flexor_right"));
        n = steps_of(&L, st, 16);
        assert_int_equal(n, 8); /* 7 steps and done */
        /* the first step after the notices; the steps say their cautions */
        assert_true((double)st[0]->t_ms / 1000.0 > first_s(&L, "info.adapted"));
        for (size_t i = 0; i < count_key(&L, "cue.step"); i++) {
                const char *c = text_of(&L, "cue.step", i);

                if (strstr(c, "Upper back"))
                        assert_non_null(strstr(c, "dizzy"));
                if (strstr(c, "Calves"))
                        assert_non_null(strstr(c, "Light pressure"));
        }
        acts_free(&L);
}

/* Osteoporosis: nothing with bone on the roller (no upper back, no lats): no
 * thoracic step, hence no lumbar warning either; a lighter pressure limit. */
static void test_clearance_osteoporosis(void **state) {
        struct run r = run_default("lower-back-relief", NULL);
        struct acts L;

        (void)state;
        r.profile.conditions = RC_COND_OSTEOPOROSIS;
        L = run_demo(&r);
        assert_int_equal(count_key(&L, "safety.clearance"), 1);
        assert_false(has_step(&L, "thoracic"));
        assert_false(has_step(&L, "lats_left"));
        assert_false(has_step(&L, "lats_right"));
        assert_true(has_step(&L, "glutes_left"));
        assert_true(has_step(&L, "done"));
        assert_int_equal(count_key(&L, "safety.lumbar"), 0);
        acts_free(&L);
}

/* Every condition: a notice naming all, the adapted routine, no errors. A recent
 * operation leaves only glutes, hamstrings and calves. */
static void test_clearance_all_conditions(void **state) {
        struct run r = run_default("lower-back-relief", NULL);
        struct acts L;
        const char *text;

        (void)state;
        r.profile.conditions = (1u << RC_COND__COUNT) - 1;
        L = run_demo(&r);
        assert_int_equal(count_key(&L, "safety.clearance"), 1);
        text = text_of(&L, "safety.clearance", 0);
        assert_non_null(strstr(text, "osteoporosis"));
        assert_non_null(strstr(text, "spinal stenosis"));
        assert_non_null(strstr(text, "recent back surgery"));
        assert_false(has_step(&L, "thoracic"));
        assert_false(has_step(&L, "hip_flexor_left"));
        assert_false(has_step(&L, "lats_right"));
        assert_true(has_step(&L, "hamstrings"));
        assert_true(has_step(&L, "calves"));
        acts_free(&L);
        /* and none: no notice */
        r.profile.conditions = 0;
        L = run_demo(&r);
        assert_int_equal(count_key(&L, "safety.clearance"), 0);
        assert_int_equal(count_key(&L, "info.adapted"), 0);
        acts_free(&L);
        /* a free session with a condition gets the notice too */
        r = run_default(NULL, NULL);
        r.profile.conditions = RC_COND_DISC_HERNIATION;
        L = run_scenario("slow-rolling", &r);
        assert_int_equal(count_key(&L, "safety.clearance"), 1);
        assert_int_equal(count_key(&L, "info.adapted"), 0);
        acts_free(&L);
}

/* ---- pressure ---------------------------------------------------------------------------- */

/* pressure.scn, seated on the glutes, 70 kg (687 N): a 340 N hold (0.49 of body
 * weight, the usual half) is fine; 650 N (0.95) from 34.2 s (ramping in over
 * 0.5 s) passes the glute limit of 0.75 x 687 = 515 N at about 34.5 s and is
 * warned 2 s later. A 100 kg user (981 N) sitting with 650 N is at 0.66: fine. */
static void check_pressure(const char *routine, const char *step) {
        struct run r = run_default(routine, step);
        struct acts L = run_scenario("pressure", &r);
        double t = first_s(&L, "warn.pressure");

        assert_int_equal(count_key(&L, "warn.pressure"), 1);
        assert_true(t > 34.5 + 1.5 && t < 34.5 + 3.0);
        acts_free(&L);
        r.profile.weight_kg = 100;
        L = run_scenario("pressure", &r);
        assert_int_equal(count_key(&L, "warn.pressure"), 0);
        acts_free(&L);
}

static void test_pressure(void **state) {
        (void)state;
        check_pressure(NULL, NULL);                         /* free: seated posture */
        check_pressure("lower-back-relief", "glutes_left"); /* the glute step */
}

/* ---- a bad link ------------------------------------------------------------------------- */

/* The demo and the long hold with 5 % of the roller's notifications malformed and
 * 2 % lost (the strap's too): the same keys, the same steps, about the same
 * times (a lost packet delays a threshold by a block or two). */
static void same_keys(const struct acts *a, const struct acts *b, const char *key, double tol) {
        assert_int_equal(count_key(a, key), count_key(b, key));
        for (size_t i = 0; i < count_key(a, key); i++)
                assert_near((double)nth_key(a, key, i)->t_ms / 1000.0,
                            (double)nth_key(b, key, i)->t_ms / 1000.0, tol);
}

static void test_bad_link_same_results(void **state) {
        static const char *const keys[] = {"cue.step",       "warn.too_fast", "safety.lumbar",
                                           "warn.pressure",  "warn.jerky",    "cue.hold_target",
                                           "warn.hold_long", "info.complete"};
        struct run r = run_default("lower-back-relief", NULL);
        char *text = scenario_text("demo-lower-back"), *lossy, *lossy2, *trace;
        struct acts clean, bad;
        const struct act *s1[16], *s2[16];
        size_t n1, n2, len;

        (void)state;
        lossy = replace(text, "loss=0.01 corrupt=0.002", "loss=0.02 corrupt=0.05");
        lossy2 = replace(lossy, "loss=0.01 corrupt=0.003", "loss=0.02 corrupt=0.05");
        trace = simulate(lossy2, &len);
        clean = run_demo(&r);
        bad = replay_trace(trace, len, &r);
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
                same_keys(&clean, &bad, keys[i], 1.0);
        n1 = steps_of(&clean, s1, 16);
        n2 = steps_of(&bad, s2, 16);
        assert_int_equal(n1, n2);
        for (size_t i = 0; i < n1; i++) {
                assert_string_equal(s1[i]->step, s2[i]->step);
                assert_near((double)s1[i]->t_ms, (double)s2[i]->t_ms, 100);
        }
        acts_free(&clean);
        acts_free(&bad);
        free(trace);
        free(lossy2);
        free(lossy);
        free(text);

        /* the hold cues, from since_ms: the same within a block or two */
        text = scenario_text("hold-long");
        lossy = replace(text, "load_cell=yes", "load_cell=yes loss=0.02 corrupt=0.05");
        lossy2 = replace(lossy, "rsa=20", "rsa=20 loss=0.02 corrupt=0.05");
        r = run_default(NULL, NULL);
        clean = run_scenario("hold-long", &r);
        trace = simulate(lossy2, &len);
        bad = replay_trace(trace, len, &r);
        same_keys(&clean, &bad, "cue.hold_target", 0.3);
        same_keys(&clean, &bad, "warn.hold_long", 0.3);
        acts_free(&clean);
        acts_free(&bad);
        free(trace);
        free(lossy2);
        free(lossy);
        free(text);
}

/* ---- determinism ------------------------------------------------------------------------ */

static void test_replays_identical(void **state) {
        struct run r = run_default("lower-back-relief", NULL);
        struct acts a = run_demo(&r), b = run_demo(&r);
        char *da = acts_dump(&a), *db = acts_dump(&b);

        (void)state;
        assert_true(a.n > 50);
        assert_string_equal(da, db);
        free(da);
        free(db);
        acts_free(&a);
        acts_free(&b);
}

/* ---- where the routine starts, and its step time ---------------------------------------- */

/* --step thoracic on the demo trace: the routine starts there; the presses then
 * advance from it (lats_left at the first press, 54.5 s). */
static void test_step_option(void **state) {
        struct run r = run_default("lower-back-relief", "thoracic");
        struct acts L = run_demo(&r);
        const struct act *st[16];
        size_t n = steps_of(&L, st, 16);
        struct rc_engine_opts eo = {.dirs = {PLUGIN_DIR}, .n_dirs = 1};
        struct rc_session *s = malloc(sizeof(*s));
        struct rc_engine *e;

        (void)state;
        assert_true(n >= 2);
        assert_string_equal(st[0]->step, "thoracic");
        assert_int_equal(st[0]->t_ms, 0);
        assert_string_equal(st[1]->step, "lats_left");
        assert_near((double)st[1]->t_ms / 1000.0, demo_press_s[0], 0.1);
        acts_free(&L);

        /* a step the adaptation leaves out begins at the next one kept */
        r = run_default("lower-back-relief", "hip_flexor_left");
        r.profile.conditions = RC_COND_PREGNANCY;
        L = run_demo(&r);
        n = steps_of(&L, st, 16);
        assert_true(n >= 1);
        assert_string_equal(st[0]->step, "hamstrings");
        acts_free(&L);

        /* an unknown routine or step is refused */
        assert_non_null(s);
        eo.profile = profile_default();
        assert_int_equal(rc_engine_new(&eo, &e), 0);
        assert_true(rc_engine_load_all(e) >= 4);
        rc_session_init(s);
        assert_int_equal(rc_engine_attach(e, s, "no-such-routine", NULL), -ENOENT);
        assert_int_equal(rc_engine_attach(e, s, "lower-back-relief", "no_such_step"), -ENOENT);
        rc_engine_free(e);
        free(s);
}

/* Without presses a step lasts its time on the roller: 45 s for a beginner, 75 s
 * for a regular, from when the user gets on the roller. long-free-session.scn has
 * no presses and loads the roller at 10 s: the second step begins at 55 s, or at
 * 85 s for a regular. */
static void test_step_time(void **state) {
        struct run r = run_default("lower-back-relief", NULL);
        struct acts L = run_scenario("long-free-session", &r);
        const struct act *st[16];
        size_t n = steps_of(&L, st, 16);

        (void)state;
        assert_true(n >= 3);
        assert_string_equal(st[1]->step, "glutes_right");
        assert_near((double)st[1]->t_ms / 1000.0, 10 + 45, 0.5);
        acts_free(&L);
        r.profile.level = RC_LEVEL_REGULAR;
        L = run_scenario("long-free-session", &r);
        n = steps_of(&L, st, 16);
        assert_true(n >= 2);
        assert_near((double)st[1]->t_ms / 1000.0, 10 + 75, 0.5);
        acts_free(&L);
}

/* A press just after the step's time moved on (the user pressing to finish the
 * step that just ended) does not skip the new step; a later one moves on. The
 * roller is loaded from 4 s (ramping in over 0.5 s): glutes_right at about 49 s
 * by time, the press at 50.1 s is taken as agreeing, the press at 60.1 s moves
 * on to hip_flexor_left. */
static void test_press_after_timed_step(void **state) {
        static const char scn[] = "# rollcoach-scenario 1\n"
                                  "seed 9\n"
                                  "roller r AA:BB:CC:00:00:51 load_cell=yes\n"
                                  "r: rest 4\n"
                                  "r: roll +2.5 dist=10 force=300\n" /* 4..8.1 */
                                  "r: hold 42\n"                     /* 8.1..50.1 */
                                  "r: press short\n"                 /* 50.1 */
                                  "r: hold 10\n"
                                  "r: press short\n" /* 60.1 */
                                  "r: rest 2\n";
        struct run r = run_default("lower-back-relief", NULL);
        const struct act *st[8];
        size_t len, n;
        char *trace = simulate(scn, &len);
        struct acts L = replay_trace(trace, len, &r);

        (void)state;
        n = steps_of(&L, st, 8);
        assert_int_equal(n, 3);
        assert_string_equal(st[1]->step, "glutes_right");
        assert_near((double)st[1]->t_ms / 1000.0, 4.1 + 45, 0.3);
        assert_string_equal(st[2]->step, "hip_flexor_left");
        assert_near((double)st[2]->t_ms / 1000.0, 60.1, 0.1);
        acts_free(&L);
        free(trace);
}

/* Without a load cell the routine cannot see when the user gets on the roller:
 * a step's time runs from 20 s after its cue, so the demo's presses still lead;
 * the warnings come from speed and travel alone, at the same moments (the travel
 * reference stays where the roller was at the press, so the lumbar warning may
 * come a little later: the lift to the mid-back adds ~1.4 cm). */
static void test_demo_without_load_cell(void **state) {
        char *text = scenario_text("demo-lower-back"), *noload, *trace;
        struct run r = run_default("lower-back-relief", NULL);
        const struct act *st[16];
        struct acts L;
        size_t len, n;
        double t;

        (void)state;
        noload = replace(text, "load_cell=yes", "load_cell=no");
        trace = simulate(noload, &len);
        L = replay_trace(trace, len, &r);
        n = steps_of(&L, st, 16);
        assert_int_equal(n, 10);
        for (size_t i = 1; i < 10; i++)
                assert_near((double)st[i]->t_ms / 1000.0, demo_press_s[i - 1], 0.1);
        assert_int_equal(count_key(&L, "warn.too_fast"), 1);
        t = first_s(&L, "warn.too_fast");
        assert_true(t > 205.3 + 0.5 && t < 207.8);
        assert_int_equal(count_key(&L, "safety.lumbar"), 1);
        t = first_s(&L, "safety.lumbar");
        assert_true(t > 254.7 && t < 260.5);
        assert_int_equal(count_key(&L, "warn.pressure"), 0);
        acts_free(&L);
        free(trace);
        free(noload);
        free(text);
}

/* ---- the week's sessions ------------------------------------------------------------------- */

/* With a history kept (state_dir), each session counts the sessions of the last
 * 7 days: the 1st (no history) only says the 3-5 goal; the 2nd says 2 and the
 * goal; the 4th is on target; the 7th is more than enough. */
static void test_consistency(void **state) {
        char dir[] = "/tmp/rc-plugins-XXXXXX", cmd[64];
        const char *want[7] = {"Aim for three to five",
                               "session 2",
                               "session 3",
                               "session 4 this week. Right on target",
                               "session 5 this week. Right on target",
                               "session 6",
                               "session 7"};
        char *text = scenario_text("slow-rolling"), *trace;
        size_t len;

        (void)state;
        assert_non_null(mkdtemp(dir));
        trace = simulate(text, &len);
        for (int i = 0; i < 7; i++) {
                struct run r = run_default(NULL, NULL);
                struct acts L;

                r.state_dir = dir;
                r.wall_start_s = 1760000000 + (int64_t)i * 20000; /* 7 sessions in 2 days */
                L = replay_trace(trace, len, &r);
                assert_int_equal(count_key(&L, "info.consistency"), 1);
                if (!strstr(text_of(&L, "info.consistency", 0), want[i]))
                        fail_msg("session %d: \"%s\"", i + 1, text_of(&L, "info.consistency", 0));
                acts_free(&L);
        }
        free(trace);
        free(text);
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        assert_int_equal(system(cmd), 0);
}

/* ---- the example in docs/plugins.md ----------------------------------------------------- */

/* The guide's example plugin, taken from the page as printed (the ```lua block
 * after the "example-plugin" marker), loaded beside the shipped ones and run
 * over hold-long.scn: its cue 20 s after the roller came to rest (10.3 s). */
static void test_docs_example(void **state) {
        char *doc = read_file(RC_SOURCE_DIR "/docs/plugins.md", NULL);
        char dir[] = "/tmp/rc-example-XXXXXX", path[128], cmd[64];
        const char *m = strstr(doc, "<!-- example-plugin"), *a, *b;
        struct run r = run_default(NULL, NULL);
        struct acts L;
        FILE *f;

        (void)state;
        assert_non_null(m);
        a = strstr(m, "```lua\n");
        assert_non_null(a);
        a += 7;
        b = strstr(a, "```");
        assert_non_null(b);
        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/hold-twenty.lua", dir);
        f = fopen(path, "w");
        assert_non_null(f);
        fwrite(a, 1, (size_t)(b - a), f);
        fclose(f);
        r.extra_dir = dir;
        L = run_scenario("hold-long", &r);
        assert_int_equal(L.plugins_loaded, 5);
        assert_int_equal(count_key(&L, "cue.example.twenty"), 1);
        assert_near(first_s(&L, "cue.example.twenty"), 10.3 + 20, 0.3);
        acts_free(&L);
        free(doc);
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        assert_int_equal(system(cmd), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_shipped_plugins_load),
                cmocka_unit_test(test_demo_steps_follow_presses),
                cmocka_unit_test(test_demo_warnings),
                cmocka_unit_test(test_demo_breathing_reset),
                cmocka_unit_test(test_lumbar_drift),
                cmocka_unit_test(test_lumbar_control),
                cmocka_unit_test(test_lumbar_free_session),
                cmocka_unit_test(test_slow_rolling_is_quiet),
                cmocka_unit_test(test_fast_rolling_warns),
                cmocka_unit_test(test_hold_cues),
                cmocka_unit_test(test_short_hold_no_target),
                cmocka_unit_test(test_pain_stop),
                cmocka_unit_test(test_session_long),
                cmocka_unit_test(test_clearance_pregnancy),
                cmocka_unit_test(test_clearance_osteoporosis),
                cmocka_unit_test(test_clearance_all_conditions),
                cmocka_unit_test(test_pressure),
                cmocka_unit_test(test_bad_link_same_results),
                cmocka_unit_test(test_replays_identical),
                cmocka_unit_test(test_step_option),
                cmocka_unit_test(test_step_time),
                cmocka_unit_test(test_press_after_timed_step),
                cmocka_unit_test(test_demo_without_load_cell),
                cmocka_unit_test(test_consistency),
                cmocka_unit_test(test_docs_example),
        };

        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
