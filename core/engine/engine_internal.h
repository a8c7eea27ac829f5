/* rollcoach — internal: the engine's structures, shared by engine.c (plugins,
 * dispatch, timers, actions), coach.c (the Lua API) and store.c (store and
 * history). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <cJSON.h>

#include "engine/engine.h"
#include "engine/sandbox.h"

#define RC__MAX_STEPS 32
#define RC__MAX_HANDLERS 16 /* per event per plugin */
#define RC__EV_STEP RC_EV__COUNT
#define RC__N_EVENTS (RC_EV__COUNT + 1)
#define RC__MAX_TIMERS (RC_ENGINE_MAX_PLUGINS * 64)
#define RC__MAX_SINKS 8
#define RC__QUEUE_MAX 16
#define RC__DEDUPE_KEYS 64
#define RC__KEY_MAX 63
#define RC__TEXT_MAX 500
#define RC__STORE_MAX_KEYS 64
#define RC__STORE_MAX_BYTES 4096
#define RC__HISTORY_MAX 1000
#define RC__PLUGIN_FILE_MAX (1u << 20)

/* Rate limits per plugin (docs/plugins.md, "Limits"): a burst, then a rate, on
 * the session clock. What goes over is dropped, counted and reported once. */
#define RC__SAY_BURST 10
#define RC__SAY_PER_S 0.5
#define RC__LED_BURST 20
#define RC__LED_PER_S 4
#define RC__OTHER_BURST 50
#define RC__OTHER_PER_S 10

enum rc__bucket { RC__BUCKET_SAY, RC__BUCKET_LED, RC__BUCKET_OTHER, RC__BUCKET__COUNT };

struct rc__rate {
        bool init;
        double tokens;
        int64_t t_ms;
        uint64_t dropped;
};

/* The pain stop: the hub's state, entered by a long press (docs/spec/coaching.md). */
enum rc__pain {
        RC__PAIN_NONE,
        RC__PAIN_ENTERING, /* the plugins are hearing the long press: safety messages only */
        RC__PAIN_STOPPED,  /* nothing is said; the LEDs show stop only */
};

struct rc__plugin {
        struct rc_engine *e;
        struct rc__sandbox sb;
        char name[RC_ENGINE_NAME_MAX + 1];
        char *path;
        unsigned dir_index;
        bool declared, routine, enabled;
        char steps[RC__MAX_STEPS][RC_ENGINE_NAME_MAX + 1];
        unsigned n_steps;
        int handlers[RC__N_EVENTS]; /* registry refs of tables of functions; LUA_NOREF */
        unsigned n_handlers[RC__N_EVENTS];
        unsigned failures, timers;
        uint64_t callbacks;
        cJSON *store; /* an object of string → string/number/bool */
        bool store_dirty;
        struct rc__rate rate[RC__BUCKET__COUNT];
};

struct rc__timer {
        bool used;
        uint32_t gen;
        struct rc__plugin *p;
        int fn_ref;
        int64_t due_ms, period_ms; /* period 0: once */
        uint64_t seq;
        unsigned heap_pos;
};

/* An engine-made event waiting for the current dispatch to finish. */
struct rc__step_event {
        int64_t t_ms;
        char step[RC_ENGINE_NAME_MAX + 1];
        char direction[16];
};

struct rc__history_entry {
        int64_t started_at;
        double duration_s;
        char routine[RC_ENGINE_NAME_MAX + 1];
};

struct rc_engine {
        struct rc_engine_opts opts;
        char *dirs[RC_ENGINE_MAX_DIRS];
        char *state_dir;

        struct rc__plugin *plugins[RC_ENGINE_MAX_PLUGINS];
        unsigned n_plugins;

        struct rc_session *session;
        struct rc__plugin *routine; /* the session's routine (a reload replaces it), or NULL */
        char step[RC_ENGINE_NAME_MAX + 1]; /* the current step */
        bool started, ended;
        enum rc__pain pain;
        int64_t now_ms, start_ms;

        struct {
                rc_action_fn fn;
                void *userdata;
        } sinks[RC__MAX_SINKS];
        unsigned n_sinks;

        struct rc__timer timers[RC__MAX_TIMERS];
        struct rc__timer *heap[RC__MAX_TIMERS];
        unsigned heap_n;
        uint64_t timer_seq;

        unsigned depth; /* nesting of dispatches; engine events wait for 0 */
        bool draining;
        struct rc__step_event queue[RC__QUEUE_MAX];
        unsigned queue_n;
        bool stop_requested;
        char stop_reason[32];

        struct {
                char key[RC__KEY_MAX + 1];
                uint64_t text_hash; /* the same message is key and text */
                int64_t t_ms;
        } said[RC__DEDUPE_KEYS];
        unsigned n_said, said_next;

        struct rc__history_entry *history;
        unsigned n_history;

        struct rc_engine_stats stats;
};

/* The session's routine's name, or NULL in a free session. */
static inline const char *rc__routine_name(const struct rc_engine *e) {
        return e->routine ? e->routine->name : NULL;
}

/* engine.c */
void rc__engine_emit(struct rc_engine *e, struct rc_action *a);
void rc__engine_say(struct rc_engine *e, struct rc__plugin *p, const char *key, const char *text,
                    enum rc_priority prio);
int rc__engine_timer_add(struct rc_engine *e, struct rc__plugin *p, int fn_ref, int64_t delay_ms,
                         int64_t period_ms, uint32_t *ret_slot, uint32_t *ret_gen);
void rc__engine_timer_cancel(struct rc_engine *e, struct rc__plugin *p, uint32_t slot,
                             uint32_t gen);
void rc__engine_queue_step(struct rc_engine *e, const char *step, const char *direction);
bool rc__plugin_has_step(const struct rc__plugin *p, const char *step);
/* Take one token of p's bucket k: true if the action may go; false if it is over
 * the rate (counted; the first time, logged). */
bool rc__plugin_take(struct rc_engine *e, struct rc__plugin *p, enum rc__bucket k);

/* coach.c: build the `coach` API in the plugin's state (runs protected). */
int rc__coach_open(lua_State *L);
/* The index of an event name ("motion", "step", …) or -1. */
int rc__event_index(const char *name);
/* Push an event as a Lua table (protected context). */
void rc__push_event(lua_State *L, const struct rc_event *ev);
void rc__push_step_event(lua_State *L, const struct rc_engine *e, const struct rc__step_event *st);

/* store.c */
void rc__store_load(struct rc_engine *e, struct rc__plugin *p);
void rc__store_flush(struct rc_engine *e, struct rc__plugin *p);
int rc__store_set(struct rc__plugin *p, const char *key, cJSON *value); /* takes value */
void rc__history_load(struct rc_engine *e);
void rc__history_append(struct rc_engine *e, double duration_s);
