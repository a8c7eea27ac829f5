/* rollcoach tests — the shipped plugins over simulated sessions, in process
 * (header-only; each test is one program): simulate a scenario into a trace in
 * memory, load the plugins into an engine, attach it to a session, replay the
 * trace on virtual time as `rollcoach replay` does, and collect every action.
 * Used by test_plugins.c and test_voice_texts.c. Include after rc_test.h. */
#pragma once

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

static inline void copy(char *dst, size_t len, const char *src) {
        snprintf(dst, len, "%s", src ? src : "");
}

static inline void collect(const struct rc_action *a, void *userdata) {
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

static inline void acts_free(struct acts *L) {
        free(L->a);
        memset(L, 0, sizeof(*L));
}

/* Every action as one line of text, for byte-for-byte comparisons. */
static inline char *acts_dump(const struct acts *L) {
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
static inline size_t count_key(const struct acts *L, const char *key) {
        size_t n = 0;

        for (size_t i = 0; i < L->n; i++)
                n += L->a[i].kind == RC_ACTION_SAY && strcmp(L->a[i].key, key) == 0;
        return n;
}

static inline const struct act *nth_key(const struct acts *L, const char *key, size_t nth) {
        for (size_t i = 0; i < L->n; i++)
                if (L->a[i].kind == RC_ACTION_SAY && strcmp(L->a[i].key, key) == 0 && nth-- == 0)
                        return &L->a[i];
        return NULL;
}

/* The text of the nth say of `key` ("" if there is none: the caller's checks fail). */
static inline const char *text_of(const struct acts *L, const char *key, size_t nth) {
        const struct act *x = nth_key(L, key, nth);

        if (!x)
                print_message("no %s number %zu\n", key, nth);
        return x ? x->text : "";
}

/* The time (s) of the nth say of `key`, or -1 if there is none. */
static inline double nth_s(const struct acts *L, const char *key, size_t nth) {
        const struct act *x = nth_key(L, key, nth);

        return x ? (double)x->t_ms / 1000.0 : -1.0;
}

static inline double first_s(const struct acts *L, const char *key) {
        return nth_s(L, key, 0);
}

/* The routine's steps, in order (RC_ACTION_STEP). */
static inline size_t steps_of(const struct acts *L, const struct act *out[], size_t max) {
        size_t n = 0;

        for (size_t i = 0; i < L->n && n < max; i++)
                if (L->a[i].kind == RC_ACTION_STEP)
                        out[n++] = &L->a[i];
        return n;
}

static inline const struct act *session_end_of(const struct acts *L) {
        for (size_t i = 0; i < L->n; i++)
                if (L->a[i].kind == RC_ACTION_SESSION && !L->a[i].started)
                        return &L->a[i];
        return NULL;
}

static inline void print_says(const struct acts *L) {
        for (size_t i = 0; i < L->n; i++)
                if (L->a[i].kind == RC_ACTION_SAY || L->a[i].kind == RC_ACTION_STEP)
                        print_message("  %9.3f %-20s %s\n", (double)L->a[i].t_ms / 1000.0,
                                      L->a[i].kind == RC_ACTION_STEP ? "(step)" : L->a[i].key,
                                      L->a[i].kind == RC_ACTION_STEP ? L->a[i].step : L->a[i].text);
}

/* ---- scenarios and runs ----------------------------------------------------------------- */

static inline char *read_file(const char *path, size_t *ret_len) {
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

static inline char *scenario_text(const char *name) {
        char path[512];

        snprintf(path, sizeof(path), "%s/scripts/scenarios/%s.scn", RC_SOURCE_DIR, name);
        return read_file(path, NULL);
}

/* Replace the first `from` in `s` by `to` (a new string; `from` must be there). */
static inline char *replace(const char *s, const char *from, const char *to) {
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
static inline char *simulate(const char *text, size_t *ret_len) {
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

static inline struct rc_profile profile_default(void) {
        struct rc_config c;

        rc_config_defaults(&c); /* 170 cm, 70 kg, beginner, no conditions */
        return c.profile;
}

static inline struct run run_default(const char *routine, const char *step) {
        struct run r = {.routine = routine, .step = step, .profile = profile_default()};

        return r;
}

/* Replay a trace through the shipped plugins; every action collected. */
static inline struct acts replay_trace(const char *trace, size_t len, const struct run *r) {
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
static inline struct acts run_scenario(const char *name, const struct run *r) {
        char *text = scenario_text(name), *trace;
        size_t len;
        struct acts L;

        trace = simulate(text, &len);
        L = replay_trace(trace, len, r);
        free(trace);
        free(text);
        return L;
}
