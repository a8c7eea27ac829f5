#include "engine/engine.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <lauxlib.h>

#include "engine/engine_internal.h"
#include "util/file.h"
#include "util/log.h"

#define DEFAULT_INSTRUCTIONS 2000000u
#define DEFAULT_MEMORY (8u << 20)
#define DEFAULT_TIMERS 32u
#define DEFAULT_FAILURES 5u
#define DEFAULT_DEDUPE_MS 8000
#define DEFAULT_CALLBACK_MS 50

/* ---- names ------------------------------------------------------------------------ */

static const char *const priority_names[] = {"info", "cue", "warning", "safety"};
static const char *const led_names[] = {"off", "ok", "hold", "warn", "stop"};

#define N_NAMES(a) (sizeof(a) / sizeof((a)[0]))

/* The index of `name` in names[n], or -EINVAL. */
static int name_index(const char *const *names, unsigned n, const char *name) {
        for (unsigned i = 0; i < n; i++)
                if (strcmp(name, names[i]) == 0)
                        return (int)i;
        return -EINVAL;
}

const char *rc_priority_name(enum rc_priority p) {
        return (unsigned)p < N_NAMES(priority_names) ? priority_names[p] : "info";
}

int rc_priority_from_name(const char *name, enum rc_priority *ret) {
        int i = name_index(priority_names, N_NAMES(priority_names), name);

        if (i < 0)
                return i;
        *ret = (enum rc_priority)i;
        return 0;
}

const char *rc_led_name(enum rc_led_pattern p) {
        return (unsigned)p < N_NAMES(led_names) ? led_names[p] : "off";
}

int rc_led_from_name(const char *name, enum rc_led_pattern *ret) {
        int i = name_index(led_names, N_NAMES(led_names), name);

        if (i < 0)
                return i;
        *ret = (enum rc_led_pattern)i;
        return 0;
}

/* ---- life cycle ------------------------------------------------------------------- */

int rc_engine_new(const struct rc_engine_opts *opts, struct rc_engine **ret) {
        struct rc_engine *e;

        if (opts->n_dirs > RC_ENGINE_MAX_DIRS)
                return -EINVAL;
        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        e->opts = *opts;
        if (!e->opts.instructions)
                e->opts.instructions = DEFAULT_INSTRUCTIONS;
        if (!e->opts.memory)
                e->opts.memory = DEFAULT_MEMORY;
        if (!e->opts.timers)
                e->opts.timers = DEFAULT_TIMERS;
        if (!e->opts.max_failures)
                e->opts.max_failures = DEFAULT_FAILURES;
        if (!e->opts.say_dedupe_ms)
                e->opts.say_dedupe_ms = DEFAULT_DEDUPE_MS;
        if (!e->opts.callback_ms)
                e->opts.callback_ms = DEFAULT_CALLBACK_MS;
        for (unsigned i = 0; i < opts->n_dirs; i++) {
                e->dirs[i] = strdup(opts->dirs[i]);
                if (!e->dirs[i])
                        goto oom;
                e->opts.dirs[i] = e->dirs[i];
        }
        if (opts->state_dir) {
                e->state_dir = strdup(opts->state_dir);
                if (!e->state_dir)
                        goto oom;
                e->opts.state_dir = e->state_dir;
                rc__history_load(e);
        }
        *ret = e;
        return 0;
oom:
        rc_engine_free(e);
        return -ENOMEM;
}

static void cancel_plugin_timers(struct rc_engine *e, struct rc__plugin *p);

/* Free a plugin: its timers cancelled, its state closed, its store dropped (not saved). */
static void plugin_free(struct rc__plugin *p) {
        if (!p)
                return;
        cancel_plugin_timers(p->e, p);
        rc__sandbox_close(&p->sb);
        cJSON_Delete(p->store);
        free(p->path);
        free(p);
}

void rc_engine_free(struct rc_engine *e) {
        if (!e)
                return;
        for (unsigned i = 0; i < e->n_plugins; i++) {
                rc__store_flush(e, e->plugins[i]);
                plugin_free(e->plugins[i]);
        }
        for (unsigned i = 0; i < RC_ENGINE_MAX_DIRS; i++)
                free(e->dirs[i]);
        free(e->state_dir);
        free(e->history);
        free(e);
}

int rc_engine_add_sink(struct rc_engine *e, rc_action_fn fn, void *userdata) {
        if (e->n_sinks >= RC__MAX_SINKS)
                return -ENOSPC;
        e->sinks[e->n_sinks].fn = fn;
        e->sinks[e->n_sinks].userdata = userdata;
        e->n_sinks++;
        return 0;
}

void rc__engine_emit(struct rc_engine *e, struct rc_action *a) {
        a->t_ms = e->now_ms;
        for (unsigned i = 0; i < e->n_sinks; i++)
                e->sinks[i].fn(a, e->sinks[i].userdata);
}

/* ---- calling into plugins ----------------------------------------------------------- */

static void disable(struct rc_engine *e, struct rc__plugin *p, const char *why) {
        struct rc_action a = {.kind = RC_ACTION_PLUGIN, .plugin = p->name};

        if (!p->enabled)
                return;
        p->enabled = false;
        cancel_plugin_timers(e, p);
        e->stats.disabled++;
        rc_log_error("plugin %s disabled after %u failure%s; the others go on. Last: %s", p->name,
                     p->failures, p->failures == 1 ? "" : "s", why);
        a.plugin_state.state = "disabled";
        a.plugin_state.reason = why;
        rc__engine_emit(e, &a);
}

/* Run trampoline(ctx) in p's state, protected, under a fresh budget. */
static int run_protected(struct rc_engine *e, struct rc__plugin *p, lua_CFunction trampoline,
                         void *ctx, char *err, size_t err_len) {
        lua_State *L = p->sb.L;

        p->callbacks++;
        p->sb.now_ms = e->now_ms;
        p->sb.wall_start_s = e->opts.wall_start_s;
        /* neither push allocates, so they are safe outside protection */
        lua_pushcfunction(L, trampoline);
        lua_pushlightuserdata(L, ctx);
        return rc__sandbox_call(&p->sb, 1, err, err_len);
}

/* A callback: errors are logged with the plugin's name and a traceback, and
 * counted; enough of them disable the plugin. A callback killed for its budget
 * or its time disables it at once: it held the loop. */
static int call_plugin(struct rc_engine *e, struct rc__plugin *p, lua_CFunction trampoline,
                       void *ctx) {
        char err[RC__SANDBOX_ERR_MAX];
        int r = run_protected(e, p, trampoline, ctx, err, sizeof(err));

        if (r < 0) {
                e->stats.errors++;
                p->failures++;
                rc_log_error("plugin %s: %s", p->name, err);
                if (p->failures >= e->opts.max_failures || r == -EINTR)
                        disable(e, p, err);
        }
        return r;
}

struct handler_ctx {
        struct rc__plugin *p;
        int event;
        unsigned i; /* 1-based handler index */
        const struct rc_event *ev;
        const struct rc__step_event *step;
};

static int handler_trampoline(lua_State *L) {
        struct handler_ctx *c = lua_touserdata(L, 1);

        lua_rawgeti(L, LUA_REGISTRYINDEX, c->p->handlers[c->event]);
        lua_rawgeti(L, -1, c->i);
        if (c->ev)
                rc__push_event(L, c->ev);
        else
                rc__push_step_event(L, c->p->e, c->step);
        lua_call(L, 1, 0);
        return 0;
}

static bool receives(const struct rc_engine *e, const struct rc__plugin *p) {
        return p->enabled && (!p->routine || p == e->routine);
}

/* Run p's handlers of one event, each in its own protected call, for as long as p
 * receives events (a failing handler may disable it). */
static void call_handlers(struct rc_engine *e, struct rc__plugin *p, int event,
                          const struct rc_event *ev, const struct rc__step_event *step) {
        for (unsigned i = 1; receives(e, p) && i <= p->n_handlers[event]; i++) {
                struct handler_ctx c = {.p = p, .event = event, .i = i, .ev = ev, .step = step};

                call_plugin(e, p, handler_trampoline, &c);
        }
}

static void drain(struct rc_engine *e);

/* Deliver one event to every plugin that receives it. */
static void deliver(struct rc_engine *e, int event, const struct rc_event *ev,
                    const struct rc__step_event *step) {
        e->depth++;
        for (unsigned k = 0; k < e->n_plugins; k++)
                call_handlers(e, e->plugins[k], event, ev, step);
        e->depth--;
        drain(e);
}

/* What plugins asked for during a dispatch happens once it is over: the step
 * events they queued (in order; a handler may queue more, up to RC__QUEUE_MAX
 * in a row), then a stop. */
static void drain(struct rc_engine *e) {
        unsigned delivered = 0;

        if (e->depth > 0 || e->draining)
                return;
        e->draining = true;
        while (e->queue_n > 0) {
                struct rc__step_event st = e->queue[0];

                memmove(e->queue, e->queue + 1, --e->queue_n * sizeof(e->queue[0]));
                if (delivered++ == RC__QUEUE_MAX) {
                        rc_log_warning("engine: more than %d steps in a row; the rest dropped",
                                       RC__QUEUE_MAX);
                        e->queue_n = 0;
                        break;
                }
                deliver(e, RC__EV_STEP, NULL, &st);
        }
        e->draining = false;
        if (e->stop_requested && e->session && !e->ended) {
                e->stop_requested = false;
                rc_session_end(e->session, e->now_ms, e->stop_reason);
        }
}

void rc__engine_queue_step(struct rc_engine *e, const char *step, const char *direction) {
        struct rc_action a = {.kind = RC_ACTION_STEP, .plugin = rc__routine_name(e)};
        struct rc__step_event *st;

        snprintf(e->step, sizeof(e->step), "%s", step);
        a.step.routine = rc__routine_name(e);
        a.step.step = e->step;
        a.step.direction = direction;
        rc__engine_emit(e, &a);
        if (e->queue_n >= RC__QUEUE_MAX) {
                rc_log_warning("engine: step event queue full; step %s not announced", step);
                return;
        }
        st = &e->queue[e->queue_n++];
        st->t_ms = e->now_ms;
        snprintf(st->step, sizeof(st->step), "%s", step);
        snprintf(st->direction, sizeof(st->direction), "%s", direction ? direction : "");
}

/* ---- actions ------------------------------------------------------------------------ */

void rc__engine_say(struct rc_engine *e, struct rc__plugin *p, const char *key, const char *text,
                    enum rc_priority prio) {
        const char *who = p ? p->name : NULL;
        struct rc_action a = {.kind = RC_ACTION_SAY, .plugin = who};
        uint64_t hash = 14695981039346656037u;
        unsigned i;

        /* a pain stop: the safety messages of the long press itself, then nothing */
        if (e->pain == RC__PAIN_STOPPED ||
            (e->pain == RC__PAIN_ENTERING && prio < RC_PRIORITY_SAFETY)) {
                e->stats.suppressed_says++;
                rc_log_debug("%s: '%s' not said: the session was stopped for pain",
                             who ? who : "engine", key);
                return;
        }
        for (const char *t = text; *t; t++)
                hash = (hash ^ (uint8_t)*t) * 1099511628211u; /* FNV-1a */
        for (i = 0; i < e->n_said; i++)
                if (strcmp(e->said[i].key, key) == 0)
                        break;
        /* the same message again: not said; a new text under the key is an update */
        if (i < e->n_said && e->said[i].text_hash == hash &&
            e->now_ms - e->said[i].t_ms < e->opts.say_dedupe_ms) {
                e->stats.suppressed_says++;
                return;
        }
        if (p && !rc__plugin_take(e, p, RC__BUCKET_SAY))
                return;
        if (i == e->n_said) {
                if (e->n_said < RC__DEDUPE_KEYS)
                        e->n_said++;
                else
                        i = e->said_next++ % RC__DEDUPE_KEYS; /* forget the oldest slot */
                snprintf(e->said[i].key, sizeof(e->said[i].key), "%s", key);
        }
        e->said[i].text_hash = hash;
        e->said[i].t_ms = e->now_ms;
        a.say.key = key;
        a.say.text = text;
        a.say.priority = prio;
        e->stats.says++;
        rc__engine_emit(e, &a);
}

/* ---- rate limits: a token bucket per plugin and kind, on the session clock ---- */

static const struct {
        const char *what;
        double burst, per_s;
} buckets[RC__BUCKET__COUNT] = {
        [RC__BUCKET_SAY] = {"messages", RC__SAY_BURST, RC__SAY_PER_S},
        [RC__BUCKET_LED] = {"LED changes", RC__LED_BURST, RC__LED_PER_S},
        [RC__BUCKET_OTHER] = {"steps, tracks and log lines", RC__OTHER_BURST, RC__OTHER_PER_S},
};

bool rc__plugin_take(struct rc_engine *e, struct rc__plugin *p, enum rc__bucket k) {
        struct rc__rate *b = &p->rate[k];

        if (!b->init) {
                b->init = true;
                b->tokens = buckets[k].burst;
                b->t_ms = e->now_ms;
        }
        if (e->now_ms > b->t_ms) {
                b->tokens += (double)(e->now_ms - b->t_ms) / 1000.0 * buckets[k].per_s;
                if (b->tokens > buckets[k].burst)
                        b->tokens = buckets[k].burst;
                b->t_ms = e->now_ms;
        }
        if (b->tokens >= 1) {
                b->tokens -= 1;
                return true;
        }
        if (b->dropped++ == 0)
                rc_log_warning("plugin %s: more than %g %s at once or %g a second; the rest are "
                               "dropped and counted (reported once)",
                               p->name, buckets[k].burst, buckets[k].what, buckets[k].per_s);
        e->stats.rate_limited++;
        return false;
}

/* ---- timers: an indexed binary heap on (due, seq) ---------------------------------- */

static bool timer_before(const struct rc__timer *a, const struct rc__timer *b) {
        return a->due_ms < b->due_ms || (a->due_ms == b->due_ms && a->seq < b->seq);
}

static void heap_set(struct rc_engine *e, unsigned i, struct rc__timer *t) {
        e->heap[i] = t;
        t->heap_pos = i;
}

static void heap_up(struct rc_engine *e, unsigned i) {
        struct rc__timer *t = e->heap[i];

        while (i > 0 && timer_before(t, e->heap[(i - 1) / 2])) {
                heap_set(e, i, e->heap[(i - 1) / 2]);
                i = (i - 1) / 2;
        }
        heap_set(e, i, t);
}

static void heap_down(struct rc_engine *e, unsigned i) {
        struct rc__timer *t = e->heap[i];

        for (;;) {
                unsigned c = 2 * i + 1;

                if (c >= e->heap_n)
                        break;
                if (c + 1 < e->heap_n && timer_before(e->heap[c + 1], e->heap[c]))
                        c++;
                if (!timer_before(e->heap[c], t))
                        break;
                heap_set(e, i, e->heap[c]);
                i = c;
        }
        heap_set(e, i, t);
}

static void heap_remove(struct rc_engine *e, struct rc__timer *t) {
        unsigned i = t->heap_pos;

        e->heap_n--;
        if (i == e->heap_n)
                return;
        heap_set(e, i, e->heap[e->heap_n]);
        heap_up(e, i);
        heap_down(e, e->heap[i]->heap_pos);
}

static void heap_push(struct rc_engine *e, struct rc__timer *t) {
        t->seq = e->timer_seq++;
        heap_set(e, e->heap_n++, t);
        heap_up(e, e->heap_n - 1);
}

int rc__engine_timer_add(struct rc_engine *e, struct rc__plugin *p, int fn_ref, int64_t delay_ms,
                         int64_t period_ms, uint32_t *ret_slot, uint32_t *ret_gen) {
        struct rc__timer *t = NULL;

        if (p->timers >= e->opts.timers)
                return -ENOSPC;
        for (unsigned i = 0; i < RC__MAX_TIMERS; i++)
                if (!e->timers[i].used) {
                        t = &e->timers[i];
                        break;
                }
        if (!t)
                return -ENOSPC;
        t->used = true;
        t->gen++;
        t->p = p;
        t->fn_ref = fn_ref;
        t->due_ms = e->now_ms + delay_ms;
        t->period_ms = period_ms;
        heap_push(e, t);
        p->timers++;
        *ret_slot = (uint32_t)(t - e->timers);
        *ret_gen = t->gen;
        return 0;
}

static void timer_release(struct rc__timer *t) {
        if (t->p->sb.L)
                luaL_unref(t->p->sb.L, LUA_REGISTRYINDEX, t->fn_ref);
        t->p->timers--;
        t->used = false;
}

void rc__engine_timer_cancel(struct rc_engine *e, struct rc__plugin *p, uint32_t slot,
                             uint32_t gen) {
        struct rc__timer *t;

        if (slot >= RC__MAX_TIMERS)
                return;
        t = &e->timers[slot];
        if (!t->used || t->gen != gen || t->p != p)
                return; /* fired (once) or cancelled already */
        if (t->heap_pos < e->heap_n && e->heap[t->heap_pos] == t)
                heap_remove(e, t);
        timer_release(t);
}

static void cancel_plugin_timers(struct rc_engine *e, struct rc__plugin *p) {
        for (unsigned i = 0; i < RC__MAX_TIMERS; i++)
                if (e->timers[i].used && e->timers[i].p == p)
                        rc__engine_timer_cancel(e, p, i, e->timers[i].gen);
}

struct timer_ctx {
        int fn_ref;
};

static int timer_trampoline(lua_State *L) {
        struct timer_ctx *c = lua_touserdata(L, 1);

        lua_rawgeti(L, LUA_REGISTRYINDEX, c->fn_ref);
        lua_call(L, 0, 0);
        return 0;
}

void rc_engine_advance(struct rc_engine *e, int64_t t_ms) {
        /* Only timers that existed before this call fire in it: a callback that
         * schedules another for now (or re-arms itself) waits for the next call,
         * so a chain of timers cannot spin here forever. */
        uint64_t limit = e->timer_seq;

        while (e->heap_n > 0 && e->heap[0]->due_ms <= t_ms && e->heap[0]->seq < limit) {
                struct rc__timer *t = e->heap[0];
                struct timer_ctx c = {.fn_ref = t->fn_ref};
                uint32_t gen = t->gen;
                struct rc__plugin *p = t->p;

                heap_remove(e, t);
                if (t->due_ms > e->now_ms)
                        e->now_ms = t->due_ms;
                e->stats.timer_fires++;
                e->depth++;
                call_plugin(e, p, timer_trampoline, &c);
                e->depth--;
                /* unless the callback cancelled it (or its plugin was disabled) */
                if (t->used && t->gen == gen && t->period_ms == 0) {
                        timer_release(t); /* a one-shot timer is spent */
                } else if (t->used && t->gen == gen) {
                        /* next period; a timer that fell behind fires once and catches up */
                        int64_t next = t->due_ms + t->period_ms;

                        if (next <= t_ms)
                                next = t->due_ms +
                                       t->period_ms * ((t_ms - t->due_ms) / t->period_ms + 1);
                        t->due_ms = next;
                        heap_push(e, t);
                }
                drain(e);
        }
        if (t_ms > e->now_ms)
                e->now_ms = t_ms;
}

void rc_engine_advance_hook(int64_t t_ms, void *engine) {
        rc_engine_advance(engine, t_ms);
}

int64_t rc_engine_next_due(const struct rc_engine *e) {
        return e->heap_n ? e->heap[0]->due_ms : INT64_MAX;
}

/* ---- loading ------------------------------------------------------------------------ */

struct load_ctx {
        const char *src;
        size_t len;
        const char *chunkname;
        char *compile_error; /* RC__SANDBOX_ERR_MAX bytes: "file:line: message" */
};

/* The API, then the plugin's own code (text only). A compile error is handed
 * back as it is (file:line: message), without a traceback of the loader. */
static int load_trampoline(lua_State *L) {
        struct load_ctx *c = lua_touserdata(L, 1);
        int r;

        lua_pushcfunction(L, rc__coach_open);
        lua_call(L, 0, 0);
        r = luaL_loadbufferx(L, c->src, c->len, c->chunkname, "t");
        if (r == LUA_ERRSYNTAX) {
                snprintf(c->compile_error, RC__SANDBOX_ERR_MAX, "%s", lua_tostring(L, -1));
                return 0;
        }
        if (r != LUA_OK)
                return lua_error(L);
        rc__sandbox_restart(rc__sandbox_of(L));
        lua_call(L, 0, 0);
        return 0;
}

/* Compile and run a plugin file in a fresh sandbox. On success *ret is a loaded,
 * enabled plugin, not yet in the table. Failures are reported here. */
static int load_plugin(struct rc_engine *e, const char *path, unsigned dir_index,
                       struct rc__plugin **ret) {
        char err[RC__SANDBOX_ERR_MAX], chunkname[300], compile_error[RC__SANDBOX_ERR_MAX] = "";
        struct load_ctx c = {.chunkname = chunkname, .compile_error = compile_error};
        const char *base = strrchr(path, '/');
        struct rc__plugin *p;
        size_t nlen;
        char *src = NULL;
        int r;

        r = rc_read_file(path, RC__PLUGIN_FILE_MAX, &src, &c.len);
        if (r < 0) {
                rc_log_error("plugin %s: cannot read it: %s", path,
                             r == -EFBIG ? "larger than 1 MiB" : strerror(-r));
                return r == -ENOMEM ? -ENOMEM : -EINVAL;
        }
        c.src = src;
        p = calloc(1, sizeof(*p));
        if (!p || !(p->path = strdup(path))) {
                free(p);
                free(src);
                return -ENOMEM;
        }
        p->e = e;
        p->dir_index = dir_index;
        base = base ? base + 1 : path;
        nlen = strlen(base);
        if (nlen > 4 && strcmp(base + nlen - 4, ".lua") == 0)
                nlen -= 4;
        snprintf(p->name, sizeof(p->name), "%.*s", (int)nlen, base);
        snprintf(chunkname, sizeof(chunkname), "@%s", path);
        for (unsigned i = 0; i < RC__N_EVENTS; i++)
                p->handlers[i] = LUA_NOREF;
        p->enabled = true;

        r = rc__sandbox_open(&p->sb, p->name, e->opts.memory, e->opts.instructions,
                             e->opts.callback_ms, p);
        if (r == 0)
                r = run_protected(e, p, load_trampoline, &c, err, sizeof(err));
        else
                snprintf(err, sizeof(err), "out of memory");
        free(src);
        if (r == 0 && compile_error[0]) {
                snprintf(err, sizeof(err), "%s", compile_error);
                r = -EINVAL;
        }
        if (r == 0 && !p->declared) {
                snprintf(err, sizeof(err),
                         "it never declared itself: call coach.plugin{api = %d} first",
                         RC_ENGINE_API_LEVEL);
                r = -EINVAL;
        }
        if (r < 0) {
                rc_log_error("plugin %s not loaded: %s", path, err);
                plugin_free(p);
                return r == -ENOMEM ? -ENOMEM : -EINVAL;
        }
        p->failures = 0;
        p->callbacks = 0;
        rc__store_load(e, p);
        *ret = p;
        return 0;
}

int rc_engine_find(const struct rc_engine *e, const char *name) {
        for (unsigned i = 0; i < e->n_plugins; i++)
                if (strcmp(e->plugins[i]->name, name) == 0)
                        return (int)i;
        return -ENOENT;
}

/* Put p in slot i in place of the plugin there (its timers cancelled, its store
 * handed over, its state closed). */
static void replace_plugin(struct rc_engine *e, unsigned i, struct rc__plugin *p) {
        struct rc__plugin *old = e->plugins[i];

        if (old->store && old->store_dirty) {
                cJSON_Delete(p->store);
                p->store = old->store;
                p->store_dirty = true;
                old->store = NULL;
        }
        if (e->routine == old)
                e->routine = p;
        e->plugins[i] = p;
        plugin_free(old);
}

static int add_plugin(struct rc_engine *e, const char *path, unsigned dir_index, bool reload) {
        struct rc__plugin *p;
        int r = load_plugin(e, path, dir_index, &p), i;

        if (r < 0)
                return r;
        i = rc_engine_find(e, p->name);
        if (i >= 0 && !reload && e->plugins[i]->dir_index >= dir_index) {
                rc_log_error("plugin %s: a plugin named '%s' is already loaded from %s", path,
                             p->name, e->plugins[i]->path);
                plugin_free(p);
                return -EEXIST;
        }
        if (i >= 0) {
                if (!reload)
                        rc_log_info("plugin %s from %s overrides %s", p->name, path,
                                    e->plugins[i]->path);
                replace_plugin(e, (unsigned)i, p);
                return i;
        }
        if (e->n_plugins >= RC_ENGINE_MAX_PLUGINS) {
                rc_log_error("plugin %s: the hub runs at most %d plugins", path,
                             RC_ENGINE_MAX_PLUGINS);
                plugin_free(p);
                return -ENOSPC;
        }
        e->plugins[e->n_plugins] = p;
        return (int)e->n_plugins++;
}

int rc_engine_load_file(struct rc_engine *e, const char *path) {
        int r = add_plugin(e, path, RC_ENGINE_MAX_DIRS, false);

        return r < 0 ? r : 0;
}

static int lua_file(const struct dirent *d) {
        size_t n = strlen(d->d_name);

        return d->d_name[0] != '.' && n > 4 && strcmp(d->d_name + n - 4, ".lua") == 0;
}

int rc_engine_load_all(struct rc_engine *e) {
        int loaded = 0;

        for (unsigned d = 0; d < e->opts.n_dirs; d++) {
                struct dirent **list;
                int n = scandir(e->dirs[d], &list, lua_file, alphasort);

                if (n < 0) {
                        if (errno != ENOENT)
                                rc_log_warning("plugin directory %s: %s", e->dirs[d],
                                               strerror(errno));
                        continue;
                }
                for (int i = 0; i < n; i++) {
                        char path[4096];
                        int r;

                        snprintf(path, sizeof(path), "%s/%s", e->dirs[d], list[i]->d_name);
                        r = add_plugin(e, path, d, false);
                        if (r == -ENOMEM) {
                                while (i < n)
                                        free(list[i++]);
                                free(list);
                                return -ENOMEM;
                        }
                        loaded += r >= 0;
                        free(list[i]);
                }
                free(list);
        }
        return loaded;
}

int rc_engine_reload(struct rc_engine *e, const char *path) {
        struct rc_action a = {.kind = RC_ACTION_PLUGIN};
        int i = -1;

        /* the plugin being replaced keeps its place in the load order */
        for (unsigned k = 0; k < e->n_plugins; k++)
                if (strcmp(e->plugins[k]->path, path) == 0)
                        i = (int)k;
        i = add_plugin(e, path, i >= 0 ? e->plugins[i]->dir_index : RC_ENGINE_MAX_DIRS, true);
        if (i < 0) {
                rc_log_warning("plugin %s: reload failed; the running version goes on", path);
                return i;
        }
        rc_log_info("plugin %s reloaded from %s", e->plugins[i]->name, path);
        a.plugin = e->plugins[i]->name;
        a.plugin_state.state = "reloaded";
        a.plugin_state.reason = path;
        rc__engine_emit(e, &a);
        /* mid-session, the new version learns where the session is */
        if (e->started && !e->ended && receives(e, e->plugins[i])) {
                struct rc_event ev = {.type = RC_EV_SESSION_START, .t_ms = e->now_ms};

                ev.session_start.routine = rc__routine_name(e);
                ev.session_start.step = e->step[0] ? e->step : NULL;
                e->depth++;
                call_handlers(e, e->plugins[i], RC_EV_SESSION_START, &ev, NULL);
                e->depth--;
                drain(e);
        }
        return 0;
}

/* ---- the session ------------------------------------------------------------------ */

bool rc__plugin_has_step(const struct rc__plugin *p, const char *step) {
        for (unsigned i = 0; i < p->n_steps; i++)
                if (strcmp(p->steps[i], step) == 0)
                        return true;
        return false;
}

static void on_event(const struct rc_event *ev, void *userdata) {
        struct rc_engine *e = userdata;
        struct rc_action a = {.kind = RC_ACTION_SESSION};

        if (ev->t_ms > e->now_ms)
                e->now_ms = ev->t_ms;
        if (ev->type == RC_EV_SESSION_START) {
                e->started = true;
                e->start_ms = ev->t_ms;
                if (ev->session_start.step)
                        snprintf(e->step, sizeof(e->step), "%s", ev->session_start.step);
                a.session.started = true;
                a.session.routine = ev->session_start.routine;
                a.session.step = ev->session_start.step;
                rc__engine_emit(e, &a);
        }
        if (ev->type == RC_EV_BUTTON && ev->button.press == RC_PRESS_LONG &&
            e->pain == RC__PAIN_NONE) {
                /* the hub's decision, not a plugin's: the plugins hear the press
                 * (the safety plugin says why it stopped), and from then on nothing
                 * but the stop light */
                rc_log_notice("pain stop: a long press; the session stops");
                e->pain = RC__PAIN_ENTERING;
                deliver(e, (int)ev->type, ev, NULL);
                e->pain = RC__PAIN_STOPPED;
        } else {
                deliver(e, (int)ev->type, ev, NULL);
        }
        if (ev->type == RC_EV_SESSION_END) {
                e->ended = true;
                a.session.started = false;
                a.session.routine = rc__routine_name(e);
                a.session.reason = ev->session_end.reason;
                rc__engine_emit(e, &a);
                /* the session is over: no timer outlives it */
                for (unsigned i = 0; i < e->n_plugins; i++) {
                        cancel_plugin_timers(e, e->plugins[i]);
                        rc__store_flush(e, e->plugins[i]);
                }
                rc__history_append(e, ev->session_end.duration_s);
        }
}

int rc_engine_attach(struct rc_engine *e, struct rc_session *s, const char *routine,
                     const char *step) {
        int i;

        if (e->session)
                return -EALREADY;
        if (step && !routine) {
                rc_log_error("a step (%s) needs a routine", step);
                return -EINVAL;
        }
        if (routine) {
                i = rc_engine_find(e, routine);
                if (i < 0 || !e->plugins[i]->routine || !e->plugins[i]->enabled) {
                        char names[512] = "";

                        for (unsigned k = 0; k < e->n_plugins; k++)
                                if (e->plugins[k]->routine && e->plugins[k]->enabled)
                                        snprintf(names + strlen(names),
                                                 sizeof(names) - strlen(names), "%s%s",
                                                 names[0] ? ", " : "", e->plugins[k]->name);
                        rc_log_error("no routine named '%s' (routines: %s)", routine,
                                     names[0] ? names : "none loaded");
                        return -ENOENT;
                }
                if (step && !rc__plugin_has_step(e->plugins[i], step)) {
                        char names[1024] = "";

                        for (unsigned k = 0; k < e->plugins[i]->n_steps; k++)
                                snprintf(names + strlen(names), sizeof(names) - strlen(names),
                                         "%s%s", k ? ", " : "", e->plugins[i]->steps[k]);
                        rc_log_error("routine %s has no step '%s' (steps: %s)", routine, step,
                                     names);
                        return -ENOENT;
                }
                e->routine = e->plugins[i];
        }
        i = rc_session_subscribe(s, on_event, e);
        if (i < 0)
                return i;
        e->session = s;
        return 0;
}

/* ---- introspection ---------------------------------------------------------------- */

unsigned rc_engine_plugin_count(const struct rc_engine *e) {
        return e->n_plugins;
}

unsigned rc_engine_dir_count(const struct rc_engine *e) {
        return e->opts.n_dirs;
}

const char *rc_engine_dir(const struct rc_engine *e, unsigned i) {
        return i < e->opts.n_dirs ? e->dirs[i] : NULL;
}

int rc_engine_plugin_info(const struct rc_engine *e, unsigned i,
                          struct rc_engine_plugin_info *ret) {
        const struct rc__plugin *p;

        if (i >= e->n_plugins)
                return -ENOENT;
        p = e->plugins[i];
        memset(ret, 0, sizeof(*ret));
        snprintf(ret->name, sizeof(ret->name), "%s", p->name);
        ret->path = p->path;
        ret->enabled = p->enabled;
        ret->routine = p->routine;
        ret->failures = p->failures;
        ret->timers = p->timers;
        ret->memory = p->sb.mem;
        ret->callbacks = p->callbacks;
        return 0;
}

void rc_engine_stats(const struct rc_engine *e, struct rc_engine_stats *ret) {
        *ret = e->stats;
}
