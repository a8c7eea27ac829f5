/* rollcoach — the `coach` API a plugin sees (docs/plugins.md, API level 1).
 * Every function validates its arguments and raises a Lua error naming what is
 * wrong; the engine counts such errors against the plugin. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include <lauxlib.h>

#include "engine/engine_internal.h"
#include "util/log.h"

#define TIMER_META "rollcoach.timer"
#define MAX_DELAY_MS (24 * 3600 * 1000)
#define MIN_PERIOD_MS 100

struct timer_handle {
        uint32_t slot, gen;
};

static struct rc__plugin *plugin_of(lua_State *L) {
        return rc__sandbox_of(L)->owner;
}

/* The calling plugin, declared, and not killed: a callback killed for its budget
 * acts no more, even where a pcall or a coroutine caught the kill. Each call is
 * charged RC__SANDBOX_API_UNITS. */
static struct rc__plugin *declared(lua_State *L) {
        struct rc__plugin *p = plugin_of(L);

        rc__sandbox_charge(L, RC__SANDBOX_API_UNITS);
        if (!p->declared)
                luaL_error(L, "call coach.plugin{api = %d} before anything else",
                           RC_ENGINE_API_LEVEL);
        return p;
}

/* [a-z0-9_] plus the characters in `extra`, 1..max bytes. */
static bool valid_id(const char *s, size_t len, size_t max, const char *extra) {
        if (len == 0 || len > max)
                return false;
        for (size_t i = 0; i < len; i++) {
                char c = s[i];

                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                      strchr(extra, c)))
                        return false;
        }
        return true;
}

static const char *check_id(lua_State *L, int arg, size_t max, const char *extra,
                            const char *what) {
        size_t len;
        const char *s = luaL_checklstring(L, arg, &len);

        if (!valid_id(s, len, max, extra))
                luaL_error(L, "bad %s '%s': expected 1 to %d characters of a-z, 0-9, _%s", what, s,
                           (int)max, extra);
        return s;
}

/* Valid UTF-8 (no overlongs, surrogates or code points past U+10FFFF), with no
 * NUL and no control character but tab and newline: text the voice, the JSON
 * outputs and the log can all carry whole. */
static bool valid_text(const char *s, size_t len) {
        const unsigned char *u = (const unsigned char *)s;

        for (size_t i = 0; i < len;) {
                unsigned c = u[i], n, cp;

                if (c < 0x80) {
                        if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f)
                                return false;
                        i++;
                        continue;
                }
                if (c >= 0xc2 && c <= 0xdf)
                        n = 1, cp = c & 0x1f;
                else if (c >= 0xe0 && c <= 0xef)
                        n = 2, cp = c & 0x0f;
                else if (c >= 0xf0 && c <= 0xf4)
                        n = 3, cp = c & 0x07;
                else
                        return false;
                if (i + n >= len)
                        return false; /* cut short */
                for (unsigned k = 1; k <= n; k++) {
                        if ((u[i + k] & 0xc0) != 0x80)
                                return false;
                        cp = cp << 6 | (u[i + k] & 0x3f);
                }
                if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
                    (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
                        return false;
                i += n + 1;
        }
        return true;
}

/* ---- events --------------------------------------------------------------------- */

int rc__event_index(const char *name) {
        for (int i = 0; i < RC_EV__COUNT; i++)
                if (strcmp(name, rc_event_name(i)) == 0)
                        return i;
        if (strcmp(name, "step") == 0)
                return RC__EV_STEP;
        return -1;
}

static void set_str(lua_State *L, const char *k, const char *v) {
        if (!v)
                return;
        lua_pushstring(L, v);
        lua_setfield(L, -2, k);
}

static void set_num(lua_State *L, const char *k, double v) {
        if (isnan(v))
                return;
        lua_pushnumber(L, v);
        lua_setfield(L, -2, k);
}

static void set_int(lua_State *L, const char *k, int64_t v) {
        lua_pushinteger(L, (lua_Integer)v);
        lua_setfield(L, -2, k);
}

void rc__push_event(lua_State *L, const struct rc_event *ev) {
        lua_createtable(L, 0, 8);
        set_str(L, "event", rc_event_name(ev->type));
        set_int(L, "t_ms", ev->t_ms);
        set_str(L, "device", ev->device);
        switch (ev->type) {
        case RC_EV_DEVICE:
                set_str(L, "kind", rc_device_kind_name(ev->dev.kind));
                set_str(L, "state", ev->dev.connected ? "connected" : "disconnected");
                set_str(L, "name", ev->dev.name);
                break;
        case RC_EV_MOTION:
                set_num(L, "speed_cm_s", ev->motion.speed_cm_s);
                set_num(L, "travel_cm", ev->motion.travel_cm);
                set_num(L, "force_n", ev->motion.force_n);
                set_num(L, "jerk", ev->motion.jerk);
                lua_pushboolean(L, ev->motion.loaded);
                lua_setfield(L, -2, "loaded");
                break;
        case RC_EV_HOLD_START:
                set_num(L, "travel_cm", ev->hold_start.travel_cm);
                set_num(L, "force_n", ev->hold_start.force_n);
                set_int(L, "since_ms", ev->hold_start.since_ms);
                break;
        case RC_EV_HOLD_END:
                set_num(L, "duration_s", ev->hold_end.duration_s);
                set_num(L, "mean_force_n", ev->hold_end.mean_force_n);
                break;
        case RC_EV_POSTURE:
                set_str(L, "posture", rc_posture_name(ev->posture.posture));
                set_num(L, "trunk_pitch_deg", ev->posture.trunk_pitch_deg);
                break;
        case RC_EV_HR:
                set_int(L, "bpm", ev->hr.bpm);
                set_num(L, "rmssd_ms", ev->hr.rmssd_ms);
                set_num(L, "breath_rate", ev->hr.breath_rate);
                if (ev->hr.contact != RC_CONTACT_UNSUPPORTED) {
                        lua_pushboolean(L, ev->hr.contact == RC_CONTACT_OK);
                        lua_setfield(L, -2, "contact");
                }
                break;
        case RC_EV_BUTTON:
                set_str(L, "press", rc_press_name(ev->button.press));
                break;
        case RC_EV_BATTERY:
                set_int(L, "percent", ev->battery.percent);
                break;
        case RC_EV_SESSION_START:
                set_str(L, "routine", ev->session_start.routine);
                set_str(L, "step", ev->session_start.step);
                break;
        case RC_EV_SESSION_END:
                set_str(L, "reason", ev->session_end.reason);
                set_num(L, "duration_s", ev->session_end.duration_s);
                set_num(L, "mean_hr", ev->session_end.mean_hr);
                set_num(L, "rmssd_ms", ev->session_end.rmssd_ms);
                break;
        case RC_EV_PACKET_LOSS:
                set_int(L, "lost", ev->packet_loss.lost);
                set_int(L, "total", ev->packet_loss.total);
                break;
        default:
                break;
        }
}

void rc__push_step_event(lua_State *L, const struct rc_engine *e, const struct rc__step_event *st) {
        lua_createtable(L, 0, 5);
        set_str(L, "event", "step");
        set_int(L, "t_ms", st->t_ms);
        set_str(L, "routine", rc__routine_name(e));
        set_str(L, "step", st->step);
        set_str(L, "direction", st->direction[0] ? st->direction : NULL);
}

/* ---- coach.plugin, coach.on --------------------------------------------------------- */

static int coach_plugin(lua_State *L) {
        struct rc__plugin *p = plugin_of(L);
        lua_Integer api;
        int isnum;

        luaL_checktype(L, 1, LUA_TTABLE);
        if (p->declared)
                return luaL_error(L, "coach.plugin: called twice");
        lua_getfield(L, 1, "api");
        api = lua_tointegerx(L, -1, &isnum);
        if (!isnum || api < 1)
                return luaL_error(L,
                                  "coach.plugin: 'api' must be the API level the plugin needs "
                                  "(an integer; this hub offers %d)",
                                  RC_ENGINE_API_LEVEL);
        if (api > RC_ENGINE_API_LEVEL)
                return luaL_error(L,
                                  "needs plugin API level %d, but this hub offers level %d: "
                                  "update rollcoach to run it",
                                  (int)api, RC_ENGINE_API_LEVEL);
        lua_pop(L, 1);
        if (lua_getfield(L, 1, "name") != LUA_TNIL) {
                const char *name = check_id(L, -1, RC_ENGINE_NAME_MAX, "-", "plugin name");

                snprintf(p->name, sizeof(p->name), "%s", name);
        }
        lua_pop(L, 1);
        if (lua_getfield(L, 1, "description") != LUA_TNIL) {
                size_t len;

                luaL_checklstring(L, -1, &len);
                if (len > 200)
                        return luaL_error(L, "coach.plugin: description longer than 200 bytes");
        }
        lua_pop(L, 1);
        lua_getfield(L, 1, "routine");
        p->routine = lua_toboolean(L, -1);
        lua_pop(L, 1);
        if (lua_getfield(L, 1, "steps") != LUA_TNIL) {
                lua_Integer n;

                luaL_checktype(L, -1, LUA_TTABLE);
                n = luaL_len(L, -1);
                if (n < 1 || n > RC__MAX_STEPS)
                        return luaL_error(L, "coach.plugin: 1 to %d steps", RC__MAX_STEPS);
                for (lua_Integer i = 1; i <= n; i++) {
                        const char *id;

                        lua_rawgeti(L, -1, i);
                        id = check_id(L, -1, RC_ENGINE_NAME_MAX, "", "step id");
                        if (strcmp(id, "done") == 0 || rc__plugin_has_step(p, id))
                                return luaL_error(L,
                                                  "coach.plugin: step '%s' is reserved or "
                                                  "repeated",
                                                  id);
                        snprintf(p->steps[p->n_steps++], sizeof(p->steps[0]), "%s", id);
                        lua_pop(L, 1);
                }
        }
        lua_pop(L, 1);
        if (p->routine && p->n_steps == 0)
                return luaL_error(L, "coach.plugin: a routine lists its steps");
        p->declared = true;
        return 0;
}

static int coach_on(lua_State *L) {
        struct rc__plugin *p = declared(L);
        const char *name = luaL_checkstring(L, 1);
        int idx = rc__event_index(name);

        luaL_checktype(L, 2, LUA_TFUNCTION);
        if (idx < 0)
                return luaL_error(L, "coach.on: unknown event '%s'", name);
        if (p->n_handlers[idx] >= RC__MAX_HANDLERS)
                return luaL_error(L, "coach.on: at most %d handlers for '%s'", RC__MAX_HANDLERS,
                                  name);
        if (p->handlers[idx] == LUA_NOREF) {
                lua_newtable(L);
                p->handlers[idx] = luaL_ref(L, LUA_REGISTRYINDEX);
        }
        lua_rawgeti(L, LUA_REGISTRYINDEX, p->handlers[idx]);
        lua_pushvalue(L, 2);
        lua_rawseti(L, -2, (lua_Integer)++p->n_handlers[idx]);
        return 0;
}

/* ---- actions ---------------------------------------------------------------------- */

static int coach_say(lua_State *L) {
        struct rc__plugin *p = declared(L);
        const char *key = check_id(L, 1, RC__KEY_MAX, ".", "message key");
        size_t len;
        const char *text = luaL_checklstring(L, 2, &len);
        enum rc_priority prio = RC_PRIORITY_INFO;

        if (len == 0 || len > RC__TEXT_MAX)
                return luaL_error(L, "coach.say: the text must be 1 to %d bytes", RC__TEXT_MAX);
        if (!valid_text(text, len))
                return luaL_error(L,
                                  "coach.say: the text of '%s' is not valid UTF-8 without NUL "
                                  "or control characters",
                                  key);
        if (!strchr(key, '.'))
                return luaL_error(L, "coach.say: a key is 'priority.name', e.g. 'cue.step'");
        if (strncmp(key, "safety.", 7) == 0)
                prio = RC_PRIORITY_SAFETY;
        else if (strncmp(key, "warn.", 5) == 0)
                prio = RC_PRIORITY_WARNING;
        else if (strncmp(key, "cue.", 4) == 0)
                prio = RC_PRIORITY_CUE;
        if (!lua_isnoneornil(L, 3)) {
                luaL_checktype(L, 3, LUA_TTABLE);
                if (lua_getfield(L, 3, "priority") != LUA_TNIL &&
                    rc_priority_from_name(luaL_checkstring(L, -1), &prio) < 0)
                        return luaL_error(L, "coach.say: priority is safety, warning, cue or info");
                lua_pop(L, 1);
        }
        rc__engine_say(p->e, p, key, text, prio);
        return 0;
}

static int coach_led(lua_State *L) {
        struct rc__plugin *p = declared(L);
        struct rc_action a = {.kind = RC_ACTION_LED, .plugin = p->name};
        enum rc_led_pattern pat;

        if (rc_led_from_name(luaL_checkstring(L, 1), &pat) < 0)
                return luaL_error(L, "coach.led: the pattern is ok, hold, warn, stop or off");
        if (p->e->pain != RC__PAIN_NONE && pat != RC_LED_STOP)
                return 0; /* a pain stop's stop light stays */
        if (!rc__plugin_take(p->e, p, RC__BUCKET_LED))
                return 0;
        a.led.pattern = pat;
        p->e->stats.leds++;
        rc__engine_emit(p->e, &a);
        return 0;
}

/* ---- timers ------------------------------------------------------------------------ */

static int add_timer(lua_State *L, bool periodic) {
        struct rc__plugin *p = declared(L);
        lua_Number ms = luaL_checknumber(L, 1);
        struct timer_handle *h;
        uint32_t slot, gen;
        int ref, r;

        luaL_checktype(L, 2, LUA_TFUNCTION);
        if (!(ms >= (periodic ? MIN_PERIOD_MS : 0)) || ms > MAX_DELAY_MS)
                return luaL_error(L, "%s: the time must be %d ms to 24 h",
                                  periodic ? "coach.every" : "coach.after",
                                  periodic ? MIN_PERIOD_MS : 0);
        h = lua_newuserdatauv(L, sizeof(*h), 0);
        luaL_setmetatable(L, TIMER_META);
        lua_pushvalue(L, 2);
        ref = luaL_ref(L, LUA_REGISTRYINDEX);
        r = rc__engine_timer_add(p->e, p, ref, (int64_t)ms, periodic ? (int64_t)ms : 0, &slot,
                                 &gen);
        if (r < 0) {
                luaL_unref(L, LUA_REGISTRYINDEX, ref);
                return luaL_error(L, "too many timers: at most %d a plugin",
                                  (int)p->e->opts.timers);
        }
        h->slot = slot;
        h->gen = gen;
        return 1;
}

static int coach_after(lua_State *L) {
        return add_timer(L, false);
}
static int coach_every(lua_State *L) {
        return add_timer(L, true);
}

static int timer_cancel(lua_State *L) {
        struct timer_handle *h = luaL_checkudata(L, 1, TIMER_META);
        struct rc__plugin *p = plugin_of(L);

        rc__engine_timer_cancel(p->e, p, h->slot, h->gen);
        return 0;
}

/* ---- the session ----------------------------------------------------------------- */

static enum rc_track_direction check_direction(lua_State *L, int idx, const char *fn) {
        enum rc_track_direction d;

        if (rc_track_direction_from_name(luaL_checkstring(L, idx), &d) < 0)
                luaL_error(L, "%s: direction is \"cranial\" or \"caudal\"", fn);
        return d;
}

static int coach_track(lua_State *L) {
        struct rc__plugin *p = declared(L);
        const char *device = NULL;
        enum rc_track_direction d;

        luaL_checktype(L, 1, LUA_TTABLE);
        lua_getfield(L, 1, "direction");
        d = check_direction(L, -1, "coach.track");
        if (lua_getfield(L, 1, "device") != LUA_TNIL)
                device = luaL_checkstring(L, -1);
        if (!rc__plugin_take(p->e, p, RC__BUCKET_OTHER)) {
                lua_pushboolean(L, 0);
                return 1;
        }
        lua_pushboolean(L, p->e->session && rc_session_track(p->e->session, device, d) == 0);
        return 1;
}

static int coach_step(lua_State *L) {
        struct rc__plugin *p = declared(L);
        const char *id = check_id(L, 1, RC_ENGINE_NAME_MAX, "", "step id");
        const char *direction = NULL;

        if (p != p->e->routine)
                return luaL_error(L, "coach.step: only the session's routine has steps");
        if (strcmp(id, "done") != 0 && !rc__plugin_has_step(p, id))
                return luaL_error(L, "coach.step: '%s' is not one of this routine's steps", id);
        if (!lua_isnoneornil(L, 2)) {
                enum rc_track_direction d;

                luaL_checktype(L, 2, LUA_TTABLE);
                if (lua_getfield(L, 2, "direction") != LUA_TNIL) {
                        d = check_direction(L, -1, "coach.step");
                        direction = rc_track_direction_name(d);
                        if (p->e->session)
                                rc_session_track(p->e->session, NULL, d);
                }
        }
        if (!rc__plugin_take(p->e, p, RC__BUCKET_OTHER))
                return 0;
        rc__engine_queue_step(p->e, id, direction);
        return 0;
}

static int coach_stop(lua_State *L) {
        struct rc__plugin *p = declared(L);
        const char *reason = check_id(L, 1, 31, "", "stop reason");

        if (!p->e->stop_requested) {
                p->e->stop_requested = true;
                snprintf(p->e->stop_reason, sizeof(p->e->stop_reason), "%s", reason);
        }
        return 0;
}

static int coach_now(lua_State *L) {
        lua_pushinteger(L, (lua_Integer)plugin_of(L)->e->now_ms);
        return 1;
}

static int coach_log(lua_State *L) {
        struct rc__plugin *p = declared(L);
        const char *level = luaL_checkstring(L, 1);
        size_t len;
        const char *text = luaL_checklstring(L, 2, &len);
        enum rc_log_level l;

        if (rc_log_level_from_string(level, &l) < 0 || l == RC_LOG_NOTICE)
                return luaL_error(L, "coach.log: level is debug, info, warning or error");
        if (!rc__plugin_take(p->e, p, RC__BUCKET_OTHER))
                return 0;
        rc_log(l, "plugin %s: %.*s", p->name, (int)(len < 1000 ? len : 1000), text);
        return 0;
}

static int limited_print(lua_State *L) {
        struct rc__plugin *p = plugin_of(L);

        if (!rc__plugin_take(p->e, p, RC__BUCKET_OTHER))
                return 0;
        lua_pushvalue(L, lua_upvalueindex(1));
        lua_insert(L, 1);
        lua_call(L, lua_gettop(L) - 1, 0);
        return 0;
}

static int session_index(lua_State *L) {
        const struct rc_engine *e = plugin_of(L)->e;
        const char *k = luaL_checkstring(L, 2);

        if (strcmp(k, "routine") == 0 && e->routine)
                lua_pushstring(L, e->routine->name);
        else if (strcmp(k, "step") == 0 && e->step[0])
                lua_pushstring(L, e->step);
        else if (strcmp(k, "started") == 0)
                lua_pushboolean(L, e->started && !e->ended);
        else if (strcmp(k, "ended") == 0)
                lua_pushboolean(L, e->ended);
        else
                lua_pushnil(L);
        return 1;
}

static int session_newindex(lua_State *L) {
        return luaL_error(L, "coach.session is read-only");
}

/* ---- store and history ----------------------------------------------------------- */

static int store_get(lua_State *L) {
        struct rc__plugin *p = declared(L);
        const char *key = luaL_checkstring(L, 1);
        const cJSON *v = p->store ? cJSON_GetObjectItemCaseSensitive(p->store, key) : NULL;

        if (cJSON_IsString(v))
                lua_pushstring(L, v->valuestring);
        else if (cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) &&
                 fabs(v->valuedouble) < 9007199254740992.0)
                lua_pushinteger(L, (lua_Integer)v->valuedouble); /* 3 stays 3, not 3.0 */
        else if (cJSON_IsNumber(v))
                lua_pushnumber(L, v->valuedouble);
        else if (cJSON_IsBool(v))
                lua_pushboolean(L, cJSON_IsTrue(v));
        else
                lua_pushnil(L);
        return 1;
}

static int store_set(lua_State *L) {
        struct rc__plugin *p = declared(L);
        size_t klen;
        const char *key = luaL_checklstring(L, 1, &klen);
        cJSON *v = NULL;
        int r;

        if (klen == 0 || klen > 64)
                return luaL_error(L, "coach.store.set: keys are 1 to 64 bytes");
        switch (lua_type(L, 2)) {
        case LUA_TNIL:
        case LUA_TNONE:
                break;
        case LUA_TSTRING: {
                size_t len;
                const char *s = lua_tolstring(L, 2, &len);

                if (len > 1024 || strlen(s) != len)
                        return luaL_error(L, "coach.store.set: strings are at most 1024 bytes, "
                                             "without NUL");
                v = cJSON_CreateString(s);
                break;
        }
        case LUA_TNUMBER:
                if (!isfinite(lua_tonumber(L, 2)))
                        return luaL_error(L, "coach.store.set: numbers must be finite");
                v = cJSON_CreateNumber(lua_tonumber(L, 2));
                break;
        case LUA_TBOOLEAN:
                v = cJSON_CreateBool(lua_toboolean(L, 2));
                break;
        default:
                return luaL_error(L, "coach.store.set: values are strings, numbers, booleans "
                                     "or nil");
        }
        if (!v && !lua_isnoneornil(L, 2))
                return luaL_error(L, "not enough memory");
        r = rc__store_set(p, key, v);
        if (r == -ENOSPC)
                return luaL_error(L, "coach.store.set: the store is full (%d keys, %d bytes)",
                                  RC__STORE_MAX_KEYS, RC__STORE_MAX_BYTES);
        if (r < 0)
                return luaL_error(L, "not enough memory");
        return 0;
}

static int history_kept(lua_State *L) {
        lua_pushboolean(L, declared(L)->e->state_dir != NULL);
        return 1;
}

static int history_sessions(lua_State *L) {
        struct rc__plugin *p = declared(L);
        const struct rc_engine *e = p->e;
        lua_Number days = luaL_checknumber(L, 1);
        int64_t now = e->opts.wall_start_s + e->start_ms / 1000, from;
        lua_Integer n = 0;

        if (!(days > 0 && days <= 366))
                return luaL_error(L, "coach.history.sessions: 0 < days <= 366");
        from = now - (int64_t)(days * 86400);
        lua_newtable(L);
        for (unsigned i = 0; i < e->n_history; i++) {
                const struct rc__history_entry *h = &e->history[i];

                if (h->started_at < from || h->started_at >= now)
                        continue;
                lua_createtable(L, 0, 3);
                set_int(L, "started_at", h->started_at);
                set_num(L, "duration_s", h->duration_s);
                set_str(L, "routine", h->routine[0] ? h->routine : NULL);
                lua_rawseti(L, -2, ++n);
        }
        return 1;
}

/* ---- building the API ------------------------------------------------------------- */

static void push_profile(lua_State *L, const struct rc_profile *pr) {
        lua_createtable(L, 0, 6);
        set_num(L, "height_cm", pr->height_cm);
        set_num(L, "weight_kg", pr->weight_kg);
        set_str(L, "level", rc_level_name(pr->level));
        set_num(L, "session_minutes", rc_profile_session_minutes(pr));
        lua_newtable(L);
        for (unsigned i = 0; i < RC_COND__COUNT; i++)
                if (pr->conditions & (1u << i)) {
                        lua_pushboolean(L, 1);
                        lua_setfield(L, -2, rc_condition_name(1u << i));
                }
        rc__sandbox_push_readonly(L, -1, "coach.profile.conditions");
        lua_setfield(L, -3, "conditions");
        lua_pop(L, 1);
        rc__sandbox_push_readonly(L, -1, "coach.profile");
        lua_remove(L, -2);
}

static void push_functions(lua_State *L, const luaL_Reg *fns, const char *what) {
        lua_newtable(L);
        luaL_setfuncs(L, fns, 0);
        rc__sandbox_push_readonly(L, -1, what);
        lua_remove(L, -2);
}

int rc__coach_open(lua_State *L) {
        static const luaL_Reg api[] = {
                {"plugin", coach_plugin}, {"on", coach_on},       {"say", coach_say},
                {"led", coach_led},       {"after", coach_after}, {"every", coach_every},
                {"track", coach_track},   {"step", coach_step},   {"stop", coach_stop},
                {"now", coach_now},       {"log", coach_log},     {NULL, NULL},
        };
        static const luaL_Reg store[] = {{"get", store_get}, {"set", store_set}, {NULL, NULL}};
        static const luaL_Reg history[] = {
                {"sessions", history_sessions}, {"kept", history_kept}, {NULL, NULL}};
        struct rc__plugin *p = plugin_of(L);

        /* timer handles */
        luaL_newmetatable(L, TIMER_META);
        lua_createtable(L, 0, 1);
        lua_pushcfunction(L, timer_cancel);
        lua_setfield(L, -2, "cancel");
        lua_setfield(L, -2, "__index");
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "__metatable");
        lua_pop(L, 1);

        lua_newtable(L);
        luaL_setfuncs(L, api, 0);
        lua_pushinteger(L, RC_ENGINE_API_LEVEL);
        lua_setfield(L, -2, "api");
        push_profile(L, &p->e->opts.profile);
        lua_setfield(L, -2, "profile");
        push_functions(L, store, "coach.store");
        lua_setfield(L, -2, "store");
        push_functions(L, history, "coach.history");
        lua_setfield(L, -2, "history");
        /* coach.session: read live from the engine */
        lua_newuserdatauv(L, 0, 0);
        lua_createtable(L, 0, 3);
        lua_pushcfunction(L, session_index);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, session_newindex);
        lua_setfield(L, -2, "__newindex");
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "__metatable");
        lua_setmetatable(L, -2);
        lua_setfield(L, -2, "session");

        rc__sandbox_push_readonly(L, -1, "coach");
        lua_setglobal(L, "coach");
        lua_pop(L, 1);
        /* print writes to the log: it shares the plugin's rate with coach.log */
        lua_getglobal(L, "print");
        lua_pushcclosure(L, limited_print, 1);
        lua_setglobal(L, "print");
        return 0;
}
