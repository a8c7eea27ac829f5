/* rollcoach — the BlueZ gateway (contract: gateway.h; BlueZ's doc/org.bluez.*). */
#include "gateway/gateway.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "decode/gatt.h"
#include "gateway/uvbus.h"
#include "util/log.h"

#define BLUEZ "org.bluez"
#define IF_ADAPTER "org.bluez.Adapter1"
#define IF_DEVICE "org.bluez.Device1"
#define IF_CHAR "org.bluez.GattCharacteristic1"
#define IF_PROPS "org.freedesktop.DBus.Properties"
#define IF_OM "org.freedesktop.DBus.ObjectManager"
#define PATH_LEN 192
#define MAX_CHARS 24
#define CALL_TIMEOUT_US (25u * 1000000u)
#define READ_BATCH 64

enum dev_state {
        DEV_IDLE,       /* not connected; may be connected when selected */
        DEV_WAIT,       /* backing off before the next attempt */
        DEV_CONNECTING, /* Connect() sent */
        DEV_RESOLVING,  /* connected, waiting for ServicesResolved */
        DEV_SETUP,      /* reading and subscribing */
        DEV_STREAMING,
};

struct gw_device;
struct gw_char;

/* An acquired notification socket and its poll handle. Allocated apart from its
 * characteristic and freed by the handle's close callback: a characteristic's slot
 * can be reused (a new object, a new acquisition) while the old handle is still
 * closing (libuv: memory holding a handle lives until its close callback). */
struct gw_sub {
        uv_poll_t poll;
        int fd;
        struct gw_char *c; /* NULL once closing */
};

struct gw_char {
        bool used;
        char path[PATH_LEN];
        enum rc_char kind;
        rc_uuid uuid;
        bool can_read, can_notify, acquirable;
        /* subscription */
        struct gw_sub *sub; /* an acquired socket being read */
        bool started;       /* StartNotify succeeded: Value changes are notifications */
        unsigned retries;   /* StartNotify refused while an acquisition is released */
        struct gw_device *dev;
};

struct gw_device {
        struct rc_gateway *g;
        bool used, present;
        char path[PATH_LEN];
        rc_addr addr;
        char addr_str[RC_ADDR_STRLEN];
        char name[RC_GATT_STRING_MAX + 1];
        enum rc_device_kind kind;
        bool ours; /* advertises one of our services */
        bool connected, resolved, trusted;
        bool selected, use_startnotify;
        bool checking; /* a hang-up is being checked with BlueZ */
        enum dev_state state;
        unsigned attempts, pending;
        uint64_t generation; /* bumped on every (dis)connection: stale replies are ignored */
        uv_timer_t timer;
        bool timer_init;
        sd_bus_slot *connect_call;
        struct gw_char chars[MAX_CHARS];
};

struct rc_gateway {
        struct rc_gateway_opts o;
        sd_bus *bus;
        struct rc_uvbus ub;
        bool bluez_up, ready;
        char adapter[PATH_LEN];
        bool have_adapter, discovery_asked;
        struct gw_device dev[RC_GATEWAY_MAX_DEVICES];
        rc_addr chosen[4];
        bool has_chosen[4];
        struct rc_gateway_stats st;
        uint64_t rng;
        /* stopping */
        bool stopping;
        unsigned stop_pending, open_timers;
        uv_timer_t stop_timer;
        void (*stop_done)(void *);
        void *stop_userdata;
};

/* The session has been told of the connection (from DEV_SETUP on; lost() tells
 * it of the end). */
static bool announced(const struct gw_device *d) {
        return d->state >= DEV_SETUP;
}

/* A Connect is in progress: one at a time per adapter. */
static bool connecting(const struct rc_gateway *g) {
        for (unsigned i = 0; i < RC_GATEWAY_MAX_DEVICES; i++)
                if (g->dev[i].used &&
                    (g->dev[i].state == DEV_CONNECTING || g->dev[i].state == DEV_RESOLVING))
                        return true;
        return false;
}

static void malformed(struct rc_gateway *g, const char *what, int r) {
        g->st.malformed++;
        rc_log_warning("bluez: malformed %s (%s); ignored", what,
                       r < 0 ? strerror(-r) : "bad shape");
}

/* ---- notifications to the session --------------------------------------------------- */

static void emit(struct gw_device *d, enum rc_what what, enum rc_char c, const uint8_t *data,
                 size_t len) {
        struct rc_gateway *g = d->g;
        uint64_t now = rc_uvbus_now_us();
        struct rc_notification n = {
                .t_us = now > g->o.t0_us ? now - g->o.t0_us : 0,
                .addr = d->addr,
                .what = what,
                .len = len,
                .data = data,
        };

        if (what == RC_WHAT_VALUE)
                n.uuid = *rc_gatt_char_uuid(c);
        g->o.notify(&n, g->o.userdata);
}

/* ---- devices ---------------------------------------------------------------------- */

static struct gw_device *device_by_path(struct rc_gateway *g, const char *path) {
        for (unsigned i = 0; i < RC_GATEWAY_MAX_DEVICES; i++)
                if (g->dev[i].used && strcmp(g->dev[i].path, path) == 0)
                        return &g->dev[i];
        return NULL;
}

/* The device an object belongs to: its path, or a path below it. */
static struct gw_device *device_of(struct rc_gateway *g, const char *path) {
        for (unsigned i = 0; i < RC_GATEWAY_MAX_DEVICES; i++) {
                size_t n = strlen(g->dev[i].path);

                if (g->dev[i].used && strncmp(path, g->dev[i].path, n) == 0 &&
                    (path[n] == '/' || path[n] == '\0'))
                        return &g->dev[i];
        }
        return NULL;
}

static struct gw_device *device_add(struct rc_gateway *g, const char *path) {
        struct gw_device *d = device_by_path(g, path);

        if (d)
                return d;
        for (unsigned i = 0; i < RC_GATEWAY_MAX_DEVICES; i++) {
                d = &g->dev[i];
                if (d->used)
                        continue;
                if (strlen(path) >= sizeof(d->path))
                        return NULL;
                if (!d->timer_init) {
                        uv_timer_init(g->o.loop, &d->timer);
                        d->timer.data = d;
                        d->timer_init = true;
                }
                /* a slot used before: nothing of that device carries over but its
                 * timer (open until the gateway stops) and its generation, bumped so
                 * that replies still on their way for it are ignored; its sockets
                 * were handed to their own memory when unsubscribed (gw_sub) */
                d->generation++;
                d->used = true;
                d->g = g;
                d->present = d->ours = d->connected = d->resolved = d->trusted = false;
                d->selected = d->use_startnotify = d->checking = false;
                d->attempts = d->pending = 0;
                memset(&d->addr, 0, sizeof(d->addr));
                d->addr_str[0] = d->name[0] = '\0';
                d->state = DEV_IDLE;
                d->kind = RC_KIND_UNKNOWN;
                for (unsigned k = 0; k < MAX_CHARS; k++)
                        d->chars[k].used = false;
                strcpy(d->path, path);
                return d;
        }
        rc_log_warning("bluez: more than %d devices around; %s ignored", RC_GATEWAY_MAX_DEVICES,
                       path);
        return NULL;
}

static struct gw_char *char_by_path(struct gw_device *d, const char *path) {
        for (unsigned i = 0; i < MAX_CHARS; i++)
                if (d->chars[i].used && strcmp(d->chars[i].path, path) == 0)
                        return &d->chars[i];
        return NULL;
}

static void on_sub_closed(uv_handle_t *h) {
        struct gw_sub *sub = h->data;

        close(sub->fd);
        free(sub);
}

static void char_unsubscribe(struct gw_char *c) {
        if (c->sub) {
                c->sub->c = NULL;
                uv_close((uv_handle_t *)&c->sub->poll, on_sub_closed);
                c->sub = NULL;
        }
        c->started = false;
}

static void kick(struct rc_gateway *g);
static void setup_device(struct gw_device *d);
static void backoff(struct gw_device *d, unsigned min_ms);

/* The link is gone (Connected=false, a hang-up, removal, bluetoothd gone). */
static void lost(struct gw_device *d, const char *why) {
        struct rc_gateway *g = d->g;

        d->generation++;
        d->checking = false;
        for (unsigned i = 0; i < MAX_CHARS; i++)
                char_unsubscribe(&d->chars[i]);
        if (d->connect_call)
                d->connect_call = sd_bus_slot_unref(d->connect_call);
        uv_timer_stop(&d->timer);
        /* Stopping, the hub disconnects every device itself: whatever BlueZ says
         * first (the socket hung up, Connected=false), it is not a lost link. */
        if (g->stopping)
                why = "the hub is stopping";
        if (announced(d)) {
                rc_log_notice("%s (%s): disconnected: %s", d->addr_str,
                              rc_device_kind_name(d->kind), why);
                emit(d, RC_WHAT_DISCONNECT, RC_CHAR_UNKNOWN, NULL, 0);
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
        kick(g);
}

/* BlueZ no longer has the device (or bluetoothd is gone): end its link and forget
 * its characteristics. */
static void device_gone(struct gw_device *d, const char *why) {
        if (d->state != DEV_IDLE)
                lost(d, why);
        uv_timer_stop(&d->timer);
        d->present = false;
        d->state = DEV_IDLE;
        for (unsigned i = 0; i < MAX_CHARS; i++) {
                char_unsubscribe(&d->chars[i]);
                d->chars[i].used = false;
        }
}

/* Retry after a backoff: 0.5 s doubling to 30 s (the options' timings), ±25 % jitter. */
static void on_backoff(uv_timer_t *t) {
        struct gw_device *d = t->data;

        if (d->state == DEV_WAIT)
                d->state = DEV_IDLE;
        kick(d->g);
}

static void backoff(struct gw_device *d, unsigned min_ms) {
        struct rc_gateway *g = d->g;
        uint64_t ms = g->o.backoff_min_ms;

        for (unsigned i = 1; i < d->attempts && ms < g->o.backoff_max_ms; i++)
                ms *= 2;
        if (ms > g->o.backoff_max_ms)
                ms = g->o.backoff_max_ms;
        g->rng = g->rng * 6364136223846793005ull + 1442695040888963407ull;
        ms = ms * (75 + (g->rng >> 33) % 51) / 100; /* 75..125 % */
        if (ms < min_ms)
                ms = min_ms;
        d->state = DEV_WAIT;
        uv_timer_start(&d->timer, on_backoff, ms, 0);
}

static bool is_error(const sd_bus_error *e, const char *name) {
        return e && e->name && strcmp(e->name, name) == 0;
}

/* A connection attempt failed: sort the error and try again later. */
static void connect_failed(struct gw_device *d, const sd_bus_error *e, const char *what) {
        struct rc_gateway *g = d->g;
        const char *msg = e && e->message ? e->message : "";

        g->st.connect_failures++;
        d->attempts++;
        if (d->connect_call)
                d->connect_call = sd_bus_slot_unref(d->connect_call);
        if (is_error(e, "org.bluez.Error.InProgress")) {
                rc_log_info("%s: a connection is in progress; waiting", d->addr_str);
                backoff(d, g->o.inprogress_retry_ms);
        } else if (is_error(e, "org.freedesktop.DBus.Error.UnknownObject") ||
                   is_error(e, "org.freedesktop.DBus.Error.UnknownMethod") ||
                   is_error(e, "org.bluez.Error.DoesNotExist")) {
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
        kick(g);
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
        emit(d, RC_WHAT_CONNECT, RC_CHAR_UNKNOWN, NULL, 0);
        /* the name BlueZ knows (Alias), as the GAP Device Name would give it */
        if (d->name[0])
                emit(d, RC_WHAT_VALUE, RC_CHAR_DEVICE_NAME, (const uint8_t *)d->name,
                     strlen(d->name));
        setup_device(d);
        kick(g);
}

static int on_connect_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct gw_device *d = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);

        (void)ret_error;
        d->connect_call = sd_bus_slot_unref(d->connect_call);
        if (d->state != DEV_CONNECTING)
                return 0;
        if (e && !is_error(e, "org.bluez.Error.AlreadyConnected")) {
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
static void kick(struct rc_gateway *g) {
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
        kick(g);
}

/* ---- reading D-Bus values safely ------------------------------------------------- */

/* Enter a variant of signature `sig`. 1: entered; 0: another type (skipped,
 * counted); negative: a broken message. */
static int enter_variant(struct rc_gateway *g, sd_bus_message *m, const char *sig,
                         const char *what) {
        int r = sd_bus_message_enter_container(m, SD_BUS_TYPE_VARIANT, sig);

        if (r == -ENXIO) {
                malformed(g, what, 0);
                r = sd_bus_message_skip(m, "v");
                return r < 0 ? r : 0;
        }
        return r < 0 ? r : 1;
}

static int variant_bool(struct rc_gateway *g, sd_bus_message *m, const char *what, bool *ret) {
        int b, r = enter_variant(g, m, "b", what);

        if (r <= 0)
                return r;
        r = sd_bus_message_read(m, "b", &b);
        if (r < 0)
                return r;
        *ret = b;
        return sd_bus_message_exit_container(m) < 0 ? -EBADMSG : 1;
}

static int variant_string(struct rc_gateway *g, sd_bus_message *m, const char *what,
                          const char **ret) {
        int r = enter_variant(g, m, "s", what);

        if (r <= 0)
                return r;
        r = sd_bus_message_read(m, "s", ret);
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m) < 0 ? -EBADMSG : 1;
}

static int variant_bytes(struct rc_gateway *g, sd_bus_message *m, const char *what,
                         const void **ret, size_t *ret_len) {
        int r = enter_variant(g, m, "ay", what);

        if (r <= 0)
                return r;
        r = sd_bus_message_read_array(m, 'y', ret, ret_len);
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m) < 0 ? -EBADMSG : 1;
}

/* Enter a variant holding "as" and call fn(ctx, s) for each string. 0: another
 * type (skipped, counted); negative: a broken message. */
static int variant_strings(struct rc_gateway *g, sd_bus_message *m, const char *what,
                           void (*fn)(void *ctx, const char *s), void *ctx) {
        const char *s;
        int r = enter_variant(g, m, "as", what);

        if (r <= 0)
                return r;
        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "s");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(m, "s", &s)) > 0)
                fn(ctx, s);
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        return r < 0 ? r : (sd_bus_message_exit_container(m) < 0 ? -EBADMSG : 0);
}

/* Calls fn(g, ctx, key, m) for each entry of a dictionary at m whose entries have
 * the signature `entry` ("sv", "sa{sv}", "oa{sa{sv}}": a string or path key); fn
 * reads or skips the value. */
typedef int (*entry_fn)(struct rc_gateway *g, void *ctx, const char *key, sd_bus_message *m);

static int each_entry(struct rc_gateway *g, sd_bus_message *m, const char *entry, entry_fn fn,
                      void *ctx) {
        char array[24];
        int r;

        snprintf(array, sizeof(array), "{%s}", entry);
        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, array);
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, entry)) > 0) {
                const char *key;

                r = sd_bus_message_read_basic(m, entry[0], &key);
                if (r < 0)
                        return r;
                r = fn(g, ctx, key, m);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

static enum rc_device_kind kind_of_service(const char *uuid) {
        rc_uuid u;

        if (rc_uuid_parse(uuid, strlen(uuid), &u) < 0)
                return RC_KIND_UNKNOWN;
        if (rc_uuid_equal(&u, &RC_SERVICE_ROLLER))
                return RC_KIND_ROLLER;
        if (rc_uuid_equal(&u, &RC_SERVICE_BODY))
                return RC_KIND_BODY;
        if (rc_uuid_equal(&u, &RC_SERVICE_HR))
                return RC_KIND_HR;
        return RC_KIND_UNKNOWN;
}

/* A Device1 property update: the device, and what changed. */
struct device_change {
        struct gw_device *d;
        bool connected_changed, resolved_changed;
};

static void device_uuid(void *ctx, const char *uuid) {
        struct gw_device *d = ctx;
        enum rc_device_kind k = kind_of_service(uuid);

        if (k != RC_KIND_UNKNOWN) {
                d->ours = true;
                d->kind = k;
        }
}

static int device_prop(struct rc_gateway *g, void *ctx, const char *key, sd_bus_message *m) {
        struct device_change *ch = ctx;
        struct gw_device *d = ch->d;
        const char *s;
        bool b;
        int r;

        if (strcmp(key, "Address") == 0) {
                r = variant_string(g, m, "Device1.Address", &s);
                if (r > 0 && rc_addr_parse(s, strlen(s), &d->addr) == 0)
                        rc_addr_format(&d->addr, d->addr_str);
                else if (r > 0)
                        malformed(g, "Device1.Address", 0);
                return r < 0 ? r : 0;
        }
        if (strcmp(key, "Alias") == 0 || (strcmp(key, "Name") == 0 && !d->name[0])) {
                r = variant_string(g, m, "Device1.Alias", &s);
                if (r > 0) {
                        uint8_t tmp[RC_GATT_STRING_MAX + 1];
                        enum rc_decode_reason why;
                        size_t n = strlen(s);

                        /* a name is shown and logged: the same rules as a GATT string */
                        if (n <= RC_GATT_STRING_MAX &&
                            rc_decode_string((const uint8_t *)s, n, (char *)tmp, &why) == 0)
                                snprintf(d->name, sizeof(d->name), "%s", (char *)tmp);
                }
                return r < 0 ? r : 0;
        }
        if (strcmp(key, "Connected") == 0 || strcmp(key, "ServicesResolved") == 0 ||
            strcmp(key, "Trusted") == 0) {
                r = variant_bool(g, m, key, &b);
                if (r <= 0)
                        return r;
                if (key[0] == 'C') {
                        ch->connected_changed = d->connected != b;
                        d->connected = b;
                } else if (key[0] == 'S') {
                        ch->resolved_changed = d->resolved != b;
                        d->resolved = b;
                        if (b)
                                d->connected = true; /* resolved services need a link */
                } else {
                        d->trusted = b;
                }
                return 0;
        }
        if (strcmp(key, "UUIDs") == 0)
                return variant_strings(g, m, "Device1.UUIDs", device_uuid, d);
        return sd_bus_message_skip(m, "v");
}

static void char_flag(void *ctx, const char *flag) {
        struct gw_char *c = ctx;

        if (strcmp(flag, "read") == 0)
                c->can_read = true;
        else if (strcmp(flag, "notify") == 0 || strcmp(flag, "indicate") == 0)
                c->can_notify = true;
}

static int char_prop(struct rc_gateway *g, void *ctx, const char *key, sd_bus_message *m) {
        struct gw_char *c = ctx;
        const char *s;
        int r;

        if (strcmp(key, "UUID") == 0) {
                r = variant_string(g, m, "GattCharacteristic1.UUID", &s);
                if (r > 0 && rc_uuid_parse(s, strlen(s), &c->uuid) == 0)
                        c->kind = rc_gatt_char_from_uuid(&c->uuid);
                return r < 0 ? r : 0;
        }
        if (strcmp(key, "NotifyAcquired") == 0) {
                bool b;

                r = variant_bool(g, m, "GattCharacteristic1.NotifyAcquired", &b);
                if (r > 0)
                        c->acquirable = true; /* its presence says AcquireNotify works */
                return r < 0 ? r : 0;
        }
        if (strcmp(key, "Flags") == 0)
                return variant_strings(g, m, "GattCharacteristic1.Flags", char_flag, c);
        return sd_bus_message_skip(m, "v");
}

static void on_value(struct gw_char *c, const void *data, size_t len);

/* The Value of a characteristic's PropertiesChanged (ctx: the characteristic, NULL
 * when it is not one of the mirror's). */
static int char_value_prop(struct rc_gateway *g, void *ctx, const char *key, sd_bus_message *m) {
        struct gw_char *c = ctx;
        const void *v;
        size_t n;
        int r;

        if (!c || strcmp(key, "Value") != 0)
                return sd_bus_message_skip(m, "v");
        r = variant_bytes(g, m, "characteristic Value", &v, &n);
        if (r > 0)
                on_value(c, v, n);
        return r;
}

/* ---- the mirror -------------------------------------------------------------------- */

static void start_discovery(struct rc_gateway *g);

static void device_changed(struct rc_gateway *g, const struct device_change *ch) {
        struct gw_device *d = ch->d;

        if (d->state >= DEV_SETUP && !d->connected) {
                lost(d, "the link dropped");
                return;
        }
        if (d->state == DEV_RESOLVING && ch->connected_changed && !d->connected) {
                sd_bus_error e = SD_BUS_ERROR_MAKE_CONST("org.rollcoach.Error.Dropped",
                                                         "disconnected before services resolved");

                d->generation++;
                connect_failed(d, &e, "connect");
                return;
        }
        if (d->state == DEV_RESOLVING && d->connected && d->resolved) {
                resolved(d);
                return;
        }
        consider(g, d);
}

/* The characteristic of a GattCharacteristic1 object: its slot in the device's
 * table, set up when new. NULL if the device is not mirrored or the table is full. */
static struct gw_char *char_add(struct rc_gateway *g, const char *path) {
        struct gw_device *d = device_of(g, path);
        struct gw_char *c = NULL;

        for (unsigned i = 0; d && i < MAX_CHARS && !c; i++)
                if (!d->chars[i].used || strcmp(d->chars[i].path, path) == 0)
                        c = &d->chars[i];
        if (!c || strlen(path) >= sizeof(c->path))
                return NULL;
        if (!c->used) {
                memset(c, 0, sizeof(*c)); /* c->sub, if any, went with char_unsubscribe */
                c->dev = d;
                c->used = true;
                strcpy(c->path, path);
        }
        return c;
}

/* One interface of an object (ctx: its path), at m positioned on its a{sv}. */
static int interface_added(struct rc_gateway *g, void *ctx, const char *iface, sd_bus_message *m) {
        const char *path = ctx;
        int r;

        if (strcmp(iface, IF_ADAPTER) == 0) {
                if (!g->have_adapter && strlen(path) < sizeof(g->adapter)) {
                        strcpy(g->adapter, path);
                        g->have_adapter = true;
                }
        } else if (strcmp(iface, IF_DEVICE) == 0) {
                struct device_change ch = {.d = device_add(g, path)};

                if (!ch.d)
                        return sd_bus_message_skip(m, "a{sv}");
                ch.d->present = true;
                r = each_entry(g, m, "sv", device_prop, &ch);
                if (r >= 0 && !ch.d->addr_str[0]) {
                        malformed(g, "Device1 without an Address", 0);
                        ch.d->used = false;
                } else if (r >= 0 && !ch.d->ours) {
                        g->st.ignored_devices++;
                }
                return r;
        } else if (strcmp(iface, IF_CHAR) == 0) {
                struct gw_char *c = char_add(g, path);

                if (c)
                        return each_entry(g, m, "sv", char_prop, c);
        }
        return sd_bus_message_skip(m, "a{sv}");
}

/* An object and its interfaces, at m positioned on its a{sa{sv}}. */
static int object_added(struct rc_gateway *g, void *ctx, const char *path, sd_bus_message *m) {
        return each_entry(g, m, "sa{sv}", interface_added, (void *)path);
}

/* After objects changed: devices to consider, an adapter to discover with. */
static void settle(struct rc_gateway *g) {
        if (g->have_adapter && !g->discovery_asked)
                start_discovery(g);
        for (unsigned i = 0; i < RC_GATEWAY_MAX_DEVICES; i++) {
                struct device_change ch = {.d = &g->dev[i]};

                if (ch.d->used && ch.d->present)
                        device_changed(g, &ch);
        }
}

static int on_interfaces_added(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct rc_gateway *g = userdata;
        const char *path;
        int r;

        (void)ret_error;
        if (!g->bluez_up)
                return 0;
        r = sd_bus_message_read(m, "o", &path);
        if (r >= 0)
                r = object_added(g, NULL, path, m);
        if (r < 0)
                malformed(g, "InterfacesAdded", r);
        settle(g);
        return 0;
}

static int on_interfaces_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct rc_gateway *g = userdata;
        const char *path, *iface;
        int r;

        (void)ret_error;
        r = sd_bus_message_read(m, "o", &path);
        if (r >= 0)
                r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "s");
        while (r >= 0 && (r = sd_bus_message_read(m, "s", &iface)) > 0) {
                struct gw_device *d = device_of(g, path);

                if (!d)
                        continue;
                if (strcmp(iface, IF_DEVICE) == 0 && strcmp(d->path, path) == 0) {
                        device_gone(d, "BlueZ removed the device");
                } else if (strcmp(iface, IF_CHAR) == 0) {
                        struct gw_char *c = char_by_path(d, path);

                        if (c) {
                                char_unsubscribe(c);
                                c->used = false;
                        }
                } else if (strcmp(iface, IF_ADAPTER) == 0 && strcmp(path, g->adapter) == 0) {
                        g->have_adapter = false;
                        g->discovery_asked = false;
                }
        }
        if (r < 0)
                malformed(g, "InterfacesRemoved", r);
        return 0;
}

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct rc_gateway *g = userdata;
        const char *path = sd_bus_message_get_path(m), *iface;
        struct gw_device *d;
        int r;

        (void)ret_error;
        if (!path || !(d = device_of(g, path)))
                return 0;
        r = sd_bus_message_read(m, "s", &iface);
        if (r < 0) {
                malformed(g, "PropertiesChanged", r);
                return 0;
        }
        if (strcmp(iface, IF_DEVICE) == 0 && strcmp(path, d->path) == 0) {
                struct device_change ch = {.d = d};

                r = each_entry(g, m, "sv", device_prop, &ch);
                if (r < 0)
                        malformed(g, "Device1 PropertiesChanged", r);
                device_changed(g, &ch);
        } else if (strcmp(iface, IF_CHAR) == 0) {
                r = each_entry(g, m, "sv", char_value_prop, char_by_path(d, path));
                if (r < 0)
                        malformed(g, "characteristic PropertiesChanged", r);
        }
        return 0;
}

static int on_managed_objects(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct rc_gateway *g = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);
        int r;

        (void)ret_error;
        if (e) {
                rc_log_warning("bluez: GetManagedObjects failed: %s",
                               e->message ? e->message : e->name);
                return 0;
        }
        r = each_entry(g, m, "oa{sa{sv}}", object_added, NULL);
        if (r < 0)
                malformed(g, "GetManagedObjects reply", r);
        if (!g->have_adapter)
                rc_log_warning("bluez: no adapter yet; waiting for one");
        g->ready = true;
        settle(g);
        return 0;
}

static void bluez_up(struct rc_gateway *g) {
        int r;

        if (g->bluez_up)
                return;
        g->bluez_up = true;
        rc_log_notice("bluez: org.bluez is on the bus");
        r = sd_bus_call_method_async(g->bus, NULL, BLUEZ, "/", IF_OM, "GetManagedObjects",
                                     on_managed_objects, g, NULL);
        if (r < 0)
                rc_log_error("bluez: cannot ask for its objects: %s", strerror(-r));
}

static void bluez_down(struct rc_gateway *g) {
        if (!g->bluez_up)
                return;
        g->bluez_up = false;
        rc_log_warning("bluez: org.bluez left the bus (bluetoothd stopped?); waiting for it");
        for (unsigned i = 0; i < RC_GATEWAY_MAX_DEVICES; i++) {
                struct gw_device *d = &g->dev[i];

                if (!d->used)
                        continue;
                device_gone(d, "bluetoothd is gone");
                d->connected = d->resolved = d->selected = false;
                d->used = false;
        }
        g->have_adapter = g->discovery_asked = false;
}

static int on_name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct rc_gateway *g = userdata;
        const char *name, *old_owner, *new_owner;
        int r;

        (void)ret_error;
        r = sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner);
        if (r < 0) {
                malformed(g, "NameOwnerChanged", r);
                return 0;
        }
        if (strcmp(name, BLUEZ) != 0)
                return 0;
        if (old_owner[0])
                bluez_down(g);
        if (new_owner[0]) {
                if (old_owner[0] || g->ready)
                        g->st.bluez_restarts++;
                bluez_up(g);
        }
        return 0;
}

static int on_name_owner(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct rc_gateway *g = userdata;

        (void)ret_error;
        if (!sd_bus_message_is_method_error(m, NULL))
                bluez_up(g);
        else
                rc_log_warning("bluez: org.bluez is not on the bus yet (is bluetoothd running?); "
                               "waiting for it");
        return 0;
}

/* ---- discovery ----------------------------------------------------------------------- */

static int on_discovery_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        const sd_bus_error *e = sd_bus_message_get_error(m);

        (void)userdata;
        (void)ret_error;
        if (e && !is_error(e, "org.bluez.Error.InProgress")) /* InProgress: already on */
                rc_log_warning("bluez: discovery: %s", e->message ? e->message : e->name);
        return 0;
}

static void start_discovery(struct rc_gateway *g) {
        static const rc_uuid *const services[] = {&RC_SERVICE_ROLLER, &RC_SERVICE_BODY,
                                                  &RC_SERVICE_HR};
        sd_bus_message *m = NULL;
        int r;

        g->discovery_asked = true;
        r = sd_bus_message_new_method_call(g->bus, &m, BLUEZ, g->adapter, IF_ADAPTER,
                                           "SetDiscoveryFilter");
        if (r >= 0)
                r = sd_bus_message_open_container(m, SD_BUS_TYPE_ARRAY, "{sv}");
        if (r >= 0)
                r = sd_bus_message_append(m, "{sv}", "Transport", "s", "le");
        if (r >= 0)
                r = sd_bus_message_open_container(m, SD_BUS_TYPE_DICT_ENTRY, "sv");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", "UUIDs");
        if (r >= 0)
                r = sd_bus_message_open_container(m, SD_BUS_TYPE_VARIANT, "as");
        if (r >= 0)
                r = sd_bus_message_open_container(m, SD_BUS_TYPE_ARRAY, "s");
        for (unsigned i = 0; r >= 0 && i < 3; i++) {
                char s[RC_UUID_STRLEN];

                rc_uuid_format(services[i], s);
                r = sd_bus_message_append(m, "s", s);
        }
        for (int i = 0; r >= 0 && i < 4; i++)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_call_async(g->bus, NULL, m, on_discovery_reply, g, CALL_TIMEOUT_US);
        sd_bus_message_unref(m);
        if (r >= 0)
                r = sd_bus_call_method_async(g->bus, NULL, BLUEZ, g->adapter, IF_ADAPTER,
                                             "StartDiscovery", on_discovery_reply, g, NULL);
        if (r < 0)
                rc_log_error("bluez: cannot start discovery: %s", strerror(-r));
        else
                rc_log_info("bluez: discovering rollers, body clips and heart-rate straps on %s",
                            g->adapter);
}

/* ---- setup: reads and subscriptions ------------------------------------------------- */

struct call_ctx {
        struct gw_char *c;
        uint64_t generation;
};

static struct call_ctx *call_ctx(struct gw_char *c) {
        struct call_ctx *x = malloc(sizeof(*x));

        if (x) {
                x->c = c;
                x->generation = c->dev->generation;
        }
        return x;
}

/* Is the reply for this char still wanted? (The context is freed with the call's
 * slot, also if the bus closes with the call pending.) */
static struct gw_char *take(struct call_ctx *x) {
        struct gw_char *c = x->c;

        return c->used && c->dev->generation == x->generation ? c : NULL;
}

/* Call a BlueZ method (arguments: `types` and the rest, as for
 * sd_bus_message_append; none if NULL) with `x` for the reply, which takes x: it
 * is freed when the call's slot goes (after the reply, or when the bus closes), or
 * here if the call cannot be made. x NULL (out of memory) is -ENOMEM. */
static int call_owned(struct rc_gateway *g, struct call_ctx *x, const char *path, const char *iface,
                      const char *method, sd_bus_message_handler_t cb, const char *types, ...) {
        sd_bus_message *m = NULL;
        sd_bus_slot *slot = NULL;
        va_list ap;
        int r = x ? sd_bus_message_new_method_call(g->bus, &m, BLUEZ, path, iface, method)
                  : -ENOMEM;

        if (r >= 0 && types) {
                va_start(ap, types);
                r = sd_bus_message_appendv(m, types, ap);
                va_end(ap);
        }
        if (r >= 0)
                r = sd_bus_call_async(g->bus, &slot, m, cb, x, CALL_TIMEOUT_US);
        sd_bus_message_unref(m);
        if (r < 0) {
                free(x);
                return r;
        }
        sd_bus_slot_set_destroy_callback(slot, free);
        sd_bus_slot_set_floating(slot, 1);
        sd_bus_slot_unref(slot);
        return 0;
}

static void subscribe_all(struct gw_device *d);

static void setup_step_done(struct gw_device *d, bool reads) {
        if (d->pending > 0 && --d->pending > 0)
                return;
        if (reads) {
                subscribe_all(d);
        } else if (d->state == DEV_SETUP) {
                d->state = DEV_STREAMING;
                rc_log_info("%s: streaming (%s)", d->addr_str,
                            d->use_startnotify || d->g->o.no_acquire ? "StartNotify"
                                                                     : "AcquireNotify");
        }
}

static int on_read_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct gw_char *c = take(userdata);
        const sd_bus_error *e = sd_bus_message_get_error(m);
        const void *v;
        size_t n;
        int r;

        (void)ret_error;
        if (!c)
                return 0;
        if (e) {
                rc_log_warning("%s: reading %s failed: %s", c->dev->addr_str,
                               rc_gatt_char_name(c->kind), e->message ? e->message : e->name);
        } else {
                r = sd_bus_message_read_array(m, 'y', &v, &n);
                if (r < 0)
                        malformed(c->dev->g, "ReadValue reply", r);
                else
                        emit(c->dev, RC_WHAT_VALUE, c->kind, v, n);
        }
        setup_step_done(c->dev, true);
        return 0;
}

static bool wanted_read(enum rc_char k) {
        return k == RC_CHAR_ROLLER_INFO || k == RC_CHAR_BODY_PLACEMENT ||
               k == RC_CHAR_BATTERY_LEVEL || k == RC_CHAR_MANUFACTURER ||
               k == RC_CHAR_MODEL_NUMBER || k == RC_CHAR_FIRMWARE_REV;
}

static bool wanted_notify(enum rc_char k) {
        return k == RC_CHAR_ROLLER_IMU || k == RC_CHAR_ROLLER_BUTTON || k == RC_CHAR_BODY_IMU ||
               k == RC_CHAR_HR_MEASUREMENT || k == RC_CHAR_BATTERY_LEVEL;
}

/* A GattCharacteristic1 method, with an empty options dictionary if `options`. */
static int call_char(struct gw_char *c, const char *method, sd_bus_message_handler_t cb,
                     bool options) {
        return call_owned(c->dev->g, call_ctx(c), c->path, IF_CHAR, method, cb,
                          options ? "a{sv}" : NULL, 0);
}

/* The order of the reads: what identifies the device (Roller Info, Placement),
 * then its battery, then the rest (Device Information). */
static int read_rank(enum rc_char k) {
        switch (k) {
        case RC_CHAR_ROLLER_INFO:
        case RC_CHAR_BODY_PLACEMENT:
                return 0;
        case RC_CHAR_BATTERY_LEVEL:
                return 1;
        default:
                return 2;
        }
}

static void setup_device(struct gw_device *d) {
        struct rc_gateway *g = d->g;

        if (!d->trusted)
                sd_bus_call_method_async(g->bus, NULL, BLUEZ, d->path, IF_PROPS, "Set", NULL, NULL,
                                         "ssv", IF_DEVICE, "Trusted", "b", 1);
        d->pending = 1; /* held until every read is sent */
        for (int rank = 0; rank <= 2; rank++)
                for (unsigned i = 0; i < MAX_CHARS; i++) {
                        struct gw_char *c = &d->chars[i];

                        if (c->used && c->can_read && wanted_read(c->kind) &&
                            read_rank(c->kind) == rank &&
                            call_char(c, "ReadValue", on_read_reply, true) >= 0)
                                d->pending++;
                }
        setup_step_done(d, true);
}

static void on_fd(uv_poll_t *h, int status, int events);

static void start_notify(struct gw_char *c);

static int on_start_notify_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct gw_char *c = take(userdata);
        const sd_bus_error *e = sd_bus_message_get_error(m);

        (void)ret_error;
        if (!c)
                return 0;
        /* NotPermitted: an acquisition is still held (one we could not use, being
         * released as BlueZ notices its socket closed); ask again */
        if (is_error(e, "org.bluez.Error.NotPermitted") && c->retries++ < 20) {
                start_notify(c);
                return 0;
        }
        /* InProgress: BlueZ is already (re-)enabling it, as it does after a reconnect */
        if (e && !is_error(e, "org.bluez.Error.InProgress"))
                rc_log_warning("%s: StartNotify on %s failed: %s", c->dev->addr_str,
                               rc_gatt_char_name(c->kind), e->message ? e->message : e->name);
        else
                c->started = true;
        setup_step_done(c->dev, false);
        return 0;
}

static void start_notify(struct gw_char *c) {
        if (call_char(c, "StartNotify", on_start_notify_reply, false) < 0)
                setup_step_done(c->dev, false);
}

static int on_acquire_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct gw_char *c = take(userdata);
        const sd_bus_error *e = sd_bus_message_get_error(m);
        struct gw_device *d;
        struct gw_sub *sub = NULL;
        uint16_t mtu;
        int fd = -1, r;

        (void)ret_error;
        if (!c)
                return 0;
        d = c->dev;
        if (!e) {
                r = sd_bus_message_read(m, "h", &fd);
                if (r < 0) {
                        malformed(d->g, "AcquireNotify reply (no fd)", r);
                        fd = -1;
                } else {
                        /* the fd belongs to the message: keep a duplicate. The MTU is
                         * not needed (a read takes a whole packet), so a mistyped one
                         * is counted, not fatal. */
                        fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
                        if (sd_bus_message_read(m, "q", &mtu) < 0)
                                malformed(d->g, "AcquireNotify reply (MTU)", 0);
                }
        }
        if (fd >= 0 && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) >= 0)
                sub = malloc(sizeof(*sub));
        if (!sub || uv_poll_init(d->g->o.loop, &sub->poll, fd) < 0) {
                free(sub);
                if (fd >= 0)
                        close(fd);
                if (!d->use_startnotify) {
                        d->use_startnotify = true;
                        d->g->st.fallbacks++;
                        rc_log_info("%s: AcquireNotify %s; using StartNotify", d->addr_str,
                                    e ? (e->message ? e->message : e->name) : "unusable");
                }
                start_notify(c);
                return 0;
        }
        char_unsubscribe(c); /* an earlier socket, if any (not expected) */
        sub->fd = fd;
        sub->c = c;
        sub->poll.data = sub;
        c->sub = sub;
        uv_poll_start(&sub->poll, UV_READABLE | UV_DISCONNECT, on_fd);
        setup_step_done(d, false);
        return 0;
}

static void resubscribe(struct gw_device *d) {
        if (d->state == DEV_STREAMING)
                d->state = DEV_SETUP;
        subscribe_all(d);
}

static void subscribe_all(struct gw_device *d) {
        struct rc_gateway *g = d->g;

        d->pending = 1;
        for (unsigned i = 0; i < MAX_CHARS; i++) {
                struct gw_char *c = &d->chars[i];

                if (!c->used || !c->can_notify || !wanted_notify(c->kind) || c->sub || c->started)
                        continue;
                c->retries = 0;
                d->pending++;
                if (!g->o.no_acquire && !d->use_startnotify && c->acquirable) {
                        if (call_char(c, "AcquireNotify", on_acquire_reply, true) < 0)
                                start_notify(c);
                } else {
                        start_notify(c);
                }
        }
        setup_step_done(d, false);
}

/* ---- notifications in ---------------------------------------------------------------- */

/* A notification of c, read from its fd or a PropertiesChanged (counted in *via). */
static void notified(struct gw_char *c, const void *data, size_t len, uint64_t *via) {
        if (len > RC_TRACE_MAX_PAYLOAD) {
                malformed(c->dev->g, "notification longer than 512 bytes", 0);
                return;
        }
        (*via)++;
        emit(c->dev, RC_WHAT_VALUE, c->kind, data, len);
}

static void on_value(struct gw_char *c, const void *data, size_t len) {
        /* a read's own Value change, or one before subscribing, is not a notification */
        if (c->started && announced(c->dev))
                notified(c, data, len, &c->dev->g->st.via_signal);
}

static int on_connected_check(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct call_ctx *x = userdata;
        struct gw_device *d = x->c->dev;
        int connected = 0, r = -EBADMSG;

        (void)ret_error;
        if (d->generation != x->generation)
                return 0;
        d->checking = false;
        if (!sd_bus_message_is_method_error(m, NULL))
                r = sd_bus_message_read(m, "v", "b", &connected);
        if (r >= 0 && connected && !d->g->stopping)
                resubscribe(d); /* only the socket was closed: acquire again */
        else
                lost(d, "the link dropped");
        return 0;
}

/* A notification socket hung up. BlueZ closes them when the link drops (and says
 * Connected=false, maybe later) but also when it renegotiates the MTU: ask it. */
static void hung_up(struct gw_char *c) {
        struct gw_device *d = c->dev;

        char_unsubscribe(c);
        if (d->checking)
                return;
        if (call_owned(d->g, call_ctx(c), d->path, IF_PROPS, "Get", on_connected_check, "ss",
                       IF_DEVICE, "Connected") < 0) {
                lost(d, "the notification socket hung up");
                return;
        }
        d->checking = true;
}

static void on_fd(uv_poll_t *h, int status, int events) {
        struct gw_sub *sub = h->data;
        struct gw_char *c = sub->c;
        uint8_t buf[RC_TRACE_MAX_PAYLOAD + 1];

        /* sub->c: still subscribed (what a notification sets off may end it) */
        for (unsigned i = 0; sub->c && status >= 0 && (events & UV_READABLE) && i < READ_BATCH;
             i++) {
                /* one packet per read (SOCK_SEQPACKET); MSG_TRUNC gives its real size */
                ssize_t n = recv(sub->fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);

                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
                        return;
                if (n <= 0) {
                        hung_up(c);
                        return;
                }
                notified(c, buf, (size_t)n, &c->dev->g->st.via_fd);
        }
        if (sub->c && (status < 0 || (events & UV_DISCONNECT)))
                hung_up(c);
}

/* ---- start and stop ------------------------------------------------------------------- */

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
                                      on_name_owner_changed, NULL, g);
        if (r >= 0)
                r = sd_bus_match_signal_async(g->bus, NULL, BLUEZ, NULL, IF_OM, "InterfacesAdded",
                                              on_interfaces_added, NULL, g);
        if (r >= 0)
                r = sd_bus_match_signal_async(g->bus, NULL, BLUEZ, NULL, IF_OM, "InterfacesRemoved",
                                              on_interfaces_removed, NULL, g);
        if (r >= 0)
                r = sd_bus_match_signal_async(g->bus, NULL, BLUEZ, NULL, IF_PROPS,
                                              "PropertiesChanged", on_properties_changed, NULL, g);
        if (r >= 0)
                r = sd_bus_match_signal_async(g->bus, NULL, NULL, "/org/freedesktop/DBus/Local",
                                              "org.freedesktop.DBus.Local", "Disconnected",
                                              on_disconnected, NULL, g);
        if (r >= 0)
                r = sd_bus_call_method_async(g->bus, NULL, "org.freedesktop.DBus",
                                             "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                             "GetNameOwner", on_name_owner, g, "s", BLUEZ);
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
                        lost(d, "the hub is stopping");
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
