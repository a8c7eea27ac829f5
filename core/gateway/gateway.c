/* rollcoach — the BlueZ gateway: start and stop (contract: gateway.h; BlueZ's
 * doc/org.bluez.*; the parts: gateway_internal.h). */
#include "gateway/gateway.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gateway_internal.h"
#include "util/log.h"

static int on_disconnected(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        (void)m;
        (void)userdata;
        (void)ret_error;
        rc_log_error("D-Bus: the connection to the bus was lost");
        return 0;
}

static int open_bus(const struct rc_gateway_opts *o, sd_bus **ret) {
        sd_bus *bus = NULL;
        int r;

        if (!o->bus_address)
                return sd_bus_open_system(ret);
        r = sd_bus_new(&bus);
        if (r >= 0)
                r = sd_bus_set_address(bus, o->bus_address);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, 1);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r < 0) {
                sd_bus_unref(bus);
                return r;
        }
        *ret = bus;
        return 0;
}

int rc_gateway_start(const struct rc_gateway_opts *o, struct rc_gateway **ret) {
        struct rc_gateway *g = calloc(1, sizeof(*g));
        int r;

        if (!g)
                return -ENOMEM;
        g->o = *o;
        if (!g->o.backoff_min_ms)
                g->o.backoff_min_ms = RC_GATEWAY_BACKOFF_MIN_MS;
        if (!g->o.backoff_max_ms)
                g->o.backoff_max_ms = RC_GATEWAY_BACKOFF_MAX_MS;
        if (g->o.backoff_max_ms < g->o.backoff_min_ms)
                g->o.backoff_max_ms = g->o.backoff_min_ms;
        if (!g->o.connect_timeout_ms)
                g->o.connect_timeout_ms = RC_GATEWAY_CONNECT_TIMEOUT_MS;
        if (!g->o.inprogress_retry_ms)
                g->o.inprogress_retry_ms = RC_GATEWAY_INPROGRESS_RETRY_MS;
        g->rng = rc_uvbus_now_us() | 1;
        r = open_bus(o, &g->bus);
        if (r < 0) {
                rc_log_error("D-Bus: cannot connect to the %s bus: %s",
                             o->bus_address ? "given" : "system", strerror(-r));
                free(g);
                return r;
        }
        /* the signal matches first, then what depends on them: the bus handles a
         * connection's messages in order. All of it is only queued on the bus, so
         * the loop is attached last: on a failure here no libuv handle exists yet
         * (memory holding one may be freed only after its close callback). */
        r = sd_bus_match_signal_async(g->bus, NULL, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                      "org.freedesktop.DBus", "NameOwnerChanged",
                                      gw_on_name_owner_changed, NULL, g);
        if (r >= 0)
                r = sd_bus_match_signal_async(g->bus, NULL, BLUEZ, NULL, IF_OM, "InterfacesAdded",
                                              gw_on_interfaces_added, NULL, g);
        if (r >= 0)
                r = sd_bus_match_signal_async(g->bus, NULL, BLUEZ, NULL, IF_OM, "InterfacesRemoved",
                                              gw_on_interfaces_removed, NULL, g);
        if (r >= 0)
                r = sd_bus_match_signal_async(g->bus, NULL, BLUEZ, NULL, IF_PROPS,
                                              "PropertiesChanged", gw_on_properties_changed, NULL,
                                              g);
        if (r >= 0)
                r = sd_bus_match_signal_async(g->bus, NULL, NULL, "/org/freedesktop/DBus/Local",
                                              "org.freedesktop.DBus.Local", "Disconnected",
                                              on_disconnected, NULL, g);
        if (r >= 0)
                r = sd_bus_call_method_async(g->bus, NULL, "org.freedesktop.DBus",
                                             "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                             "GetNameOwner", gw_on_name_owner, g, "s", BLUEZ);
        if (r >= 0)
                r = rc_uvbus_attach(&g->ub, o->loop, g->bus); /* fails before any handle */
        if (r < 0) {
                rc_log_error("D-Bus: cannot set up: %s", strerror(-r));
                sd_bus_flush_close_unref(g->bus);
                free(g);
                return r;
        }
        *ret = g;
        return 0;
}

static void finish_stop(struct rc_gateway *g);

static int on_stop_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct rc_gateway *g = userdata;

        (void)m;
        (void)ret_error;
        if (g->stop_pending > 0 && --g->stop_pending == 0)
                finish_stop(g);
        return 0;
}

static void on_stop_timer(uv_timer_t *t) {
        finish_stop(t->data);
}

static void on_bus_detached(void *userdata) {
        struct rc_gateway *g = userdata;

        if (g->stop_done)
                g->stop_done(g->stop_userdata);
}

static void on_stop_timer_closed(uv_handle_t *h) {
        struct rc_gateway *g = h->data;

        rc_uvbus_detach(&g->ub, on_bus_detached, g);
}

static void on_device_timer_closed(uv_handle_t *h) {
        struct gw_device *d = h->data;

        d->timer_init = false;
        if (--d->g->open_timers == 0)
                uv_close((uv_handle_t *)&d->g->stop_timer, on_stop_timer_closed);
}

static void finish_stop(struct rc_gateway *g) {
        if (!g->stopping || g->stop_pending == (unsigned)-1)
                return;
        g->stop_pending = (unsigned)-1; /* once */
        uv_timer_stop(&g->stop_timer);
        g->open_timers = 0;
        for (unsigned i = 0; i < RC_GATEWAY_MAX_DEVICES; i++) {
                struct gw_device *d = &g->dev[i];

                if (d->used && d->state != DEV_IDLE)
                        gw_lost(d, "the hub is stopping");
                if (d->timer_init)
                        g->open_timers++;
        }
        if (g->open_timers == 0) {
                uv_close((uv_handle_t *)&g->stop_timer, on_stop_timer_closed);
                return;
        }
        for (unsigned i = 0; i < RC_GATEWAY_MAX_DEVICES; i++)
                if (g->dev[i].timer_init)
                        uv_close((uv_handle_t *)&g->dev[i].timer, on_device_timer_closed);
}

void rc_gateway_stop(struct rc_gateway *g, unsigned timeout_ms, void (*done)(void *),
                     void *userdata) {
        g->stopping = true;
        g->stop_done = done;
        g->stop_userdata = userdata;
        uv_timer_init(g->o.loop, &g->stop_timer);
        g->stop_timer.data = g;
        g->stop_pending = 1;
        for (unsigned i = 0; g->bluez_up && i < RC_GATEWAY_MAX_DEVICES; i++) {
                struct gw_device *d = &g->dev[i];

                if (!d->used || !(d->connected || d->state == DEV_CONNECTING))
                        continue;
                if (sd_bus_call_method_async(g->bus, NULL, BLUEZ, d->path, IF_DEVICE, "Disconnect",
                                             on_stop_reply, g, NULL) >= 0)
                        g->stop_pending++;
        }
        if (g->bluez_up && g->have_adapter &&
            sd_bus_call_method_async(g->bus, NULL, BLUEZ, g->adapter, IF_ADAPTER, "StopDiscovery",
                                     on_stop_reply, g, NULL) >= 0)
                g->stop_pending++;
        uv_timer_start(&g->stop_timer, on_stop_timer, timeout_ms, 0);
        if (--g->stop_pending == 0)
                finish_stop(g);
}

void rc_gateway_free(struct rc_gateway *g) {
        if (!g)
                return;
        for (unsigned i = 0; i < RC_GATEWAY_MAX_DEVICES; i++)
                if (g->dev[i].connect_call)
                        sd_bus_slot_unref(g->dev[i].connect_call);
        sd_bus_flush_close_unref(g->bus);
        free(g);
}

void rc_gateway_stats(const struct rc_gateway *g, struct rc_gateway_stats *ret) {
        *ret = g->st;
}

bool rc_gateway_streaming(const struct rc_gateway *g, enum rc_device_kind kind) {
        for (unsigned i = 0; i < RC_GATEWAY_MAX_DEVICES; i++)
                if (g->dev[i].used && g->dev[i].kind == kind && g->dev[i].state == DEV_STREAMING)
                        return true;
        return false;
}

bool rc_gateway_ready(const struct rc_gateway *g) {
        return g->ready;
}
