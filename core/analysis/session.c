#include "analysis/session.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "util/log.h"

static const char *const direction_names[] = {
        [RC_TRACK_FIRST_MOVE] = "first_move",
        [RC_TRACK_CRANIAL] = "cranial",
        [RC_TRACK_CAUDAL] = "caudal",
};

int rc_track_direction_from_name(const char *name, enum rc_track_direction *ret) {
        if (strcmp(name, "cranial") == 0)
                *ret = RC_TRACK_CRANIAL;
        else if (strcmp(name, "caudal") == 0)
                *ret = RC_TRACK_CAUDAL;
        else
                return -EINVAL;
        return 0;
}

const char *rc_track_direction_name(enum rc_track_direction d) {
        return (unsigned)d <= RC_TRACK_CAUDAL ? direction_names[d] : "unknown";
}

void rc_session_init(struct rc_session *s) {
        memset(s, 0, sizeof(*s));
}

int rc_session_subscribe(struct rc_session *s, rc_event_fn fn, void *userdata) {
        return rc_event_bus_subscribe(&s->bus, fn, userdata);
}

static void emit(struct rc_session *s, struct rc_event *ev) {
        rc_event_bus_emit(&s->bus, ev);
}

static int copy_name(char dst[RC_SESSION_NAME_MAX + 1], const char *src) {
        size_t n = src ? strlen(src) : 0;

        if (n > RC_SESSION_NAME_MAX)
                return -EINVAL;
        memcpy(dst, src ? src : "", n);
        dst[n] = '\0';
        return 0;
}

int rc_session_begin(struct rc_session *s, int64_t t_ms, const char *routine, const char *step) {
        struct rc_event ev = {.type = RC_EV_SESSION_START, .t_ms = t_ms};

        if (s->begun)
                return -EALREADY;
        if (copy_name(s->routine, routine) < 0 || copy_name(s->step, step) < 0)
                return -EINVAL;
        s->begun = true;
        s->start_ms = s->now_ms = t_ms;
        ev.session_start.routine = s->routine[0] ? s->routine : NULL;
        ev.session_start.step = s->step[0] ? s->step : NULL;
        emit(s, &ev);
        return 0;
}

/* Analysis modules emit through here: the device's address goes on. */
static void device_emit(struct rc_event *ev, void *userdata) {
        struct rc_device *d = userdata;

        ev->device = d->addr_str;
        emit(d->session, ev);
}

static void announce(struct rc_device *d, bool connected) {
        struct rc_event ev = {.type = RC_EV_DEVICE, .t_ms = d->session->now_ms};

        ev.dev.kind = d->kind;
        ev.dev.connected = connected;
        ev.dev.name = d->name[0] ? d->name : d->addr_str;
        d->announced = connected;
        device_emit(&ev, d);
}

static struct rc_device *find_device(struct rc_session *s, const rc_addr *a) {
        for (unsigned i = 0; i < s->n_dev; i++)
                if (rc_addr_equal(&s->dev[i].addr, a))
                        return &s->dev[i];
        return NULL;
}

struct rc_device *rc_session_device(struct rc_session *s, const char *addr) {
        rc_addr a;

        if (!addr || rc_addr_parse(addr, strlen(addr), &a) < 0)
                return NULL;
        return find_device(s, &a);
}

static struct rc_device *add_device(struct rc_session *s, const rc_addr *a) {
        struct rc_device *d;

        if (s->n_dev >= RC_SESSION_MAX_DEVICES)
                return NULL;
        d = &s->dev[s->n_dev++];
        memset(d, 0, sizeof(*d));
        d->addr = *a;
        rc_addr_format(a, d->addr_str);
        d->battery = -1;
        d->info = RC_ROLLER_INFO_DEFAULT;
        d->placement = RC_PLACEMENT_SACRUM;
        d->session = s;
        return d;
}

static enum rc_device_kind kind_of(enum rc_char c) {
        switch (c) {
        case RC_CHAR_ROLLER_IMU:
        case RC_CHAR_ROLLER_BUTTON:
        case RC_CHAR_ROLLER_INFO:
                return RC_KIND_ROLLER;
        case RC_CHAR_BODY_IMU:
        case RC_CHAR_BODY_PLACEMENT:
                return RC_KIND_BODY;
        case RC_CHAR_HR_MEASUREMENT:
                return RC_KIND_HR;
        default:
                return RC_KIND_UNKNOWN;
        }
}

/* The device sent a characteristic of `kind`: the first time, start its analysis
 * and announce it. Roller Info and Placement are applied by their own cases: they
 * differ from the analysis' defaults only once they have been read, and reading
 * them classifies the device. */
static void classify(struct rc_device *d, enum rc_device_kind kind) {
        if (d->kind != RC_KIND_UNKNOWN)
                return;
        d->kind = kind;
        switch (kind) {
        case RC_KIND_ROLLER:
                rc_roller_init(&d->a.roller, device_emit, d);
                break;
        case RC_KIND_BODY:
                rc_body_init(&d->a.body, device_emit, d);
                break;
        case RC_KIND_HR:
                rc_hr_init(&d->a.hr);
                break;
        default:
                break;
        }
        if (d->connected && !d->announced)
                announce(d, true);
}

static void log_reject(struct rc_device *d, const struct rc_notification *n, enum rc_char c,
                       enum rc_decode_reason why) {
        uint64_t count = d->stats.rejected[why];
        char uuid[RC_UUID_STRLEN];

        if (count > RC_SESSION_LOG_REJECTS)
                return;
        rc_uuid_format_short(&n->uuid, uuid);
        rc_log_warning("%s: %s (%s) packet of %zu bytes at %.3f s%s%.0llu rejected: %s%s",
                       d->addr_str, c ? rc_gatt_char_name(c) : "unknown characteristic", uuid,
                       n->len, (double)n->t_us / 1e6, n->line ? ", trace line " : "",
                       (unsigned long long)n->line, rc_decode_reason_name(why),
                       count == RC_SESSION_LOG_REJECTS ? " (further ones only counted)" : "");
}

static void end_session(struct rc_session *s, const char *reason);

static void disconnect(struct rc_device *d) {
        int64_t t_us = d->session->now_ms * 1000;

        if (d->kind == RC_KIND_ROLLER)
                rc_roller_disconnect(&d->a.roller, t_us);
        else if (d->kind == RC_KIND_BODY)
                rc_body_disconnect(&d->a.body, t_us);
        if (d->announced)
                announce(d, false);
        d->connected = false;
        d->stats.disconnects++;
}

/* A value from a device: decode by characteristic and dispatch. */
static int feed_value(struct rc_session *s, struct rc_device *d, const struct rc_notification *n) {
        enum rc_char c = rc_gatt_char_from_uuid(&n->uuid);
        enum rc_device_kind k = kind_of(c);
        enum rc_decode_reason why = RC_DECODE_UNKNOWN;
        struct rc_event ev = {.t_ms = s->now_ms};
        int r = -EBADMSG;

        d->stats.values++;
        if (k != RC_KIND_UNKNOWN && d->kind != RC_KIND_UNKNOWN && k != d->kind) {
                if (d->stats.unexpected++ < RC_SESSION_LOG_REJECTS)
                        rc_log_warning("%s: a %s sent %s; ignored", d->addr_str,
                                       rc_device_kind_name(d->kind), rc_gatt_char_name(c));
                return -EBADMSG;
        }

        switch (c) {
        case RC_CHAR_ROLLER_IMU:
        case RC_CHAR_BODY_IMU: {
                struct rc_imu_batch b;

                r = rc_decode_imu(n->data, n->len, c == RC_CHAR_BODY_IMU, &b, &why);
                if (r < 0)
                        break;
                classify(d, k);
                if (k == RC_KIND_ROLLER)
                        rc_roller_feed(&d->a.roller, (int64_t)n->t_us, &b);
                else
                        rc_body_feed(&d->a.body, (int64_t)n->t_us, &b);
                return 0;
        }
        case RC_CHAR_ROLLER_BUTTON: {
                struct rc_button b;

                r = rc_decode_button(n->data, n->len, &b, &why);
                if (r < 0)
                        break;
                classify(d, k);
                ev.type = RC_EV_BUTTON;
                ev.button.press = b.press;
                device_emit(&ev, d);
                if (b.press == RC_PRESS_LONG)
                        end_session(s, "long_press");
                return 0;
        }
        case RC_CHAR_ROLLER_INFO:
                r = rc_decode_roller_info(n->data, n->len, &d->info, &why);
                if (r < 0)
                        break;
                classify(d, k);
                rc_roller_set_info(&d->a.roller, &d->info);
                return 0;
        case RC_CHAR_BODY_PLACEMENT:
                r = rc_decode_placement(n->data, n->len, &d->placement, &why);
                if (r < 0)
                        break;
                classify(d, k);
                rc_body_set_placement(&d->a.body, d->placement);
                return 0;
        case RC_CHAR_HR_MEASUREMENT: {
                struct rc_hr_measurement m;

                r = rc_decode_hr_measurement(n->data, n->len, &m, &why);
                if (r < 0)
                        break;
                classify(d, k);
                if (rc_hr_feed(&d->a.hr, s->now_ms, &m, &ev))
                        device_emit(&ev, d);
                return 0;
        }
        case RC_CHAR_BATTERY_LEVEL: {
                uint8_t percent;

                r = rc_decode_battery(n->data, n->len, &percent, &why);
                if (r < 0)
                        break;
                if (percent != d->battery) {
                        d->battery = percent;
                        ev.type = RC_EV_BATTERY;
                        ev.battery.percent = percent;
                        device_emit(&ev, d);
                }
                return 0;
        }
        case RC_CHAR_DEVICE_NAME:
                r = rc_decode_string(n->data, n->len, d->name, &why);
                if (r < 0)
                        break;
                return 0;
        case RC_CHAR_MANUFACTURER:
        case RC_CHAR_MODEL_NUMBER:
        case RC_CHAR_FIRMWARE_REV: {
                char text[RC_GATT_STRING_MAX + 1];

                r = rc_decode_string(n->data, n->len, text, &why);
                if (r < 0)
                        break;
                rc_log_info("%s: %s: %s", d->addr_str, rc_gatt_char_name(c), text);
                return 0;
        }
        default:
                break;
        }
        d->stats.rejected[why]++;
        if (why != RC_DECODE_UNKNOWN)
                log_reject(d, n, c, why);
        return -EBADMSG;
}

int rc_session_feed(struct rc_session *s, const struct rc_notification *n) {
        struct rc_device *d;

        if (s->ended)
                return -ESHUTDOWN;
        if (!s->begun)
                rc_session_begin(s, (int64_t)(n->t_us / 1000), NULL, NULL);
        s->now_ms = (int64_t)(n->t_us / 1000);
        s->notifications++;

        d = find_device(s, &n->addr);
        if (!d && !(d = add_device(s, &n->addr))) {
                if (s->refused_devices++ == 0) {
                        char a[RC_ADDR_STRLEN];

                        rc_addr_format(&n->addr, a);
                        rc_log_warning("%s: refused: the hub follows at most %d devices", a,
                                       RC_SESSION_MAX_DEVICES);
                }
                return -ENOSPC;
        }

        switch (n->what) {
        case RC_WHAT_CONNECT:
                if (!d->connected) {
                        d->connected = true;
                        d->stats.connects++;
                        if (d->kind != RC_KIND_UNKNOWN)
                                announce(d, true);
                }
                return 0;
        case RC_WHAT_DISCONNECT:
                if (d->connected)
                        disconnect(d);
                return 0;
        case RC_WHAT_VALUE:
        default:
                if (!d->connected) {
                        /* a value proves the link is up (a trace cut mid-session) */
                        d->connected = true;
                        d->stats.connects++;
                }
                return feed_value(s, d, n);
        }
}

int rc_session_track(struct rc_session *s, const char *device, enum rc_track_direction dir) {
        int found = 0;

        for (unsigned i = 0; i < s->n_dev; i++) {
                struct rc_device *d = &s->dev[i];

                if (d->kind != RC_KIND_ROLLER || (device && strcasecmp(device, d->addr_str) != 0))
                        continue;
                d->direction = dir;
                rc_roller_track(&d->a.roller);
                found++;
        }
        return found ? 0 : -ENOENT;
}

static void end_session(struct rc_session *s, const char *reason) {
        struct rc_event ev = {.type = RC_EV_SESSION_END, .t_ms = s->now_ms};

        if (s->ended)
                return;
        s->ended = true;
        s->end_reason = reason;
        ev.session_end.reason = reason;
        ev.session_end.duration_s = (double)(s->now_ms - s->start_ms) / 1000.0;
        ev.session_end.mean_hr = NAN;
        ev.session_end.rmssd_ms = NAN;
        for (unsigned i = 0; i < s->n_dev; i++) {
                double hr, rmssd;

                if (s->dev[i].kind != RC_KIND_HR)
                        continue;
                rc_hr_session(&s->dev[i].a.hr, &hr, &rmssd);
                if (isnan(hr))
                        continue;
                ev.session_end.mean_hr = hr;
                ev.session_end.rmssd_ms = rmssd;
                break;
        }
        emit(s, &ev);
}

void rc_session_press(struct rc_session *s, int64_t t_ms, enum rc_press press) {
        struct rc_event ev = {.type = RC_EV_BUTTON, .t_ms = t_ms};

        if (s->ended)
                return;
        if (!s->begun)
                rc_session_begin(s, t_ms, NULL, NULL);
        if (t_ms > s->now_ms)
                s->now_ms = t_ms;
        ev.t_ms = s->now_ms;
        ev.button.press = press;
        emit(s, &ev);
        if (press == RC_PRESS_LONG)
                end_session(s, "long_press");
}

void rc_session_end(struct rc_session *s, int64_t t_ms, const char *reason) {
        if (s->ended)
                return;
        if (!s->begun)
                rc_session_begin(s, t_ms, NULL, NULL);
        if (t_ms > s->now_ms)
                s->now_ms = t_ms;
        end_session(s, reason);
}

static uint64_t device_lost(const struct rc_device *d, uint64_t *ret_packets) {
        const struct rc__imu_link *l = d->kind == RC_KIND_ROLLER ? &d->a.roller.link
                                       : d->kind == RC_KIND_BODY ? &d->a.body.link
                                                                 : NULL;

        *ret_packets = l ? l->packets : 0;
        return l ? l->lost : 0;
}

void rc_session_report(const struct rc_session *s, FILE *f) {
        fprintf(f, "session: %.1f s, %llu notifications, %u devices%s%s\n",
                (double)(s->now_ms - s->start_ms) / 1000.0, (unsigned long long)s->notifications,
                s->n_dev, s->end_reason ? ", ended: " : "", s->end_reason ? s->end_reason : "");
        for (unsigned i = 0; i < s->n_dev; i++) {
                const struct rc_device *d = &s->dev[i];
                uint64_t packets, lost = device_lost(d, &packets);

                fprintf(f, "  %s %-7s %llu values", d->addr_str, rc_device_kind_name(d->kind),
                        (unsigned long long)d->stats.values);
                if (packets)
                        fprintf(f, ", %llu IMU packets, %llu lost (%.2f %%)",
                                (unsigned long long)packets, (unsigned long long)lost,
                                100.0 * (double)lost / (double)(packets + lost));
                for (int r = 1; r < RC_DECODE__COUNT; r++)
                        if (d->stats.rejected[r])
                                fprintf(f, ", %llu rejected (%s)",
                                        (unsigned long long)d->stats.rejected[r],
                                        rc_decode_reason_name(r));
                if (d->stats.unexpected)
                        fprintf(f, ", %llu unexpected", (unsigned long long)d->stats.unexpected);
                fputc('\n', f);
        }
        if (s->refused_devices)
                fprintf(f, "  %llu notifications from devices beyond the table of %d\n",
                        (unsigned long long)s->refused_devices, RC_SESSION_MAX_DEVICES);
        fprintf(f, "events:");
        for (int t = 0; t < RC_EV__COUNT; t++)
                if (s->bus.emitted[t])
                        fprintf(f, " %s %llu", rc_event_name(t),
                                (unsigned long long)s->bus.emitted[t]);
        fputc('\n', f);
}
