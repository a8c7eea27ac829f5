/* rollcoach — GATT set-up of a connected device: reads, subscriptions
 * (AcquireNotify's socket or StartNotify), notifications in, events out. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway/gateway_internal.h"
#include "util/log.h"

/* ---- notifications to the session --------------------------------------------------- */

void gw_emit(struct gw_device *d, enum rc_what what, enum rc_char c, const uint8_t *data,
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

static void on_sub_closed(uv_handle_t *h) {
        struct gw_sub *sub = h->data;

        close(sub->fd);
        free(sub);
}

void gw_char_unsubscribe(struct gw_char *c) {
        if (c->sub) {
                c->sub->c = NULL;
                uv_close((uv_handle_t *)&c->sub->poll, on_sub_closed);
                c->sub = NULL;
        }
        c->started = false;
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
                        gw_malformed(c->dev->g, "ReadValue reply", r);
                else
                        gw_emit(c->dev, RC_WHAT_VALUE, c->kind, v, n);
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

void gw_setup_device(struct gw_device *d) {
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
        if (gw_is_error(e, "org.bluez.Error.NotPermitted") && c->retries++ < 20) {
                start_notify(c);
                return 0;
        }
        /* InProgress: BlueZ is already (re-)enabling it, as it does after a reconnect */
        if (e && !gw_is_error(e, "org.bluez.Error.InProgress"))
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
                        gw_malformed(d->g, "AcquireNotify reply (no fd)", r);
                        fd = -1;
                } else {
                        /* the fd belongs to the message: keep a duplicate. The MTU is
                         * not needed (a read takes a whole packet), so a mistyped one
                         * is counted, not fatal. */
                        fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
                        if (sd_bus_message_read(m, "q", &mtu) < 0)
                                gw_malformed(d->g, "AcquireNotify reply (MTU)", 0);
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
        gw_char_unsubscribe(c); /* an earlier socket, if any (not expected) */
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
                gw_malformed(c->dev->g, "notification longer than 512 bytes", 0);
                return;
        }
        (*via)++;
        gw_emit(c->dev, RC_WHAT_VALUE, c->kind, data, len);
}

void gw_on_value(struct gw_char *c, const void *data, size_t len) {
        /* a read's own Value change, or one before subscribing, is not a notification */
        if (c->started && gw_announced(c->dev))
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
                gw_lost(d, "the link dropped");
        return 0;
}

/* A notification socket hung up. BlueZ closes them when the link drops (and says
 * Connected=false, maybe later) but also when it renegotiates the MTU: ask it. */
static void hung_up(struct gw_char *c) {
        struct gw_device *d = c->dev;

        gw_char_unsubscribe(c);
        if (d->checking)
                return;
        if (call_owned(d->g, call_ctx(c), d->path, IF_PROPS, "Get", on_connected_check, "ss",
                       IF_DEVICE, "Connected") < 0) {
                gw_lost(d, "the notification socket hung up");
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
