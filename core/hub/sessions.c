/* rollcoach — the hub's sessions, on a hub without a screen (docs/headless.md).
 *
 * Between sessions a standby session analyses what arrives (no plugins, no
 * outputs): a roller taking a load (once re-armed: a connection, or 10 s off the
 * roller since the last session) or a short press starts a coaching session. A
 * session ends on completion (a plugin's coach.stop), a long press, idle_minutes
 * without rolling, the roller gone for roller_grace_seconds, or the hub stopping;
 * the hub says what happened. Each session gets a new engine; the devices stay
 * connected, and what they said when they connected (name, Roller Info,
 * Placement, battery) is told to each new session. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode/gatt.h"
#include "hub/hub_internal.h"
#include "replay/trace.h"
#include "util/exit.h"
#include "util/log.h"

/* ---- what the devices said when they connected --------------------------------------- */

static bool cached_read(enum rc_char c) {
        return c == RC_CHAR_DEVICE_NAME || c == RC_CHAR_ROLLER_INFO ||
               c == RC_CHAR_BODY_PLACEMENT || c == RC_CHAR_BATTERY_LEVEL ||
               c == RC_CHAR_MANUFACTURER || c == RC_CHAR_MODEL_NUMBER || c == RC_CHAR_FIRMWARE_REV;
}

static struct rc_hub_device *cache_device(struct rc_hub *h, const rc_addr *a) {
        struct rc_hub_device *free_slot = NULL;

        for (unsigned i = 0; i < RC_HUB_CACHE_DEVICES; i++) {
                if (h->devices[i].used && rc_addr_equal(&h->devices[i].addr, a))
                        return &h->devices[i];
                if (!h->devices[i].used && !free_slot)
                        free_slot = &h->devices[i];
        }
        if (free_slot) {
                memset(free_slot, 0, sizeof(*free_slot));
                free_slot->used = true;
                free_slot->addr = *a;
        }
        return free_slot;
}

static void cache(struct rc_hub *h, const struct rc_notification *n) {
        struct rc_hub_device *d = cache_device(h, &n->addr);
        enum rc_char c;

        if (!d)
                return;
        if (n->what != RC_WHAT_VALUE) {
                d->connected = n->what == RC_WHAT_CONNECT;
                return;
        }
        d->connected = true;
        c = rc_gatt_char_from_uuid(&n->uuid);
        if (!cached_read(c) || n->len > RC_HUB_CACHE_VALUE)
                return;
        for (unsigned i = 0; i < RC_HUB_CACHE_READS; i++)
                if (!d->reads[i].has || rc_uuid_equal(&d->reads[i].uuid, &n->uuid)) {
                        d->reads[i].has = true;
                        d->reads[i].uuid = n->uuid;
                        d->reads[i].len = n->len;
                        memcpy(d->reads[i].data, n->data, n->len);
                        return;
                }
}

/* Tell a new session about the connected devices, as if they had just connected. */
static void replay_cache(struct rc_hub *h, struct rc_session *s) {
        uint64_t t_us = (uint64_t)rc_hub_now_ms(h) * 1000;

        h->replaying = true; /* not real connections: they do not re-arm a start */
        for (unsigned i = 0; i < RC_HUB_CACHE_DEVICES; i++) {
                const struct rc_hub_device *d = &h->devices[i];
                struct rc_notification n = {.t_us = t_us, .addr = d->addr, .what = RC_WHAT_CONNECT};

                if (!d->used || !d->connected)
                        continue;
                rc_session_feed(s, &n);
                for (unsigned k = 0; k < RC_HUB_CACHE_READS && d->reads[k].has; k++) {
                        n.what = RC_WHAT_VALUE;
                        n.uuid = d->reads[k].uuid;
                        n.data = d->reads[k].data;
                        n.len = d->reads[k].len;
                        rc_session_feed(s, &n);
                }
        }
        h->replaying = false;
}

/* ---- standby --------------------------------------------------------------------------- */

static void on_standby_event(const struct rc_event *ev, void *userdata) {
        struct rc_hub *h = userdata;

        if (ev->type == RC_EV_DEVICE && ev->dev.kind == RC_KIND_ROLLER && ev->dev.connected &&
            !h->replaying)
                h->armed = true; /* a roller that (re)connects may start a session */
        if (ev->type == RC_EV_MOTION && ev->motion.loaded) {
                /* [session] auto = no: presses only */
                if (h->armed && !h->start_pending && h->config->session.auto_start) {
                        h->start_pending = true;
                        h->start_reason = "the roller took a load";
                }
                h->last_loaded_ms = ev->t_ms;
        }
        if (ev->type == RC_EV_BUTTON && ev->button.press == RC_PRESS_SHORT && !h->start_pending) {
                h->start_pending = true;
                h->start_reason = "a short press on the roller";
        }
}

static void new_standby(struct rc_hub *h) {
        h->standby = malloc(sizeof(*h->standby));
        if (!h->standby) {
                rc_log_error("out of memory");
                rc_hub_stop(h, "out of memory");
                return;
        }
        rc_session_init(h->standby);
        rc_session_subscribe(h->standby, on_standby_event, h);
        rc_session_begin(h->standby, rc_hub_now_ms(h), NULL, NULL);
        replay_cache(h, h->standby);
}

static void free_standby(struct rc_hub *h) {
        free(h->standby);
        h->standby = NULL;
}

/* ---- a session ------------------------------------------------------------------------- */

static void on_grace(uv_timer_t *t) {
        struct rc_hub *h = t->data;

        if (h->session && !h->session->ended) {
                rc_log_notice("session: the roller did not come back");
                rc_session_end(h->session, rc_hub_now_ms(h), "roller_left");
                rc_hub_settle(h);
        }
}

static void on_idle_check(uv_timer_t *t) {
        struct rc_hub *h = t->data;
        int64_t now = rc_hub_now_ms(h);

        if (h->session && !h->session->ended &&
            now - h->last_activity_ms >= (int64_t)(h->config->session.idle_minutes * 60000)) {
                rc_log_notice("session: no rolling for %.1f minutes",
                              h->config->session.idle_minutes);
                rc_session_end(h->session, now, "idle");
                rc_hub_settle(h);
        }
}

static void on_session_event(const struct rc_event *ev, void *userdata) {
        struct rc_hub *h = userdata;

        switch (ev->type) {
        case RC_EV_MOTION:
                if (ev->motion.loaded || ev->motion.speed_cm_s > 0.5 ||
                    ev->motion.speed_cm_s < -0.5)
                        h->last_activity_ms = ev->t_ms;
                break;
        case RC_EV_HOLD_START:
        case RC_EV_HOLD_END:
        case RC_EV_BUTTON:
                h->last_activity_ms = ev->t_ms;
                break;
        case RC_EV_DEVICE:
                if (ev->dev.kind != RC_KIND_ROLLER || h->once)
                        break;
                if (ev->dev.connected) {
                        uv_timer_stop(&h->grace_timer);
                } else {
                        rc_log_notice("session: the roller left; %g s for it to come back",
                                      h->config->session.roller_grace_seconds);
                        uv_timer_start(&h->grace_timer, on_grace,
                                       (uint64_t)(h->config->session.roller_grace_seconds * 1000),
                                       0);
                }
                break;
        case RC_EV_SESSION_END:
                h->finish_pending = true;
                break;
        default:
                break;
        }
}

/* Start a coaching session now (auto), or at the first notification (once). */
static void start_session(struct rc_hub *h, int64_t t_ms, const char *why) {
        int r;

        h->start_pending = false;
        h->session = malloc(sizeof(*h->session));
        if (!h->session) {
                rc_log_error("out of memory");
                rc_hub_stop(h, "out of memory");
                return;
        }
        rc_session_init(h->session);
        rc_session_subscribe(h->session, on_session_event, h);
        r = rc_outputs_engine(&h->out, h->cli, h->config, h->session, h->routine,
                              h->sessions == 0 ? h->cli->step : NULL);
        if (r != RC_EXIT_OK) {
                rc_hub_stop(h, "the coaching could not start");
                return;
        }
        if (h->out.engine)
                rc_hub_feedback_sinks(h, h->out.engine);
        h->sessions++;
        rc_log_notice("session %u: started (%s; %s)", h->sessions, why,
                      h->routine ? h->routine : "free session");
        free_standby(h);
        if (!h->once)
                rc_hub_say(h, "cue.hub.session_start",
                           h->routine ? "Let's start your session." : "Let's start. Roll slowly.",
                           RC_PRIORITY_CUE);
        rc_hub_led(h, RC_LED_OK); /* a session is on (the plugins change it from here) */
        rc_session_begin(h->session, t_ms, h->routine, h->sessions == 1 ? h->cli->step : NULL);
        replay_cache(h, h->session);
        h->last_activity_ms = t_ms;
        if (!h->once)
                uv_timer_start(&h->idle_timer, on_idle_check, 1000, 1000);
        rc_hub_schedule_engine(h);
}

/* What the hub says about a session's end (the plugins speak for completion and a
 * pain stop, after which nothing more is said). */
static void say_end(struct rc_hub *h, const char *reason) {
        if (h->once)
                return; /* one session, as a replay of it: the plugins' words only */
        if (!strcmp(reason, "idle"))
                rc_hub_say(h, "info.hub.session_idle",
                           "No rolling for a while, so I've ended the session.", RC_PRIORITY_INFO);
        else if (!strcmp(reason, "roller_left"))
                rc_hub_say(h, "warn.hub.roller_left",
                           "The roller has disconnected, so I've ended the session.",
                           RC_PRIORITY_WARNING);
        else if (!strcmp(reason, "stopped"))
                rc_hub_say(h, "info.hub.stopping", "The coach is shutting down. Goodbye.",
                           RC_PRIORITY_INFO);
}

static void finish_session(struct rc_hub *h) {
        const char *reason = h->session->end_reason ? h->session->end_reason : "ended";

        h->finish_pending = false;
        snprintf(h->last_end, sizeof(h->last_end), "%s", reason);
        uv_timer_stop(&h->idle_timer);
        uv_timer_stop(&h->grace_timer);
        uv_timer_stop(&h->engine_timer);
        rc_log_notice("session %u: ended (%s)", h->sessions, reason);
        if (!h->cli->quiet)
                rc_session_report(h->session, stderr);
        say_end(h, reason);
        if (strcmp(reason, "long_press") != 0)
                rc_hub_led(h, RC_LED_OFF); /* a pain stop's stop light stays on */
        rc_engine_free(h->out.engine);     /* stores flushed, the history written */
        h->out.engine = NULL;
        free(h->session);
        h->session = NULL;
        if (h->once) {
                rc_hub_stop(h, "the session ended");
                return;
        }
        /* back to standby; the user may still be on the roller: a load starts the
         * next session only after 10 s off it (or a reconnection, or a press) */
        h->armed = false;
        h->last_loaded_ms = rc_hub_now_ms(h);
        new_standby(h);
}

/* ---- the hub's entry points ------------------------------------------------------------- */

void rc_hub_sessions_init(struct rc_hub *h) {
        uv_timer_init(h->loop, &h->idle_timer);
        uv_timer_init(h->loop, &h->grace_timer);
        h->idle_timer.data = h->grace_timer.data = h;
        h->routine = h->cli->routine;
        if (!h->routine && !h->once && strcmp(h->config->session.routine, "none") != 0)
                h->routine = h->config->session.routine;
        h->armed = true;
        if (!h->once) {
                if (!h->config->session.auto_start)
                        rc_log_notice("sessions start with a press ([session] auto = no)");
                new_standby(h);
        }
}

void rc_hub_settle(struct rc_hub *h) {
        if (h->finish_pending && h->session)
                finish_session(h);
        if (h->start_pending && !h->session && !h->stopping)
                start_session(h, rc_hub_now_ms(h), h->start_reason);
        h->start_pending = false;
}

void rc_hub_notification(struct rc_hub *h, const struct rc_notification *n) {
        int64_t t_ms = (int64_t)(n->t_us / 1000);

        cache(h, n);
        if (h->once) {
                if (h->sessions > 0 && !h->session)
                        return; /* its one session is over (the disconnects while stopping) */
                if (h->record && rc_trace_write(h->record, n) < 0 && !h->record_failed) {
                        h->record_failed = true;
                        rc_log_error("%s: cannot write the trace: %s", h->opts.record_path,
                                     strerror(errno));
                }
                /* the session starts with its first notification, as a replay of it does */
                if (!h->session)
                        start_session(h, t_ms, "the first notification");
        }
        if (h->session) {
                if (h->out.engine)
                        rc_engine_advance(h->out.engine, t_ms);
                rc_session_feed(h->session, n);
        } else if (h->standby) {
                rc_session_feed(h->standby, n);
                if (!h->armed && t_ms - h->last_loaded_ms >= h->rearm_ms)
                        h->armed = true;
        }
        rc_hub_settle(h);
        if (h->session)
                rc_hub_schedule_engine(h);
}

void rc_hub_press(struct rc_hub *h, enum rc_press press) {
        int64_t now = rc_hub_now_ms(h);

        if (h->session) {
                rc_session_press(h->session, now, press);
        } else if (press == RC_PRESS_SHORT && !h->once) {
                h->start_pending = true;
                h->start_reason = "a short press on the hub";
        }
        rc_hub_settle(h);
}

void rc_hub_end_session(struct rc_hub *h, const char *reason) {
        if (h->session && !h->session->ended)
                rc_session_end(h->session, rc_hub_now_ms(h), reason);
        rc_hub_settle(h);
}

void rc_hub_sessions_close(struct rc_hub *h) {
        uv_close((uv_handle_t *)&h->idle_timer, NULL);
        uv_close((uv_handle_t *)&h->grace_timer, NULL);
        free_standby(h);
        if (h->session) {
                rc_engine_free(h->out.engine);
                h->out.engine = NULL;
                free(h->session);
                h->session = NULL;
        }
}
