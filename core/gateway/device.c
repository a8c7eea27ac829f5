/* rollcoach — the per-device connect/backoff state machine (docs/gateway.md, "Per
 * device"; the states in gateway_internal.h). */
#include <string.h>

#include "gateway/gateway_internal.h"
#include "util/log.h"

static void backoff(struct gw_device *d, unsigned min_ms);

/* A Connect is in progress: one at a time per adapter. */
static bool connecting(const struct rc_gateway *g) {
        for (unsigned i = 0; i < RC_GATEWAY_MAX_DEVICES; i++)
                if (g->dev[i].used &&
                    (g->dev[i].state == DEV_CONNECTING || g->dev[i].state == DEV_RESOLVING))
                        return true;
        return false;
}

/* The link is gone (Connected=false, a hang-up, removal, bluetoothd gone). */
void gw_lost(struct gw_device *d, const char *why) {
        struct rc_gateway *g = d->g;

        d->generation++;
        d->checking = false;
        for (unsigned i = 0; i < MAX_CHARS; i++)
                gw_char_unsubscribe(&d->chars[i]);
        if (d->connect_call)
                d->connect_call = sd_bus_slot_unref(d->connect_call);
        uv_timer_stop(&d->timer);
        /* Stopping, the hub disconnects every device itself: whatever BlueZ says
         * first (the socket hung up, Connected=false), it is not a lost link. */
        if (g->stopping)
                why = "the hub is stopping";
        if (gw_announced(d)) {
                rc_log_notice("%s (%s): disconnected: %s", d->addr_str,
                              rc_device_kind_name(d->kind), why);
                gw_emit(d, RC_WHAT_DISCONNECT, RC_CHAR_UNKNOWN, NULL, 0);
                g->st.disconnects++;
        }
        d->state = DEV_IDLE;
        d->pending = 0;
        if (g->stopping)
                return;
        if (d->selected && d->present) {
                /* reconnect after the first backoff step: let the radio settle */
                d->attempts = 1;
                backoff(d, 0);
        }
        gw_kick(g);
}

uint64_t gw_backoff_ms(unsigned min_ms, unsigned max_ms, unsigned attempts, uint64_t *rng) {
        uint64_t ms = min_ms;

        for (unsigned i = 1; i < attempts && ms < max_ms; i++)
                ms *= 2;
        if (ms > max_ms)
                ms = max_ms;
        *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
        return ms * (75 + (*rng >> 33) % 51) / 100; /* 75..125 % */
}

enum gw_connect_error gw_connect_error_kind(const char *name) {
        static const char *const gone[] = {"org.freedesktop.DBus.Error.UnknownObject",
                                           "org.freedesktop.DBus.Error.UnknownMethod",
                                           "org.bluez.Error.DoesNotExist"};

        if (!name)
                return GW_CONNECT_RETRY;
        if (strcmp(name, "org.bluez.Error.InProgress") == 0)
                return GW_CONNECT_IN_PROGRESS;
        for (unsigned i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
                if (strcmp(name, gone[i]) == 0)
                        return GW_CONNECT_GONE;
        return GW_CONNECT_RETRY;
}

enum gw_change gw_change_of(enum gw_dev_state state, bool connected, bool services_resolved,
                            bool connected_changed) {
        if (state >= DEV_SETUP && !connected)
                return GW_CHANGE_LOST;
        if (state == DEV_RESOLVING && connected_changed && !connected)
                return GW_CHANGE_DROPPED;
        if (state == DEV_RESOLVING && connected && services_resolved)
                return GW_CHANGE_RESOLVED;
        return GW_CHANGE_CONSIDER;
}

/* Retry after a backoff: 0.5 s doubling to 30 s (the options' timings), ±25 % jitter. */
static void on_backoff(uv_timer_t *t) {
        struct gw_device *d = t->data;

        if (d->state == DEV_WAIT)
                d->state = DEV_IDLE;
        gw_kick(d->g);
}

static void backoff(struct gw_device *d, unsigned min_ms) {
        struct rc_gateway *g = d->g;
        uint64_t ms = gw_backoff_ms(g->o.backoff_min_ms, g->o.backoff_max_ms, d->attempts, &g->rng);

        if (ms < min_ms)
                ms = min_ms;
        d->state = DEV_WAIT;
        uv_timer_start(&d->timer, on_backoff, ms, 0);
}

/* A connection attempt failed: sort the error and try again later. */
static void connect_failed(struct gw_device *d, const sd_bus_error *e, const char *what) {
        struct rc_gateway *g = d->g;
        const char *msg = e && e->message ? e->message : "";
        enum gw_connect_error kind = gw_connect_error_kind(e ? e->name : NULL);

        g->st.connect_failures++;
        d->attempts++;
        if (d->connect_call)
                d->connect_call = sd_bus_slot_unref(d->connect_call);
        if (kind == GW_CONNECT_IN_PROGRESS) {
                rc_log_info("%s: a connection is in progress; waiting", d->addr_str);
                backoff(d, g->o.inprogress_retry_ms);
        } else if (kind == GW_CONNECT_GONE) {
                rc_log_info("%s: BlueZ no longer knows it; waiting to discover it again",
                            d->addr_str);
                d->present = false;
                d->state = DEV_IDLE;
        } else {
                /* le-connection-abort-by-local and the other le-connection-* are the
                 * radio's transient failures; anything else is retried the same way */
                rc_log_info("%s: %s failed: %s%s%s (attempt %u)", d->addr_str, what,
                            e && e->name ? e->name : "error", msg[0] ? ": " : "", msg, d->attempts);
                backoff(d, 0);
        }
        gw_kick(g);
}

static void on_connect_timeout(uv_timer_t *t) {
        struct gw_device *d = t->data;
        sd_bus_error e = SD_BUS_ERROR_MAKE_CONST("org.rollcoach.Error.Timeout",
                                                 "no ServicesResolved in time");

        if (d->state != DEV_CONNECTING && d->state != DEV_RESOLVING)
                return;
        d->generation++;
        connect_failed(d, &e, "connect");
}

/* Connected and ServicesResolved: the device is ours to use. */
static void resolved(struct gw_device *d) {
        struct rc_gateway *g = d->g;

        uv_timer_stop(&d->timer);
        g->st.connects++;
        d->attempts = 0;
        d->state = DEV_SETUP;
        rc_log_notice("%s (%s, %s): connected", d->addr_str, rc_device_kind_name(d->kind), d->name);
        gw_emit(d, RC_WHAT_CONNECT, RC_CHAR_UNKNOWN, NULL, 0);
        /* the name BlueZ knows (Alias), as the GAP Device Name would give it */
        if (d->name[0])
                gw_emit(d, RC_WHAT_VALUE, RC_CHAR_DEVICE_NAME, (const uint8_t *)d->name,
                        strlen(d->name));
        gw_setup_device(d);
        gw_kick(g);
}

static int on_connect_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct gw_device *d = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);

        (void)ret_error;
        d->connect_call = sd_bus_slot_unref(d->connect_call);
        if (d->state != DEV_CONNECTING)
                return 0;
        if (e && !gw_is_error(e, "org.bluez.Error.AlreadyConnected")) {
                connect_failed(d, e, "connect");
                return 0;
        }
        d->state = DEV_RESOLVING;
        if (d->resolved && d->connected)
                resolved(d);
        return 0;
}

static void connect_device(struct gw_device *d) {
        struct rc_gateway *g = d->g;
        int r;

        d->state = DEV_CONNECTING;
        d->generation++;
        rc_log_info("%s (%s): connecting", d->addr_str, rc_device_kind_name(d->kind));
        r = sd_bus_call_method_async(g->bus, &d->connect_call, BLUEZ, d->path, IF_DEVICE, "Connect",
                                     on_connect_reply, d, NULL);
        if (r < 0) {
                sd_bus_error e = SD_BUS_ERROR_MAKE_CONST("org.rollcoach.Error.Send", "cannot send");

                connect_failed(d, &e, "connect");
                return;
        }
        uv_timer_start(&d->timer, on_connect_timeout, g->o.connect_timeout_ms, 0);
}

/* Connect the next selected device, one at a time per adapter. */
void gw_kick(struct rc_gateway *g) {
        if (!g->bluez_up || g->stopping || connecting(g))
                return;
        for (unsigned i = 0; i < RC_GATEWAY_MAX_DEVICES; i++) {
                struct gw_device *d = &g->dev[i];

                if (!d->used || !d->present || !d->selected || d->state != DEV_IDLE)
                        continue;
                if (d->connected && d->resolved) {
                        /* connected already (by us before a restart, or by someone) */
                        d->state = DEV_RESOLVING;
                        resolved(d);
                        continue;
                }
                connect_device(d);
                return;
        }
}

/* Is this device one the user wants? */
static void consider(struct rc_gateway *g, struct gw_device *d) {
        enum rc_device_kind k = d->kind;

        if (!d->ours || k == RC_KIND_UNKNOWN || d->selected)
                goto done;
        if (g->o.all) {
                unsigned n = 0;

                for (unsigned i = 0; i < RC_GATEWAY_MAX_DEVICES; i++)
                        n += g->dev[i].used && g->dev[i].selected;
                d->selected = n < RC_GATEWAY_MAX_SELECTED;
        } else if (g->o.has_want[k])
                d->selected = rc_addr_equal(&g->o.want[k], &d->addr);
        else if (g->has_chosen[k])
                d->selected = rc_addr_equal(&g->chosen[k], &d->addr);
        else {
                g->chosen[k] = d->addr;
                g->has_chosen[k] = true;
                d->selected = true;
        }
        if (d->selected)
                rc_log_info("%s: the %s (%s)", d->addr_str, rc_device_kind_name(k), d->name);
done:
        gw_kick(g);
}

void gw_device_changed(struct rc_gateway *g, const struct gw_device_change *ch) {
        struct gw_device *d = ch->d;
        sd_bus_error e = SD_BUS_ERROR_MAKE_CONST("org.rollcoach.Error.Dropped",
                                                 "disconnected before services resolved");

        switch (gw_change_of(d->state, d->connected, d->resolved, ch->connected_changed)) {
        case GW_CHANGE_LOST:
                gw_lost(d, "the link dropped");
                break;
        case GW_CHANGE_DROPPED:
                d->generation++;
                connect_failed(d, &e, "connect");
                break;
        case GW_CHANGE_RESOLVED:
                resolved(d);
                break;
        case GW_CHANGE_CONSIDER:
                consider(g, d);
                break;
        }
}
