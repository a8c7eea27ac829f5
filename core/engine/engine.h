/* rollcoach — the coaching engine: sandboxed Lua plugins that turn events into
 * actions (docs/spec/coaching.md; the author's guide is docs/plugins.md).
 *
 * One lua_State per plugin, all on the loop thread. Each plugin runs in its own
 * environment over a frozen `coach` API, with an instruction budget per
 * callback, a memory cap and a timer cap. Every call into Lua goes through one
 * protected call with a traceback; a plugin that keeps failing is disabled and
 * reported, and the others go on. Timers run on the session clock, which the
 * owner advances (virtual time in replay, real time live).
 *
 * The engine subscribes to a session's events and acts on it (coach.track,
 * coach.stop). Actions (say, led, session, plugin) go to the action sinks.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "analysis/session.h"
#include "config/config.h"

/* The plugin API level this hub offers. A plugin declares the level it needs with
 * coach.plugin{api = N}; a level above this one is refused. History of levels:
 * docs/plugins.md ("API levels"). */
#define RC_ENGINE_API_LEVEL 1

#define RC_ENGINE_MAX_PLUGINS 32
#define RC_ENGINE_MAX_DIRS 8
#define RC_ENGINE_NAME_MAX 63

enum rc_priority {
        RC_PRIORITY_INFO = 0,
        RC_PRIORITY_CUE = 1,
        RC_PRIORITY_WARNING = 2,
        RC_PRIORITY_SAFETY = 3,
};
const char *rc_priority_name(enum rc_priority p); /* "info", "cue", "warning", "safety" */
int rc_priority_from_name(const char *name, enum rc_priority *ret);

enum rc_led_pattern { RC_LED_OFF = 0, RC_LED_OK, RC_LED_HOLD, RC_LED_WARN, RC_LED_STOP };
const char *rc_led_name(enum rc_led_pattern p);
int rc_led_from_name(const char *name, enum rc_led_pattern *ret);

enum rc_action_kind {
        RC_ACTION_SAY,
        RC_ACTION_LED,
        RC_ACTION_SESSION, /* the session started or ended (for the outputs' timeline) */
        RC_ACTION_PLUGIN,  /* a plugin was disabled, reloaded or refused */
        RC_ACTION_STEP,    /* a routine's step began (coach.step) */
};

/* One action. Strings point into the engine and are valid during the call only. */
struct rc_action {
        enum rc_action_kind kind;
        int64_t t_ms;       /* session clock */
        const char *plugin; /* who; NULL for the engine itself */
        union {
                struct {
                        const char *key;
                        const char *text;
                        enum rc_priority priority;
                } say;
                struct {
                        enum rc_led_pattern pattern;
                } led;
                struct {
                        bool started;
                        const char *routine; /* NULL: free */
                        const char *step;
                        const char *reason; /* ended only */
                } session;
                struct {
                        const char *state; /* "disabled", "reloaded", "refused" */
                        const char *reason;
                } plugin_state;
                struct {
                        const char *routine, *step;
                        const char *direction; /* NULL when none was given */
                } step;
        };
};

typedef void (*rc_action_fn)(const struct rc_action *a, void *userdata);

struct rc_engine_opts {
        const char *dirs[RC_ENGINE_MAX_DIRS]; /* plugin directories, in load order */
        unsigned n_dirs;
        struct rc_profile profile;
        const char *state_dir; /* coach.store files and history; NULL: in memory only */
        int64_t wall_start_s;  /* Unix time of session time 0 (os.time, history) */
        /* limits (0: the defaults below) */
        uint64_t instructions; /* per callback; default 2,000,000 (a few ms) */
        size_t memory;         /* per plugin, bytes; default 8 MiB */
        unsigned timers;       /* per plugin; default 32 */
        unsigned max_failures; /* errors before a plugin is disabled; default 5 */
        int64_t say_dedupe_ms; /* the same message (key and text) is not said again
                                * within; default 8000 */
        unsigned callback_ms;  /* wall time a callback may run; default 50 */
};

struct rc_engine;

/* A new engine (no plugins yet). Returns 0, -ENOMEM or -EINVAL (bad options). */
int rc_engine_new(const struct rc_engine_opts *opts, struct rc_engine **ret);
void rc_engine_free(struct rc_engine *e);

/* Load every *.lua in the configured directories (missing directories are
 * skipped; a later directory's plugin replaces an earlier one of the same name:
 * a user overrides a shipped plugin by name). A plugin that fails to load is
 * reported and left out. Returns the number loaded, or -ENOMEM. */
int rc_engine_load_all(struct rc_engine *e);

/* Load one plugin file. 0; -EINVAL if it does not compile, errors while loading,
 * or needs a newer API level (reported); -ENOSPC if the table is full; -EEXIST if
 * a plugin of that name is loaded (use rc_engine_reload). */
int rc_engine_load_file(struct rc_engine *e, const char *path);

/* Hot reload: compile and load the file into a fresh state; only if that works,
 * replace the running plugin of the same name (its timers cancelled, its state
 * closed); otherwise the old one keeps running and the reason is logged.
 * 0 or a negative errno as rc_engine_load_file. */
int rc_engine_reload(struct rc_engine *e, const char *path);

/* Where actions go; up to 8 sinks. -ENOSPC when full. */
int rc_engine_add_sink(struct rc_engine *e, rc_action_fn fn, void *userdata);

/* Attach to a session that has not begun: subscribe to its events. The routine
 * (NULL: a free session) must be provided by a loaded routine plugin and the
 * step must be one of its steps; -ENOENT (reported) otherwise. The caller then
 * begins the session with the same routine and step. */
int rc_engine_attach(struct rc_engine *e, struct rc_session *s, const char *routine,
                     const char *step);

/* Advance the session clock to t_ms, running every timer due at or before it, in
 * order of due time (then creation). Called before each notification in replay,
 * and from a libuv timer live. */
void rc_engine_advance(struct rc_engine *e, int64_t t_ms);

/* rc_engine_advance as an rc_replay_advance_fn (userdata: the engine). */
void rc_engine_advance_hook(int64_t t_ms, void *engine);

/* The earliest pending timer's due time, or INT64_MAX. */
int64_t rc_engine_next_due(const struct rc_engine *e);

/* The plugin directories in use (for watching them: hot reload). */
unsigned rc_engine_dir_count(const struct rc_engine *e);
const char *rc_engine_dir(const struct rc_engine *e, unsigned i);

/* Introspection for tests and reports. */
struct rc_engine_plugin_info {
        char name[RC_ENGINE_NAME_MAX + 1];
        const char *path;
        bool enabled;
        bool routine;
        unsigned failures;
        unsigned timers;
        size_t memory; /* bytes in use */
        uint64_t callbacks;
};
unsigned rc_engine_plugin_count(const struct rc_engine *e);
int rc_engine_plugin_info(const struct rc_engine *e, unsigned i, struct rc_engine_plugin_info *ret);
/* The index of a plugin by name, or -ENOENT. */
int rc_engine_find(const struct rc_engine *e, const char *name);

struct rc_engine_stats {
        uint64_t says, leds, suppressed_says; /* suppressed: dedupe or after a pain stop */
        uint64_t errors, disabled, timer_fires;
        uint64_t rate_limited; /* actions over a plugin's rate limit, dropped */
};
void rc_engine_stats(const struct rc_engine *e, struct rc_engine_stats *ret);
